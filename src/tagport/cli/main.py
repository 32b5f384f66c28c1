"""`tagport` — the command line. Each command parses, calls one service, and prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tagport.cli import startup
from tagport.cli.files import write_text
from tagport.cli.lazy import lazy_module
from tagport.cli.options import JsonOption
from tagport.cli.options import context as state
from tagport.cli.output import console, errors, print_json, print_table
from tagport.context import Context
from tagport.errors import INTERNAL_ERROR_EXIT, InvalidInput, TagportError, exit_code

if TYPE_CHECKING:
    from tagport import config
    from tagport.domain import documents
    from tagport.services import catalog, config_as_code, home
else:  # loaded at first use: `tagport --help` needs none of them
    config = lazy_module("tagport.config")
    documents = lazy_module("tagport.domain.documents")
    catalog = lazy_module("tagport.services.catalog")
    config_as_code = lazy_module("tagport.services.config_as_code")
    home = lazy_module("tagport.services.home")

KIND_NAMES = (
    "User, Project, SecuritySettings, DataSource, Entity, LookupTable, Tag, AudienceGroup, "
    "Application, OfflineService"
)
"""`documents.KINDS` in order, written out so that help needs no model (a unit test compares)."""
KIND_HELP = f"One of {KIND_NAMES}."

app = typer.Typer(
    name="tagport",
    help="Export audience groups and their tags into database tables, atomically.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Act as this user (default: TAGPORT_USER, else operator)."),
    ] = None,
) -> None:
    settings = config.load_settings()
    ctx.obj = Context(settings, as_user or settings.user)


# Columns of `tagport list KIND`: the fields a person scans a list for.
LIST_COLUMNS: dict[str, list[str]] = {
    "User": ["name", "display_name", "roles"],
    "Project": ["name", "type", "write_through", "members"],
    "SecuritySettings": ["project", "cross_project_safe_mode"],
    "DataSource": ["name", "type", "host", "port", "database", "project", "owner"],
    "Entity": ["code", "name", "project", "id_field", "id_type"],
    "LookupTable": ["code", "name", "code_count"],
    "Tag": ["code", "name", "entity", "value_type", "lookup", "source"],
    "AudienceGroup": ["code", "name", "entity", "owner", "update", "estimated_size"],
    "Application": ["name", "project", "services", "admins", "members"],
    "OfflineService": [
        "name",
        "owner",
        "application",
        "audience",
        "status",
        "execution_status",
        "target",
        "schedule",
    ],
}


def _flat(spec_doc: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in spec_doc.items() if k != "kind"} | details
    if isinstance(row.get("source"), dict):
        row["source"] = f"{row['source']['table']}.{row['source']['column']}"
    if isinstance(row.get("target"), dict):
        target = row["target"]
        row["target"] = ".".join(p for p in (target.get("schema"), target["table"]) if p) + (
            f" @ {target['datasource']}"
        )
    if isinstance(row.get("schedule"), dict):
        row["schedule"] = " ".join(str(v) for v in row["schedule"].values())
    return row


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the home (TAGPORT_HOME), its secret key, metadata schema and operator account."""
    result = home.initialise(state(ctx).settings)
    console.print(f"home      {result.home}\nmetadata  {result.database}")
    if result.operator_created:
        console.print("created the operator account (super admin) that the CLI acts as")


db_app = typer.Typer(help="The metadata database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending schema migrations."""
    settings = state(ctx).settings
    database = home.open_database(settings, upgrade=False)
    changed = database.upgrade()
    revision = database.current_revision()
    console.print(f"{'upgraded to' if changed else 'already at'} revision {revision}")


@app.command()
def apply(
    ctx: typer.Context,
    files: Annotated[
        list[Path], typer.Option("-f", "--file", help="A YAML file or a directory of them.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report; write nothing.")
    ] = False,
) -> None:
    """Create or update objects from YAML documents: all of them, or none if any is invalid."""
    st = state(ctx)
    documents, problems = config_as_code.read_documents(files)
    result = catalog.apply(st.db, st.actor, documents, dry_run=dry_run, problems=problems)
    for change in result.changes:
        if change.outcome is not catalog.Outcome.UNCHANGED:
            console.print(f"{change.outcome.value:>9}  {change.kind} {change.key or '(global)'}")
    summary = ", ".join(
        f"{result.count(o)} {o.value}"
        for o in (catalog.Outcome.CREATED, catalog.Outcome.UPDATED, catalog.Outcome.UNCHANGED)
    )
    prefix = "dry run, nothing written: " if dry_run else ""
    console.print(f"{prefix}{summary}" if result.changed else f"{prefix}no change ({summary})")


@app.command()
def export(
    ctx: typer.Context,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", "-k", help="Only these kinds (repeatable).")
    ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
) -> None:
    """Write the catalog as YAML that `apply` accepts again (never with passwords)."""
    st = state(ctx)
    text = config_as_code.dump_yaml(config_as_code.export_documents(st.db, kind, actor=st.actor))
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, text, "--output")
        console.print(f"wrote {output}")


def _kind(name: str) -> str:
    """A kind by its name, case-insensitively, singular or plural (`tags`, `entities`)."""
    lowered = name.lower()
    candidates = [name]
    if lowered.endswith("ies"):
        candidates.append(name[:-3] + "y")
    if lowered.endswith("s"):
        candidates.append(name[:-1])
    for candidate in candidates[1:]:
        try:
            return documents.kind_named(candidate).kind
        except InvalidInput:
            continue
    return documents.kind_named(name).kind


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    as_json: JsonOption = False,
) -> None:
    """List the objects of one kind."""
    kind = _kind(kind)
    st = state(ctx)
    pairs = catalog.list_objects(st.db, kind, actor=st.actor)
    if as_json:
        print_json([documents.dump_spec(spec) | details for spec, details in pairs])
        return
    rows = [_flat(documents.dump_spec(spec), details) for spec, details in pairs]
    print_table(kind, LIST_COLUMNS[kind], rows)


@app.command()
def show(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    name: Annotated[str, typer.Argument(help="The object's name or code.")],
    as_json: JsonOption = False,
) -> None:
    """Show one object: its configuration and status."""
    st = state(ctx)
    spec, details = catalog.show(st.db, _kind(kind), name, actor=st.actor)
    document = documents.dump_spec(spec) | details
    if as_json:
        print_json(document)
        return
    console.print(config_as_code.dump_yaml([document]).rstrip())


@app.command()
def delete(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    name: Annotated[str, typer.Argument(help="The object's name or code.")],
) -> None:
    """Delete one object; refused while anything still uses it."""
    st = state(ctx)
    kind = _kind(kind)
    catalog.delete(st.db, st.actor, kind, name)
    console.print(f"deleted {kind} {name}")


def _register_subcommands() -> None:
    from tagport.cli import users as users_cli

    app.add_typer(users_cli.user_app, name="user")
    app.add_typer(users_cli.token_app, name="token")

    from tagport.cli import permissions as permissions_cli
    from tagport.cli import runtime as runtime_cli
    from tagport.cli import tasks as tasks_cli

    app.add_typer(tasks_cli.task_app, name="task")
    app.add_typer(tasks_cli.instance_app, name="instance")
    app.add_typer(permissions_cli.permission_app, name="permission")
    runtime_cli.register(app)

    from tagport.cli import warehouse as warehouse_cli

    app.add_typer(warehouse_cli.warehouse_app, name="warehouse")
    app.add_typer(warehouse_cli.audience_app, name="audience")
    app.add_typer(warehouse_cli.demo_app, name="demo")


_register_subcommands()


def report(error: TagportError) -> None:
    if len(error.problems) > 1:
        errors.print("error:", style="red", end="")
        errors.print(f" {len(error.problems)} problems", highlight=False)
        for problem in error.problems:
            errors.print(f"  - {problem}", highlight=False, soft_wrap=True)
        return
    errors.print("error: ", style="red", end="")
    errors.print(str(error), highlight=False, soft_wrap=True)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; tagport errors become a message, never a traceback."""
    try:
        app(args=argv, prog_name="tagport")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except TagportError as error:
        report(error)
        return exit_code(error)
    except Exception as error:  # a bug: one line for the person, the traceback when debugging
        if config.debugging():
            raise
        errors.print("internal error: ", style="red", end="")
        errors.print(
            f"{type(error).__name__}: {error} "
            "(a bug in tagport; TAGPORT_DEBUG=1 shows the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        return INTERNAL_ERROR_EXIT
    return 0


def main() -> None:
    """Console entry point: the collector waits while the command starts (`cli.startup`)."""
    startup.pause()
    sys.exit(run())
