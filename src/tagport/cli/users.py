"""`tagport user …` and `tagport token …`."""

from __future__ import annotations

from typing import Annotated

import typer

from tagport.cli.options import JsonOption
from tagport.cli.options import context as state
from tagport.cli.output import console, print_json, print_table
from tagport.domain.catalog import Role, UserSpec
from tagport.domain.documents import dump_spec, parse_spec
from tagport.services import users

user_app = typer.Typer(
    help="Users: add, find (owners by keyword), set roles.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)

SuperAdmin = Annotated[bool, typer.Option("--super-admin", help="Grant every permission.")]
DataSourceAdmin = Annotated[
    bool,
    typer.Option("--datasource-admin", help="May create data sources and change those they own."),
]


def _roles(super_admin: bool, datasource_admin: bool) -> list[Role]:
    flags = {Role.SUPER_ADMIN: super_admin, Role.DATASOURCE_ADMIN: datasource_admin}
    return [role for role, wanted in flags.items() if wanted]


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    login: Annotated[str, typer.Argument(help="Login: a-z, 0-9, _ . - (starts with a letter).")],
    display_name: Annotated[str | None, typer.Option("--display-name", "-n")] = None,
    super_admin: SuperAdmin = False,
    datasource_admin: DataSourceAdmin = False,
) -> None:
    """Add a user."""
    st = state(ctx)
    document = {
        "kind": "User",
        "name": login,
        "display_name": display_name,
        "roles": _roles(super_admin, datasource_admin),
    }
    spec = parse_spec(document, f"User {login}")
    assert isinstance(spec, UserSpec)
    users.add_user(st.db, st.actor, spec)
    console.print(f"added user {login}")


@user_app.command("set-roles")
def user_set_roles(
    ctx: typer.Context,
    login: Annotated[str, typer.Argument(help="The user's login.")],
    super_admin: SuperAdmin = False,
    datasource_admin: DataSourceAdmin = False,
) -> None:
    """Give a user exactly the roles named (none: an ordinary user); super admins only."""
    st = state(ctx)
    roles = _roles(super_admin, datasource_admin)
    outcome = users.set_roles(st.db, st.actor, login, roles)
    console.print(f"{login}: {', '.join(roles) or 'no roles'} ({outcome.value})")


@user_app.command("list")
def user_list(
    ctx: typer.Context,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Keyword in login or display name.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List users, or find them by keyword (owner search)."""
    found = users.search(state(ctx).db, search)
    if as_json:
        print_json([dump_spec(u) for u in found])
        return
    rows = [u.model_dump(mode="json") for u in found]
    print_table("Users", ["name", "display_name", "roles"], rows)


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    login: Annotated[
        str | None, typer.Option("--user", help="Owner (default: the acting user).")
    ] = None,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Expire after N days.")] = None,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    st = state(ctx)
    actor = st.actor
    token = users.create_token(st.db, actor, login or actor.login, name, days)
    console.print("Store this token now; it will not be shown again.", style="bold yellow")
    print(token)
