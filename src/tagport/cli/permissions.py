"""`tagport permission …`: write permissions on target tables and the requests for them."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tagport.cli.lazy import lazy_module
from tagport.cli.options import MAX_ID, JsonOption
from tagport.cli.options import context as state
from tagport.cli.output import console, print_json, print_table
from tagport.domain.dates import parse_date
from tagport.errors import InvalidInput

if TYPE_CHECKING:
    from tagport.services import permission_requests as requests
    from tagport.services import table_permissions
else:  # loaded at first use: `tagport --help` needs none of them
    requests = lazy_module("tagport.services.permission_requests")
    table_permissions = lazy_module("tagport.services.table_permissions")

permission_app = typer.Typer(
    help="Write permissions on target tables: request, approve, grant, return.",
    no_args_is_help=True,
)

DataSource = Annotated[str, typer.Argument(help="Data source name.")]
Table = Annotated[str, typer.Argument(help="[SCHEMA.]TABLE")]
RequestId = Annotated[int, typer.Argument(help="The request id.", min=1, max=MAX_ID)]


def _say(message: str) -> None:
    console.print(message, markup=False, highlight=False, soft_wrap=True)


@permission_app.command("grant")
def permission_grant(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="Login of the grantee.")],
    datasource: DataSource,
    table: Table,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Expire after N days.")] = None,
) -> None:
    """Grant write permission on a target table (data source owner or super admin)."""
    st = state(ctx)
    ref = table_permissions.TableRef.parse(datasource, table)
    table_permissions.grant(st.db, st.actor, user, ref, days)
    _say(f"granted {user} write on {ref}" + (f" for {days} days" if days else ""))


@permission_app.command("request")
def permission_request(
    ctx: typer.Context,
    datasource: DataSource,
    table: Table,
    reason: Annotated[str, typer.Option("--reason", help="Why you need to write it.")],
    days: Annotated[int | None, typer.Option("--days", help="7, 30, 90, 180 or 365.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Or an end date.")] = None,
) -> None:
    """Ask the data source owner for write permission (renewing one is a new request)."""
    st = state(ctx)
    end = None
    if until is not None:
        try:
            end = parse_date(until)
        except ValueError as exc:
            raise InvalidInput.one("permission request", "until", str(exc)) from None
    ref = table_permissions.TableRef.parse(datasource, table)
    request_id = requests.request(st.db, st.actor, ref, reason, days, end)
    _say(f"request {request_id}: write on {ref}, pending the data source owner's decision")


@permission_app.command("requests")
def permission_requests(
    ctx: typer.Context,
    to_approve: Annotated[
        bool, typer.Option("--to-approve", help="Requests awaiting my decision.")
    ] = False,
    status: Annotated[str | None, typer.Option("--status", help="pending, approved …")] = None,
    as_json: JsonOption = False,
) -> None:
    """My requests, or those awaiting my approval."""
    st = state(ctx)
    views = requests.list_requests(st.db, st.actor, to_approve=to_approve, status=status)
    rows: list[dict[str, Any]] = [asdict(v) | {"table": str(v.table)} for v in views]
    if as_json:
        print_json(rows)
        return
    columns = ["id", "user", "table", "days", "status", "reason", "decided_by", "note"]
    print_table("Permission requests", columns, rows)


@permission_app.command("approve")
def permission_approve(
    ctx: typer.Context,
    request_id: RequestId,
    comment: Annotated[str | None, typer.Option("--comment")] = None,
) -> None:
    """Approve a request (data source owner or super admin): the requester may write."""
    st = state(ctx)
    status = requests.approve(st.db, st.actor, request_id, comment)
    _say(f"request {request_id}: {status.value}")


@permission_app.command("reject")
def permission_reject(
    ctx: typer.Context,
    request_id: RequestId,
    comment: Annotated[str, typer.Option("--comment", help="Why (required).")],
) -> None:
    """Reject a request, saying why."""
    st = state(ctx)
    status = requests.reject(st.db, st.actor, request_id, comment)
    _say(f"request {request_id}: {status.value}")


@permission_app.command("withdraw")
def permission_withdraw(ctx: typer.Context, request_id: RequestId) -> None:
    """Take back a pending request of mine."""
    st = state(ctx)
    _say(f"request {request_id}: {requests.withdraw(st.db, st.actor, request_id).value}")


@permission_app.command("return")
def permission_return(ctx: typer.Context, datasource: DataSource, table: Table) -> None:
    """Give back my write permission on a table."""
    st = state(ctx)
    ref = table_permissions.TableRef.parse(datasource, table)
    count = requests.return_permission(st.db, st.actor, ref)
    _say(f"returned {count} permission(s) on {ref}")


@permission_app.command("list")
def permission_list(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", help="Another user's (super admin).")
    ] = None,
    expiring: Annotated[
        bool, typer.Option("--expiring", help="Only those ending within 7 days.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """My write permissions (active, expired, returned), or a user's."""
    st = state(ctx)
    views = requests.list_grants(st.db, st.actor, user, expiring=expiring)
    rows: list[dict[str, Any]] = [asdict(v) | {"table": str(v.table)} for v in views]
    if as_json:
        print_json(rows)
        return
    columns = ["user", "table", "source", "status", "granted_at", "expires_at", "expiring_soon"]
    print_table("Table write permissions", columns, rows)
