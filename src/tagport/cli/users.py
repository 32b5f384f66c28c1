"""`tagport user …` and `tagport token …`."""

from __future__ import annotations

from typing import Annotated

import typer

from tagport.cli.main import JsonOption, state
from tagport.cli.output import console, print_json, print_table
from tagport.domain.catalog import Role, UserSpec
from tagport.domain.documents import dump_spec, parse_spec
from tagport.services import users

user_app = typer.Typer(help="Users: add, find (owners by keyword), show.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    login: Annotated[str, typer.Argument(help="Login: a-z, 0-9, _ . - (starts with a letter).")],
    display_name: Annotated[str | None, typer.Option("--display-name", "-n")] = None,
    super_admin: Annotated[
        bool, typer.Option("--super-admin", help="Grant every permission.")
    ] = False,
) -> None:
    """Add a user."""
    st = state(ctx)
    document = {
        "kind": "User",
        "name": login,
        "display_name": display_name,
        "roles": [Role.SUPER_ADMIN] if super_admin else [],
    }
    spec = parse_spec(document, f"User {login}")
    assert isinstance(spec, UserSpec)
    users.add_user(st.db, st.actor, spec)
    console.print(f"added user {login}")


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
    console.print("[bold]Store this token now; it will not be shown again.[/bold]", style="yellow")
    print(token)
