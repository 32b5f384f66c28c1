"""Uploaded import files of audience groups: checked, kept in the home, then loaded.

The CLI points an import audience group at a file on the server; over HTTP the file arrives
in the request instead. It is written under `<home>/imports/`, checked line by line, moved
in place at once, and the group is pointed at it and (re)loaded into the warehouse.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from tagport.config import Settings
from tagport.domain.catalog import AudienceGroupSpec
from tagport.domain.values import IdType
from tagport.errors import Conflict, InvalidInput, NotFound, Problem
from tagport.services import catalog
from tagport.services.audiences import AudienceGroupService
from tagport.services.permissions import Actor
from tagport.services.warehouse import import_audience
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.warehouse.imports import ParsedIds, parse_file

MAX_UPLOAD_BYTES = 256 * 1024 * 1024
"""An import file's largest size: ~10M 20-character IDs."""
SUFFIXES = (".csv", ".txt")
"""`.csv` has a header naming the entity's ID field; `.txt` holds one ID per line."""
CHUNK = 1024 * 1024


def upload(
    settings: Settings, db: Database, actor: Actor, code: str, filename: str, data: BinaryIO
) -> ParsedIds:
    """Make `data` the import file of audience group `code` and load it. Refused (422, every bad
    line) before anything changes when the file is too big, not UTF-8 or has bad IDs; a group
    defined by a rule or SQL becomes an import group."""
    where = f"audience group {code}"
    suffix = _suffix(filename, where)
    id_type, id_field = _authorize(db, actor, code)

    def point_at(final: Path) -> None:
        catalog.edit(db, actor, "AudienceGroup", code, lambda doc: _point_at(doc, final))

    _install(settings, code, suffix, data, (id_type, id_field), point_at)
    return import_audience(settings, db, actor, code)


def create(
    settings: Settings,
    db: Database,
    actor: Actor,
    spec: AudienceGroupSpec,
    filename: str,
    data: BinaryIO,
) -> ParsedIds:
    """Create the import group `spec` with `data` as its file (whatever `spec` names) and load
    it: the console's one-step "new group from a file". Refused before any file is kept when
    the actor may not create it or it exists; a bad file or a broken rule keeps nothing."""
    where = f"audience group {spec.code}"
    suffix = _suffix(filename, where)
    ids = _authorize_new(db, actor, spec)

    def save(final: Path) -> None:
        catalog.create(db, actor, spec.model_copy(update={"import_": str(final), "rule": None}))

    _install(settings, spec.code, suffix, data, ids, save)
    return import_audience(settings, db, actor, spec.code)


def _suffix(filename: str, where: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput.one(where, "file", f"must be a {' or '.join(SUFFIXES)} file")
    return suffix


def _install(
    settings: Settings,
    code: str,
    suffix: str,
    data: BinaryIO,
    ids: tuple[IdType, str],
    save: Callable[[Path], None],
) -> None:
    """Copy and check `data`, put it in place as `code`'s file and let `save` point the catalog
    at it; if anything fails the previous file (or none) is back."""
    where = f"audience group {code}"
    folder = settings.ensure_home() / "imports"
    folder.mkdir(mode=0o700, exist_ok=True)
    partial = folder / f".{code}.{secrets.token_hex(8)}{suffix}"
    final = folder / f"{code}{suffix}"
    previous = final.with_name(f".{final.name}.previous")
    try:
        _copy_limited(data, partial, where)
        _check(partial, ids[0], ids[1], where)
        if final.exists():
            os.replace(final, previous)  # kept until the catalog takes the new file
        os.replace(partial, final)
        try:
            save(final)
        except BaseException:
            _restore(previous, final)
            raise
    finally:
        partial.unlink(missing_ok=True)
        previous.unlink(missing_ok=True)


def _restore(previous: Path, final: Path) -> None:
    """Put back the file the group had (or none, if it had none): a refused edit changes
    nothing."""
    if previous.exists():
        os.replace(previous, final)
    else:
        final.unlink(missing_ok=True)


def require_uploaded(settings: Settings, db: Database, spec: AudienceGroupSpec) -> None:
    """Over HTTP an import group names only its own uploaded file (or keeps the one it has):
    a path of the user's choosing would load any file the server can read as IDs (its secret
    key, say) and show it as members."""
    if spec.import_ is None:
        return
    named = Path(spec.import_)
    folder = settings.home / "imports"
    if named.parent.resolve() == folder.resolve() and named.name in _names(spec.code):
        return
    with db.uow() as uow:
        row = AudienceGroupService().find(uow.session, spec.code)
        kept = row is not None and row.definition.get("import") == spec.import_
    if not kept:
        where = f"AudienceGroup {spec.code}"
        message = f"upload the file with POST /api/v1/audience-groups/{spec.code}/import"
        raise InvalidInput.one(where, "import", message)


def _names(code: str) -> set[str]:
    return {f"{code}{suffix}" for suffix in SUFFIXES}


def _authorize(db: Database, actor: Actor, code: str) -> tuple[IdType, str]:
    """Refuse unless `actor` may change the group; its entity's ID type and field."""
    service = AudienceGroupService()
    with db.uow() as uow:
        row = service.find(uow.session, code)
        if row is None:
            raise NotFound("audience group", code)
        service.authorize(uow.session, actor, service.to_spec(uow.session, row), row)
        return IdType(row.entity.id_type), row.entity.id_field


def _authorize_new(db: Database, actor: Actor, spec: AudienceGroupSpec) -> tuple[IdType, str]:
    """Refuse unless `actor` may create `spec` (a new group of an existing entity); its entity's
    ID type and field."""
    service = AudienceGroupService()
    with db.uow() as uow:
        if service.find(uow.session, spec.code) is not None:
            exists = Conflict(f"audience group {spec.code} already exists")
            raise exists.with_code("catalog.exists")
        service.authorize(uow.session, actor, spec, None)
        entity = uow.session.scalar(select(t.Entity).where(t.Entity.code == spec.entity))
        if entity is None:
            raise InvalidInput.one(
                f"AudienceGroup {spec.code}", "entity", f"entity {spec.entity!r} does not exist"
            )
        return IdType(entity.id_type), entity.id_field


def _copy_limited(data: BinaryIO, path: Path, where: str) -> None:
    written = 0
    with path.open("xb") as out:
        while chunk := data.read(CHUNK):
            written += len(chunk)
            if written > MAX_UPLOAD_BYTES:
                limit = f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MiB"
                raise InvalidInput.one(where, "file", f"is larger than {limit}")
            out.write(chunk)


def _check(path: Path, id_type: IdType, id_field: str, where: str) -> None:
    """Every bad line of the file, as problems of the `file` field (no server path in them)."""
    try:
        parse_file(path, id_type, id_field)
    except InvalidInput as exc:
        problems = [
            Problem(where, "file", f"{p.field}: {p.message}" if p.field else p.message)
            for p in exc.problems
        ]
        raise InvalidInput(problems) from None


def _point_at(document: dict[str, Any], path: Path) -> None:
    document.pop("rule", None)
    document.pop("sql", None)
    document["import"] = str(path)
