"""`Idempotency-Key` on unsafe requests: a repeat replays the first answer and does nothing.

The first answer to a key is stored (`idempotency_keys`) with a fingerprint of the request
(SHA-256 of method, path and body); the same key with the same request gets that answer again,
the same key with another request is refused. A key is reserved before the work runs, so two
concurrent repeats never both act; a request that fails frees its key for a retry. A key is kept
for `KEPT` (a day, as Stripe's): after that the same key is a new request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from tagport.context import Context
from tagport.errors import Conflict, InvalidInput
from tagport.store import tables as t

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Send the same key to repeat a request safely: the first answer is replayed.",
    ),
]
PENDING = 0
"""Status of a key whose first request is still running."""
KEPT = timedelta(hours=24)
"""How long an answer is kept for replay; older keys go as their caller sends new ones."""


def fingerprint(method: str, path: str, body: BaseModel | None) -> str:
    payload = body.model_dump_json() if body is not None else ""
    return hashlib.sha256(f"{method}\n{path}\n{payload}".encode()).hexdigest()


def once(
    caller: Context,
    key: str | None,
    request: tuple[str, str, BaseModel | None],
    status: int,
    act: Callable[[], BaseModel],
) -> Any:
    """Run `act` (answering `status`) once per `key` of the caller; without a key, always.
    `request` is (method, path, body) as fingerprinted. Returns the model or a replay."""
    if key is None:
        return act()
    digest = fingerprint(*request)
    stored = _reserve(caller, key, digest)
    if stored is not None:
        return JSONResponse(stored.body, status_code=stored.status)
    try:
        answer = act()
    except BaseException:
        _release(caller, key)
        raise
    _record(caller, key, status, jsonable_encoder(answer))
    return JSONResponse(jsonable_encoder(answer), status_code=status)


def _reserve(caller: Context, key: str, digest: str) -> t.IdempotencyKey | None:
    """Reserve `key` for this request, or the earlier answer to replay."""
    actor = caller.actor
    with caller.db.uow() as uow:
        uow.session.execute(
            delete(t.IdempotencyKey).where(
                t.IdempotencyKey.user_id == actor.id,
                t.IdempotencyKey.created_at < t.utcnow() - KEPT,
                t.IdempotencyKey.status != PENDING,
            )
        )
        uow.session.add(
            t.IdempotencyKey(user_id=actor.id, key=key, fingerprint=digest, status=PENDING)
        )
        try:
            uow.session.flush()
        except IntegrityError:  # the key is taken: replay, refuse, or wait
            uow.rollback()
        else:
            uow.commit()
            return None
    with caller.db.uow() as uow:
        stored = uow.session.scalar(
            select(t.IdempotencyKey).where(
                t.IdempotencyKey.user_id == actor.id, t.IdempotencyKey.key == key
            )
        )
        if stored is None:  # released meanwhile: the first request failed; try again
            return _reserve(caller, key, digest)
        if stored.fingerprint != digest:
            refused = InvalidInput.one("", "Idempotency-Key", "was used for another request")
            raise refused.with_code("idempotency.key_reused")
        if stored.status == PENDING:
            raise Conflict(
                "a request with this Idempotency-Key is still running; repeat it later"
            ).with_code("idempotency.in_progress")
        uow.session.expunge(stored)
        return stored


def _record(caller: Context, key: str, status: int, body: Any) -> None:
    with caller.db.uow() as uow:
        stored = uow.session.scalars(
            select(t.IdempotencyKey).where(
                t.IdempotencyKey.user_id == caller.actor.id, t.IdempotencyKey.key == key
            )
        ).one()
        stored.status, stored.body = status, body
        uow.commit()


def _release(caller: Context, key: str) -> None:
    with caller.db.uow() as uow:
        uow.session.execute(
            delete(t.IdempotencyKey).where(
                t.IdempotencyKey.user_id == caller.actor.id, t.IdempotencyKey.key == key
            )
        )
        uow.commit()
