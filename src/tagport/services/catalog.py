"""Create, update, show, list and delete catalog objects of every kind, one framework for all.

Each kind has a `KindService` (in the module named after its noun) that knows how to check a
spec against the catalog, persist it and read it back. This module runs them: one object at a
time for the CLI, or a whole batch of documents in one transaction for `apply`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from tagport.domain.catalog import Spec
from tagport.domain.documents import KINDS, dump_spec, parse_spec
from tagport.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Problem,
    TagportError,
    gathered,
)
from tagport.services import permissions
from tagport.services.permissions import ANYONE, Action, Actor, Scope, label, rule_for
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.store.paging import Page, PageRequest, fetch_page

S = TypeVar("S", bound=Spec)
R = TypeVar("R", bound=t.Base)

Filter = Callable[[Any, Actor], ColumnElement[bool]]
"""A list filter: the WHERE clause for one query value, for the listing actor."""


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"


class Checks:
    """Collects the problems of one object: references that do not resolve, rules broken."""

    def __init__(self, session: Session, where: str) -> None:
        self.session = session
        self.where = where
        self.problems: list[Problem] = []

    def fail(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.where, field, message))

    def ref(
        self, model: type[R], column: Any, value: str | None, field: str, kind: str
    ) -> R | None:
        """The row `model` whose `column` equals `value`, or a problem naming `field`."""
        if value is None:
            return None
        row = self.session.scalar(select(model).where(column == value))
        if row is None:
            self.fail(field, f"{kind} {value!r} does not exist")
        return row

    def users(self, logins: Sequence[str], field: str) -> list[t.User]:
        found = {
            u.login: u for u in self.session.scalars(select(t.User).where(t.User.login.in_(logins)))
        }
        for login in logins:
            if login not in found:
                self.fail(field, f"user {login!r} does not exist")
        return [found[login] for login in logins if login in found]

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidInput(self.problems)


class KindService(ABC, Generic[S, R]):
    """How one kind is checked, stored and read back."""

    spec: ClassVar[type[Spec]]
    row: ClassVar[type[t.Base]]
    key_name: ClassVar[str]
    """The row attribute that holds the object's name or code."""

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def key_column(self) -> Any:
        return getattr(self.row, self.key_name)

    def find(self, session: Session, key: str, *, lock: bool = False) -> R | None:
        """The row of `key`; with `lock`, locked until the transaction ends (PostgreSQL)."""
        query = select(self.row).where(self._key_clause(key))
        found = session.scalar(query.with_for_update() if lock else query)
        return cast("R | None", found)

    def _key_clause(self, key: str) -> ColumnElement[bool]:
        clause: ColumnElement[bool] = self.key_column == key
        return clause

    def all(self, session: Session) -> list[R]:
        return list(session.scalars(select(self.row).order_by(self.key_column)))

    def sortable(self) -> dict[str, Any]:
        """Columns a list may be sorted by: the key, the name and the timestamps."""
        names = (self.key_name, "name", "created_at", "updated_at")
        return {n: getattr(self.row, n) for n in names if hasattr(self.row, n)}

    def searched(self) -> list[Any]:
        """Columns a list's keyword is looked for in: the key and the name."""
        return list(
            {id(c): c for c in self.sortable().values() if c.type.python_type is str}.values()
        )

    def filters(self) -> dict[str, Filter]:
        """The filters a list of this kind takes, by name (`entity`, `owner`, …)."""
        return {}

    @abstractmethod
    def to_spec(self, session: Session, row: R) -> S:
        """The spec that, applied, would leave `row` as it is."""

    @abstractmethod
    def check(self, checks: Checks, spec: S, row: R | None) -> None:
        """Add a problem to `checks` for every reference or rule `spec` breaks."""

    def scope(self, session: Session, spec: S, row: R | None) -> Scope:
        """What the grants of WHO_MAY depend on: `row` as stored and as `spec` would leave it."""
        return Scope()

    def authorize(self, session: Session, actor: Actor, spec: S, row: R | None) -> None:
        """Raise PermissionDenied unless `actor` may create (row None) or update `row` as
        `spec` says, and name its `owner` (only an admin may name someone else)."""
        scope = self.scope(session, spec, row)
        action = Action.CREATE if row is None else Action.CHANGE
        permissions.authorize(session, actor, self.kind, action, scope, spec.key)
        named: str | None = getattr(spec, "owner", None)
        if named is None or named == actor.login:
            return
        current = session.get(t.User, scope.owner_id) if scope.owner_id is not None else None
        if current is None or current.login != named:
            doing = f"make {named} the owner of {label(self.kind)} {spec.key}"
            permissions.require(
                session, actor, rule_for(self.kind, Action.ASSIGN_OWNER), scope, doing
            )

    @abstractmethod
    def write(self, session: Session, spec: S, row: R | None) -> R:
        """Persist `spec`, into `row` or a new row; called only after `check` passed."""

    def same_kind_refs(self, spec: S) -> set[str]:
        """Keys of objects of the same kind `spec` refers to (they are applied first)."""
        return set()

    def unchanged(self, session: Session, spec: S, row: R) -> bool:
        return self.to_spec(session, row) == spec

    def dependents(self, session: Session, row: R) -> list[str]:
        """What refers to `row` and would break if it were deleted ("tag city", …)."""
        return []

    def authorize_delete(self, session: Session, actor: Actor, row: R) -> None:
        spec = self.to_spec(session, row)
        scope = self.scope(session, spec, row)
        permissions.authorize(session, actor, self.kind, Action.DELETE, scope, spec.key)

    def visible(self, session: Session, actor: Actor, row: R) -> bool:
        """Whether `actor` may see `row` (tasks: their owner, application and super admins)."""
        rule = rule_for(self.kind, Action.VIEW)
        return rule == ANYONE or permissions.may(
            session, actor, rule, self.scope(session, self.to_spec(session, row), row)
        )

    def authorize_view(self, session: Session, actor: Actor, row: R) -> None:
        spec = self.to_spec(session, row)
        scope = self.scope(session, spec, row)
        permissions.authorize(session, actor, self.kind, Action.VIEW, scope, spec.key)

    def before_delete(self, session: Session, row: R) -> None:
        """Refuse deletion in states that forbid it (tasks); nothing by default."""

    def details(self, session: Session, row: R) -> dict[str, Any]:
        """Read-only facts shown beside the spec (status, estimates, timestamps)."""
        created = getattr(row, "created_at", None)
        updated = getattr(row, "updated_at", None)
        return {
            k: v.isoformat(timespec="seconds")
            for k, v in (("created_at", created), ("updated_at", updated))
            if v is not None
        }


def service_for(kind: str) -> KindService[Any, Any]:
    """The service of a kind, from the table in `services.kinds`."""
    from tagport.services.kinds import SERVICES  # the kinds' modules import this one

    try:
        return SERVICES[kind]
    except KeyError:
        raise NotFound("kind", kind) from None


def check(session: Session, actor: Actor, spec: Spec, where: str | None = None) -> None:
    """Raise unless `actor` may save `spec` and it breaks no rule; writes nothing."""
    service = service_for(spec.kind)
    row = service.find(session, spec.key)
    service.authorize(session, actor, spec, row)
    _check_rules(session, service, spec, row, where)


def _check_rules(
    session: Session, service: KindService[Any, Any], spec: Spec, row: Any, where: str | None
) -> None:
    checks = Checks(session, where or f"{spec.kind} {spec.key}".strip())
    service.check(checks, spec, row)
    checks.raise_if_any()


def upsert(session: Session, actor: Actor, spec: Spec, where: str | None = None) -> Outcome:
    """Create or update one object inside the caller's transaction."""
    service = service_for(spec.kind)
    row = service.find(session, spec.key)
    # Authorization first: what is compared below (a password included) is nobody else's answer.
    service.authorize(session, actor, spec, row)
    if row is not None and service.unchanged(session, spec, row):
        return Outcome.UNCHANGED
    _check_rules(session, service, spec, row, where)
    service.write(session, spec, row)
    session.flush()
    return Outcome.CREATED if row is None else Outcome.UPDATED


@dataclass
class Change:
    kind: str
    key: str
    outcome: Outcome
    where: str = ""


@dataclass
class ApplyResult:
    changes: list[Change] = field(default_factory=list)
    dry_run: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(c.outcome is outcome for c in self.changes)

    @property
    def changed(self) -> bool:
        return any(c.outcome is not Outcome.UNCHANGED for c in self.changes)


@dataclass(frozen=True)
class Document:
    """A parsed document and where it came from (`file.yaml#2`)."""

    spec: Spec
    where: str


def apply(
    db: Database,
    actor: Actor,
    documents: Sequence[Document],
    *,
    dry_run: bool = False,
    problems: Sequence[Problem] = (),
) -> ApplyResult:
    """Create or update every document in one transaction: all of them, or none.

    Documents are applied kind by kind in dependency order (users before projects before …), so
    a document may refer to objects defined in the same batch. Every problem is collected before
    anything is committed; `problems` carries those already found while parsing. The error
    raised lists them all and has the class of the most serious (see `errors.SEVERITY`).
    """
    refused: list[TagportError] = [InvalidInput(problems)] if problems else []
    result = ApplyResult(dry_run=dry_run)
    seen: dict[tuple[str, str], str] = {}
    with db.uow() as uow:
        for doc in _dependency_order(documents):
            ident = (doc.spec.kind, doc.spec.key)
            label = f"{doc.where} ({doc.spec.kind} {doc.spec.key})".replace(" )", ")")
            if ident in seen:
                refused.append(InvalidInput.one(label, "", f"also defined at {seen[ident]}"))
                continue
            seen[ident] = doc.where
            try:
                outcome = upsert(uow.session, actor, doc.spec, label)
            except TagportError as exc:
                # Keep the error's class: a refusal or a conflict is not an input problem.
                refused.append(
                    exc if exc.problems else exc.gathering([Problem(label, "", str(exc))])
                )
                continue
            result.changes.append(Change(doc.spec.kind, doc.spec.key, outcome, doc.where))
        if refused:
            raise gathered(refused)
        if not dry_run:
            uow.commit()
    return result


def _dependency_order(documents: Sequence[Document]) -> list[Document]:
    """Kind by kind in KINDS order; within a kind, referenced objects first (else file order)."""
    ordered: list[Document] = []
    for kind in KINDS:
        pending = [d for d in documents if d.spec.kind == kind]
        service = service_for(kind)
        while pending:
            keys = {d.spec.key for d in pending}
            ready = [
                d for d in pending if not service.same_kind_refs(d.spec) & (keys - {d.spec.key})
            ] or pending[:1]  # a cycle: let the checks report it
            ordered.extend(ready)
            taken = {id(d) for d in ready}
            pending = [d for d in pending if id(d) not in taken]
    return ordered


def show(
    db: Database, kind: str, key: str, *, actor: Actor | None = None
) -> tuple[Spec, dict[str, Any]]:
    """One object and its details; refused when `actor` may not see it (None: an internal
    caller that already decided)."""
    service = service_for(kind)
    with db.uow() as uow:
        row = service.find(uow.session, key)
        if row is None:
            raise NotFound(kind, key)
        if actor is not None:
            service.authorize_view(uow.session, actor, row)
        return service.to_spec(uow.session, row), service.details(uow.session, row)


def list_objects(
    db: Database,
    kind: str,
    where: Callable[[Spec], bool] | None = None,
    *,
    actor: Actor | None = None,
) -> list[tuple[Spec, dict[str, Any]]]:
    """Every object of `kind` (that `actor` may see, when given), by key."""
    service = service_for(kind)
    with db.uow() as uow:
        session = uow.session
        pairs = [
            (service.to_spec(session, row), service.details(session, row))
            for row in service.all(session)
            if actor is None or service.visible(session, actor, row)
        ]
    return [p for p in pairs if where is None or where(p[0])]


def delete(
    db: Database,
    actor: Actor,
    kind: str,
    key: str,
    unchanged: Callable[[Any], None] | None = None,
) -> None:
    """Delete `kind` `key`: authorized, allowed in its status, used by nothing, and (with
    `unchanged`, which raises otherwise) as the caller last read it, in the same transaction."""
    service = service_for(kind)
    with db.uow() as uow:
        row = service.find(uow.session, key, lock=unchanged is not None)
        if row is None:
            raise NotFound(kind, key)
        if unchanged is not None:
            unchanged(row)
        service.authorize_delete(uow.session, actor, row)
        service.before_delete(uow.session, row)
        users = service.dependents(uow.session, row)
        if users:
            raise Conflict(f"cannot delete {kind} {key}: still used by {', '.join(users)}")
        uow.session.delete(row)
        uow.commit()


def equals(column: Any) -> Filter:
    """A filter on the value of `column` itself (`type`, `kind`)."""
    return lambda value, actor: cast("ColumnElement[bool]", column == value)


def refers_to(column: Any, model: Any, key: Any) -> Filter:
    """A filter on a foreign key `column` by the referenced object's `key` (a name, a login)."""
    return lambda value, actor: cast(
        "ColumnElement[bool]", column.in_(select(model.id).where(key == value))
    )


def with_member(link_object: Any, object_id: Any, link_user: Any) -> Filter:
    """Objects with the user `login` in a membership table whose `link_object` column refers
    to `object_id` and `link_user` to the user."""

    def clause(login: str, actor: Actor) -> ColumnElement[bool]:
        user = select(t.User.id).where(t.User.login == login).scalar_subquery()
        member: ColumnElement[bool] = object_id.in_(select(link_object).where(link_user == user))
        return member

    return clause


def keyword_clause(columns: Sequence[Any], word: str) -> ColumnElement[bool]:
    """Any of `columns` contains `word`, case-insensitively; % and _ match themselves."""
    literal = word.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    clause: ColumnElement[bool] = or_(
        *(func.lower(c).like(f"%{literal}%", escape="!") for c in columns)
    )
    return clause


def list_page(
    db: Database,
    actor: Actor,
    kind: str,
    request: PageRequest,
    *,
    search: str | None = None,
    filters: Mapping[str, Any] | None = None,
) -> Page[tuple[Spec, dict[str, Any]]]:
    """One page of the objects of `kind` that the keyword and `filters` keep (None values are
    no filter), filtered, sorted and counted in SQL. Only for kinds everyone may see: a
    visibility rule would need to be a WHERE clause too."""
    service = service_for(kind)
    if rule_for(kind, Action.VIEW) != ANYONE:
        raise NotImplementedError(f"{kind} lists need their visibility as SQL")
    query = select(service.row)
    if search:
        query = query.where(keyword_clause(service.searched(), search))
    known = service.filters()
    for name, value in (filters or {}).items():
        if value is not None:
            query = query.where(known[name](value, actor))
    with db.uow() as uow:
        session = uow.session
        row_id = cast(Any, service.row).id
        page = fetch_page(session, query, row_id, service.sortable(), request)
        items = [(service.to_spec(session, r), service.details(session, r)) for r in page.items]
    return Page(items, page.total, page.page, page.size, page.next_cursor)


def create(db: Database, actor: Actor, spec: Spec) -> None:
    """Create one object; refused (409) when one with its key exists."""
    with db.uow() as uow:
        if service_for(spec.kind).find(uow.session, spec.key) is not None:
            exists = Conflict(f"{label(spec.kind)} {spec.key} already exists")
            raise exists.with_code("catalog.exists")
        upsert(uow.session, actor, spec)
        uow.commit()


def update(db: Database, actor: Actor, spec: Spec) -> Outcome:
    """Change one existing object as `spec` says (NotFound when there is none)."""
    with db.uow() as uow:
        if service_for(spec.kind).find(uow.session, spec.key) is None:
            raise NotFound(spec.kind, spec.key)
        outcome = upsert(uow.session, actor, spec)
        uow.commit()
    return outcome


def edit(
    db: Database, actor: Actor, kind: str, key: str, change: Callable[[dict[str, Any]], None]
) -> None:
    """Read an object's document, let `change` edit it, and save it checked like any update
    (member lists and other partial changes)."""
    with db.uow() as uow:
        service = service_for(kind)
        row = service.find(uow.session, key)
        if row is None:
            raise NotFound(kind, key)
        document = dump_spec(service.to_spec(uow.session, row))
        change(document)
        upsert(uow.session, actor, parse_spec(document, f"{kind} {key}"))
        uow.commit()


def change_refusals(db: Database, actor: Actor, kind: str, keys: Sequence[str]) -> dict[str, str]:
    """Why `actor` may not change each of `keys` (a key left out: allowed), so that a page shows
    its edit actions disabled with the reason; the save checks again."""
    service = service_for(kind)
    refused: dict[str, str] = {}
    with db.uow() as uow:
        for key in keys:
            row = service.find(uow.session, key)
            if row is None:
                continue
            spec = service.to_spec(uow.session, row)
            scope = service.scope(uow.session, spec, row)
            try:
                permissions.authorize(uow.session, actor, kind, Action.CHANGE, scope, key)
            except PermissionDenied as denied:
                refused[key] = str(denied)
    return refused


def create_refusal(db: Database, actor: Actor, kind: str) -> str | None:
    """Why `actor` may not create any object of `kind` (None: they may, at least for some
    project or application); for a page's "new" button."""
    with db.uow() as uow:
        try:
            permissions.authorize(uow.session, actor, kind, Action.CREATE, Scope(), "")
        except PermissionDenied as denied:
            return str(denied)
    return None
