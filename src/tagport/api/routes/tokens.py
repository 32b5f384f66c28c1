"""`/api/v1/tokens`: personal access tokens, shown once, listed without their value, revoked."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field

from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.api.schemas import RowId
from tagport.services import tokens

router = Router(prefix="/tokens", tags=["tokens"])


class TokenOut(BaseModel):
    id: int
    user: str
    name: str
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


class NewTokenOut(TokenOut):
    token: str = Field(description="The secret: shown this once, stored only as a digest.")


class TokenIn(BaseModel):
    name: str = Field(default="api", min_length=1, max_length=128)
    days: int | None = Field(default=None, ge=1, le=3650, description="Default 90.")
    user: str | None = Field(
        default=None, max_length=64, description="Owner (super admins: a service account)."
    )


@router.get("")
def list_tokens(
    caller: Caller, user: Annotated[str | None, Query(max_length=64)] = None
) -> list[TokenOut]:
    """The caller's tokens (a super admin may name another user)."""
    return [TokenOut(**asdict(v)) for v in tokens.list_tokens(caller.db, caller.actor, user)]


@router.post("", status_code=201)
def create_token(caller: Caller, body: TokenIn) -> NewTokenOut:
    """A new token; it expires after `days` (capped by TAGPORT_TOKEN_MAX_DAYS)."""
    new = tokens.create_token(
        caller.db,
        caller.actor,
        body.user or caller.actor.login,
        body.name,
        body.days,
        caller.settings.token_max_days,
    )
    return NewTokenOut(**asdict(new.view), token=new.token)


@router.delete("/{token_id}")
def revoke_token(caller: Caller, token_id: RowId) -> TokenOut:
    """Revoke a token at once."""
    return TokenOut(**asdict(tokens.revoke_token(caller.db, caller.actor, token_id)))
