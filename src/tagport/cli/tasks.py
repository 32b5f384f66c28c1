"""`tagport task …` and `tagport instance …`."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tagport.cli import startup
from tagport.cli.files import read_text
from tagport.cli.lazy import lazy_module
from tagport.cli.options import MAX_ID, JsonOption
from tagport.cli.options import context as state
from tagport.cli.output import console, print_json, print_table
from tagport.context import Context as State
from tagport.domain.dates import default_bizdate, parse_date
from tagport.domain.states import InstanceStatus, TaskStatus
from tagport.errors import Conflict, InvalidInput, Problem, TerminalError

if TYPE_CHECKING:
    from tagport.domain import documents
    from tagport.runtime import pipeline
    from tagport.runtime import worker as workers
    from tagport.services import catalog, instances, publication, targets, tasks
else:  # loaded at first use: `tagport --help` needs none of them
    documents = lazy_module("tagport.domain.documents")
    pipeline = lazy_module("tagport.runtime.pipeline")
    workers = lazy_module("tagport.runtime.worker")
    catalog = lazy_module("tagport.services.catalog")
    instances = lazy_module("tagport.services.instances")
    publication = lazy_module("tagport.services.publication")
    targets = lazy_module("tagport.services.targets")
    tasks = lazy_module("tagport.services.tasks")

task_app = typer.Typer(
    help="Offline services (tasks): list, publish, run, backfill …", no_args_is_help=True
)
instance_app = typer.Typer(
    help="Instances: runs of a task for one data timestamp.", no_args_is_help=True
)

Name = Annotated[str, typer.Argument(help="The task name.")]
Wait = Annotated[bool, typer.Option("--wait", help="Do the work now and wait for its end.")]
DONE = {InstanceStatus.SUCCEEDED.value, InstanceStatus.FAILED.value}


def _date(value: str | None, field: str, st: State) -> date:
    if value is None:
        return default_bizdate(datetime.now(UTC), st.settings.tz)
    try:
        return parse_date(value)
    except ValueError as exc:
        raise InvalidInput.one("", field, str(exc)) from None


def _worker(st: State) -> workers.Worker:
    return workers.Worker(
        st.db, pipeline.executor(st.settings, st.db), workers.WorkerConfig.of(st.settings)
    )


@task_app.command("list")
def task_list(
    ctx: typer.Context,
    mine: Annotated[bool, typer.Option("--mine", help="Only tasks I own.")] = False,
    name: Annotated[str | None, typer.Option("--name", help="Name contains.")] = None,
    app: Annotated[str | None, typer.Option("--app", help="Application.")] = None,
    entity: Annotated[
        str | None, typer.Option("--entity", help="Entity or entity-idfield.")
    ] = None,
    target_type: Annotated[str | None, typer.Option("--target-type")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Task status.")] = None,
    exec_status: Annotated[str | None, typer.Option("--exec-status")] = None,
    schedule_type: Annotated[str | None, typer.Option("--schedule-type")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Owner's login.")] = None,
    datasource: Annotated[
        str | None, typer.Option("--datasource", help="Target data source.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The task list, with every filter of the console."""
    st = state(ctx)
    where = tasks.TaskFilter(
        mine, name, app, entity, target_type, status, exec_status, schedule_type, owner, datasource
    )
    rows = tasks.list_tasks(st.db, st.actor, where, st.settings.tz)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    table = [
        asdict(r)
        | {
            "target": ".".join(p for p in (r.schema, r.target_table) if p) + f" @ {r.datasource}",
            "schedule": r.schedule_type + (f" ({r.schedule_state})" if r.schedule_state else ""),
        }
        for r in rows
    ]
    print_table(
        "Offline services",
        [
            "name",
            "owner",
            "application",
            "audience",
            "entity",
            "entity_id",
            "status",
            "execution_status",
            "target",
            "schedule",
        ],
        table,
    )


@task_app.command("show")
def task_show(ctx: typer.Context, name: Name, as_json: JsonOption = False) -> None:
    """A task's draft configuration, its status, why its last publication failed, and what the
    draft changes in the published version."""
    st = state(ctx)
    spec, details = catalog.show(st.db, "OfflineService", name, actor=st.actor)
    document = documents.dump_spec(spec) | details
    if as_json:
        print_json(document)
        return
    from tagport.services.config_as_code import dump_yaml

    console.print(dump_yaml([document]).rstrip(), markup=False, highlight=False)
    if details["published_revision"] is None:
        console.print("# not published", highlight=False)
    elif not details["unpublished_changes"]:
        console.print(
            f"# published revision {details['published_revision']} is this draft",
            highlight=False,
        )


@task_app.command("ddl")
def task_ddl(ctx: typer.Context, name: Name) -> None:
    """Print the CREATE TABLE statement one-click creation would run."""
    st = state(ctx)
    print(targets.generate_ddl(st.db, st.settings, name, actor=st.actor))


@task_app.command("create-table")
def task_create_table(
    ctx: typer.Context,
    name: Name,
    sql_file: Annotated[
        Path | None, typer.Option("--sql-file", help="An edited statement.")
    ] = None,
) -> None:
    """Create the target table (one click), grant yourself write on it, map fields by name."""
    st = state(ctx)
    sql = read_text(sql_file, "--sql-file") if sql_file else None
    created = targets.create_table(st.db, st.settings, st.actor, name, sql)
    console.print(f"created {created.table.name}; mapping:")
    for m in created.mapping:
        console.print(f"  {m.source} -> {m.target}")


@task_app.command("publish")
def task_publish(ctx: typer.Context, name: Name, wait: Wait = False) -> None:
    """Publish the draft (checked first; `--wait` checks now instead of in the server)."""
    st = state(ctx)
    status = publication.request_publish(st.db, st.actor, name, pending_ok=wait)
    if not wait:
        console.print(
            f"{name}: {status.value}; the server completes it. Follow it with "
            f"`tagport task show {name}`, or complete it now with "
            f"`tagport task publish {name} --wait`",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    result = publication.complete_publication(
        st.db, name, targets.TargetAccess(st.settings).describe
    )
    console.print(f"{name}: {result.status.value}", markup=False, highlight=False)
    if result.problems:
        where = f"publish {name}"
        raise Conflict.gathering([Problem(where, "", p) for p in result.problems])


@task_app.command("unpublish")
def task_unpublish(ctx: typer.Context, name: Name, wait: Wait = False) -> None:
    """Take a task offline; its waiting instances are terminated."""
    st = state(ctx)
    status = publication.request_unpublish(st.db, st.actor, name, pending_ok=wait)
    if wait:
        status = publication.complete_unpublication(st.db, name)
    console.print(f"{name}: {status.value}", markup=False, highlight=False)
    if status is TaskStatus.UNPUBLISH_FAILED:
        reasons = catalog.show(st.db, "OfflineService", name)[1]["failure_reasons"]
        raise Conflict.gathering([Problem(f"unpublish {name}", "", r) for r in reasons])


@task_app.command("delete")
def task_delete(ctx: typer.Context, name: Name) -> None:
    """Delete an offline or publish-failed task."""
    st = state(ctx)
    catalog.delete(st.db, st.actor, "OfflineService", name)
    console.print(f"deleted {name}")


@task_app.command("run")
def task_run(
    ctx: typer.Context,
    name: Name,
    bizdate: Annotated[str | None, typer.Option("--bizdate", help="Default: yesterday.")] = None,
    wait: Wait = False,
) -> None:
    """Run a published manual task for one data timestamp."""
    st = state(ctx)
    day = _date(bizdate, "bizdate", st)
    instance_id = instances.run(st.db, st.actor, name, day, st.settings.tz)
    console.print(f"instance {instance_id}: {name} for {day}")
    if wait:
        _run_here(st, instance_id)


def _run_here(st: State, instance_id: int) -> None:
    """Run the instance on a thread here, printing its log as it grows (what it waits for,
    rows written), then its outcome."""
    startup.resume()  # an export may run for hours
    ended = threading.Event()
    crashed: list[BaseException] = []

    def work() -> None:
        worker = _worker(st)
        try:
            while instances.show(st.db, instance_id).status not in DONE:
                if not worker.run_once(instance_id=instance_id):
                    ended.wait(1)  # another worker has it, or it waits for a retry
        except BaseException as exc:  # reported by the main thread below
            crashed.append(exc)
        finally:
            ended.set()

    threading.Thread(target=work, name=f"instance-{instance_id}", daemon=True).start()
    shown = 0
    while True:
        finished = ended.wait(0.5)
        lines = instances.log_lines(st.db, instance_id)
        for at, attempt, level, message in lines[shown:]:
            console.print(
                f"{at:%H:%M:%S} #{attempt} {level:<7} {message}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        shown = len(lines)
        if finished:
            break
    if crashed:
        raise crashed[0]
    _report(st, instance_id)


def _report(st: State, instance_id: int) -> None:
    view = instances.show(st.db, instance_id)
    console.print(
        f"instance {instance_id}: {view.status}"
        + (f", {view.rows:,} rows" if view.rows is not None else ""),
        markup=False,
        highlight=False,
    )
    if view.status != InstanceStatus.SUCCEEDED.value:
        raise TerminalError(f"instance {instance_id} failed: {view.error}")


@task_app.command("backfill")
def task_backfill(
    ctx: typer.Context,
    name: Name,
    first: Annotated[
        str | None, typer.Option("--from", help="First bizdate (default T-1).")
    ] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last bizdate (default T-1).")] = None,
    groups: Annotated[int, typer.Option("--groups", help="Parallel groups, 1-12.")] = 1,
    wait: Wait = False,
) -> None:
    """Backfill a published recurring task over a range of data timestamps."""
    st = state(ctx)
    start, end = _date(first, "from", st), _date(last, "to", st)
    backfill_id = instances.backfill(st.db, st.actor, name, start, end, groups, st.settings.tz)
    total = (end - start).days + 1
    console.print(f"backfill {backfill_id}: {name}, {start} to {end}, {groups} group(s)")
    if wait:
        _backfill_here(st, backfill_id, total, groups)


def _backfill_here(st: State, backfill_id: int, total: int, groups: int) -> None:
    startup.resume()  # a backfill may run for hours
    stop = threading.Event()

    def work() -> None:
        worker = _worker(st)
        while not stop.is_set():
            if not worker.run_once(backfill_id=backfill_id):
                stop.wait(0.5)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(groups)]
    for thread in threads:
        thread.start()
    columns = (TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        job = bar.add_task("days", total=total)
        while True:
            views = instances.list_instances(st.db, limit=total, backfill_id=backfill_id)
            done = sum(v.status in DONE for v in views)
            bar.update(job, completed=done)
            if done >= total:
                break
            time.sleep(0.5)
    stop.set()
    state_now = instances.backfill_state(st.db, backfill_id)
    console.print(f"backfill {backfill_id}: {state_now}")
    if state_now != "succeeded":
        failed = [v for v in views if v.status == InstanceStatus.FAILED.value]
        raise TerminalError.gathering(
            [Problem(f"instance {v.id}", str(v.bizdate), v.error or "failed") for v in failed]
            or [Problem(f"backfill {backfill_id}", "", state_now)]
        )


@instance_app.command("list")
def instance_list(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option("--task", help="Only this task's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Instances, newest first."""
    st = state(ctx)
    views = instances.list_instances(st.db, task, actor=st.actor)
    if as_json:
        print_json([asdict(v) for v in views])
        return
    print_table(
        "Instances",
        [
            "id",
            "task",
            "bizdate",
            "trigger",
            "status",
            "attempts",
            "rows",
            "seconds",
            "started_at",
            "error",
        ],
        [asdict(v) for v in views],
    )


InstanceId = Annotated[int, typer.Argument(help="The instance id.", min=1, max=MAX_ID)]


@instance_app.command("show")
def instance_show(ctx: typer.Context, instance_id: InstanceId, as_json: JsonOption = False) -> None:
    st = state(ctx)
    view = asdict(instances.show(st.db, instance_id, actor=st.actor))
    if as_json:
        print_json(view)
    else:
        for key, value in view.items():
            console.print(
                f"{key:>15}  {'' if value is None else value}", markup=False, highlight=False
            )


@instance_app.command("log")
def instance_log(ctx: typer.Context, instance_id: InstanceId) -> None:
    """The instance's log: every attempt, with progress."""
    st = state(ctx)
    for at, attempt, level, message in instances.log_lines(st.db, instance_id, actor=st.actor):
        console.print(
            f"{at:%Y-%m-%d %H:%M:%S} #{attempt} {level:<7} {message}", markup=False, highlight=False
        )


@instance_app.command("rerun")
def instance_rerun(ctx: typer.Context, instance_id: InstanceId, wait: Wait = False) -> None:
    st = state(ctx)
    instances.rerun(st.db, st.actor, instance_id)
    console.print(f"instance {instance_id}: waiting")
    if wait:
        _run_here(st, instance_id)


@instance_app.command("terminate")
def instance_terminate(ctx: typer.Context, instance_id: InstanceId) -> None:
    st = state(ctx)
    instances.terminate(st.db, st.actor, instance_id)
    console.print(f"instance {instance_id}: failed (terminated)")
