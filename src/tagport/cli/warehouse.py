"""`tagport warehouse`, `tagport audience` and `tagport demo`: thin over services.warehouse."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tagport.cli.lazy import lazy_module
from tagport.cli.output import console, print_json, print_table
from tagport.domain.dates import PartitionFormat, default_bizdate, parse_date
from tagport.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from tagport.services import warehouse as service
else:  # loaded at first use: `tagport --help` needs none of them
    service = lazy_module("tagport.services.warehouse")

warehouse_app = typer.Typer(
    help="The warehouse: tag source tables, ad-hoc SQL.", no_args_is_help=True
)
audience_app = typer.Typer(help="Audience groups: size, members, imports.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)


def _state(ctx: typer.Context) -> Any:
    from tagport.cli.options import context as state

    return state(ctx)


def _date(text: str | None, ctx: typer.Context, option: str = "--bizdate") -> date:
    if text is None:
        settings = _state(ctx).settings
        return default_bizdate(datetime.now(settings.tz), settings.tz)
    try:
        return parse_date(text)
    except ValueError as exc:
        raise InvalidInput.one(option, "", str(exc)) from None


@warehouse_app.command("import")
def import_(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="PROJECT.TABLE")],
    file: Annotated[
        Path, typer.Argument(help="A CSV (with header) or Parquet file; a path, never a glob.")
    ],
    ds: Annotated[
        str | None, typer.Option("--ds", help="(Re)write exactly this partition (a date).")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the whole table.")] = False,
    partition: Annotated[str, typer.Option("--partition", help="Partition column.")] = "ds",
    partition_format: Annotated[
        str, typer.Option("--format", help="Partition value format, e.g. yyyyMMdd.")
    ] = "yyyyMMdd",
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Accept a file without rows (empties the partition)."),
    ] = False,
) -> None:
    """Load a file into a warehouse table, creating it when missing; atomic and repeatable."""
    try:
        fmt = PartitionFormat.lenient(partition_format)
    except ValueError as exc:
        raise InvalidInput.one("--format", "", str(exc)) from None
    day = _date(ds, ctx, "--ds") if ds is not None else None
    started = time.monotonic()
    st = _state(ctx)
    rows = service.import_table(
        st.settings,
        st.db,
        st.actor,
        table,
        file,
        ds=day,
        replace=replace,
        partition_column=partition,
        partition_format=fmt,
        allow_empty=allow_empty,
    )
    where = f" partition {partition}={fmt.render(day)}" if day else ""
    console.print(
        f"imported {rows:,} rows into {table}{where} in {time.monotonic() - started:.1f} s"
    )


@warehouse_app.command("tables")
def tables(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Argument(help="Only this project.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List warehouse tables with their row counts and partitions."""
    found = service.list_tables(_state(ctx).settings, project)
    rows = [
        {
            "table": f"{t.project}.{t.name}",
            "rows": t.rows,
            "columns": t.columns,
            "partitions": t.partitions,
        }
        for t in found
    ]
    if as_json:
        print_json(rows)
        return
    print_table("Warehouse tables", ["table", "rows", "partitions", "columns"], rows)


@warehouse_app.command("sql")
def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="One statement, run read-only.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1_000_000, help="At most this many rows.")
    ] = 1000,
) -> None:
    """Run one read-only SELECT against the warehouse (super admins only, confined)."""
    st = _state(ctx)
    result = service.run_sql(st.settings, st.actor, query, limit)
    rows = result.table.to_pylist()
    if as_json:
        print_json(rows)
        return
    print_table("", result.table.column_names, rows)
    if result.truncated:
        console.print(f"(first {limit:,} rows)", style="dim")


@audience_app.command("estimate")
def estimate(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Audience group code.")],
    bizdate: Annotated[str | None, typer.Option("--bizdate", help="Default: T-1.")] = None,
) -> None:
    """Print the audience's size at a data timestamp (and record it as its estimate)."""
    st = _state(ctx)
    day = _date(bizdate, ctx)
    size = service.estimate(st.settings, st.db, st.actor, code, day)
    console.print(f"{size}")


@audience_app.command("members")
def members(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Audience group code.")],
    bizdate: Annotated[str, typer.Option("--bizdate", help="Data timestamp.")],
    page: Annotated[int, typer.Option("--page", help="Page number, from 1.")] = 1,
    size: Annotated[int, typer.Option("--size", help="Members per page.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Page through the audience's members in entity-ID order."""
    st = _state(ctx)
    day = _date(bizdate, ctx)
    result = service.members_page(st.settings, st.db, st.actor, code, day, page, size)
    if as_json:
        print_json({"page": result.page, "size": result.size, "ids": result.ids})
        return
    for member in result.ids:
        console.print(str(member), highlight=False)
    more = "more: --page " + str(page + 1) if result.has_more else "last page"
    console.print(f"page {page}, {len(result.ids)} members ({more})", style="dim")


@audience_app.command("import")
def import_audience(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="An import audience group's code.")],
) -> None:
    """Reload an import audience group's file into the warehouse (replaces its IDs at once)."""
    st = _state(ctx)
    parsed = service.import_audience(st.settings, st.db, st.actor, code)
    console.print(
        f"stored {parsed.count:,} IDs for {code} ({parsed.duplicates:,} duplicates dropped)"
    )


@audience_app.command("readiness")
def readiness(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Audience group code.")],
    bizdate: Annotated[str | None, typer.Option("--bizdate", help="Default: T-1.")] = None,
) -> None:
    """Which source partitions the audience needs at a data timestamp, and which are missing."""
    st = _state(ctx)
    result = service.readiness(st.settings, st.db, code, _date(bizdate, ctx))
    missing = set(result.missing)
    for ref in result.needed:
        console.print(f"{'missing' if ref in missing else 'ok':>8}  {ref}", highlight=False)
    if not result.ready:
        raise NotFound("source partition", ", ".join(str(ref) for ref in result.missing))


@demo_app.command("data")
def demo_data(
    ctx: typer.Context,
    rows: Annotated[
        int, typer.Option("--rows", min=1, max=1_000_000_000, help="Users to generate.")
    ] = 1_000_000,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**32 - 1, help="Random seed.")
    ] = 20240101,
) -> None:
    """Build the demo warehouse (user tags for the two days before today) and its catalog."""
    st = _state(ctx)
    started = time.monotonic()
    today = datetime.now(st.settings.tz).date()
    result = service.build_demo(st.settings, st.db, st.actor, rows, today, seed)
    elapsed = time.monotonic() - started
    for table, count in result.tables.items():
        console.print(f"{table:<28} {count:>12,} rows", highlight=False)
    for code, size in result.audiences.items():
        console.print(f"audience {code:<19} {size:>12,} members at {result.days[-1]}")
    console.print(f"built {rows:,} users in {elapsed:.1f} s")
