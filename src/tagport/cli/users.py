"""`tagport user …` and `tagport token …`."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from tagport.cli.lazy import lazy_module
from tagport.cli.options import MAX_ID, JsonOption
from tagport.cli.options import context as state
from tagport.cli.output import console, print_json, print_table
from tagport.errors import InvalidInput

if TYPE_CHECKING:
    from tagport.domain import catalog, documents
    from tagport.services import tokens, users
else:  # loaded at first use: `tagport --help` needs none of them
    catalog = lazy_module("tagport.domain.catalog")
    documents = lazy_module("tagport.domain.documents")
    tokens = lazy_module("tagport.services.tokens")
    users = lazy_module("tagport.services.users")

user_app = typer.Typer(
    help="Users: add, find (owners by keyword), set roles.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)

SuperAdmin = Annotated[bool, typer.Option("--super-admin", help="Grant every permission.")]
DataSourceAdmin = Annotated[
    bool,
    typer.Option("--datasource-admin", help="May create data sources and change those they own."),
]


def _roles(super_admin: bool, datasource_admin: bool) -> list[catalog.Role]:
    flags = {
        catalog.Role.SUPER_ADMIN: super_admin,
        catalog.Role.DATASOURCE_ADMIN: datasource_admin,
    }
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
    spec = documents.parse_spec(document, f"User {login}")
    assert isinstance(spec, catalog.UserSpec)
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
        print_json([documents.dump_spec(u) for u in found])
        return
    rows = [u.model_dump(mode="json") for u in found]
    print_table("Users", ["name", "display_name", "roles"], rows)


def _stdin_line() -> str:
    """The first line of standard input (a password piped in), without its line end."""
    try:
        return sys.stdin.readline().rstrip("\r\n")
    except (OSError, ValueError) as exc:  # closed or unreadable: not a bug of ours
        raise InvalidInput.one("user passwd", "--password-stdin", f"cannot read: {exc}") from None


@user_app.command("passwd")
def user_passwd(
    ctx: typer.Context,
    login: Annotated[
        str | None, typer.Argument(help="Whose password (default: the acting user).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a console password (stored as an argon2id hash); asks twice unless --password-stdin."""
    st = state(ctx)
    who = login or st.actor.login
    if password_stdin:
        password = _stdin_line()
    elif not sys.stdin.isatty():
        raise InvalidInput.one(
            "user passwd",
            "--password-stdin",
            "standard input is not a terminal: pass --password-stdin to read the password from it",
        )
    else:
        password = typer.prompt(
            f"new password for {who}", hide_input=True, confirmation_prompt=True
        )
    users.set_password(st.db, st.actor, who, password)
    console.print(f"password of {who} set")


@user_app.command("add-service-account")
def user_add_service_account(
    ctx: typer.Context,
    login: Annotated[str, typer.Argument(help="Login of the automation account.")],
    display_name: Annotated[str | None, typer.Option("--display-name", "-n")] = None,
) -> None:
    """Add a non-human user for automation (super admins only); it signs in with tokens."""
    st = state(ctx)
    users.add_service_account(st.db, st.actor, login, display_name)
    console.print(
        f"added service account {login}; give it a token: tagport token create --user {login}"
    )


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    login: Annotated[
        str | None, typer.Option("--user", help="Owner (default: the acting user).")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, max=3650, help="Expire after N days (default 90)."),
    ] = None,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    st = state(ctx)
    actor = st.actor
    new = tokens.create_token(
        st.db, actor, login or actor.login, name, days, st.settings.token_max_days
    )
    expires = f"{new.view.expires_at:%Y-%m-%d}" if new.view.expires_at else "never"
    console.print(
        f"Store this token now; it will not be shown again (expires {expires}).",
        style="bold yellow",
    )
    print(new.token)


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    login: Annotated[
        str | None, typer.Option("--user", help="Whose tokens (default: the acting user).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens: name, expiry, last use (never their values)."""
    st = state(ctx)
    rows = [asdict(view) for view in tokens.list_tokens(st.db, st.actor, login)]
    if as_json:
        print_json(rows)
        return
    columns = ["id", "user", "name", "expires_at", "last_used_at", "revoked"]
    print_table("Tokens", columns, rows)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="The token's id.", min=1, max=MAX_ID)],
) -> None:
    """Revoke a token at once."""
    st = state(ctx)
    view = tokens.revoke_token(st.db, st.actor, token_id)
    console.print(f"revoked token {view.id} ({view.name}) of {view.user}")
