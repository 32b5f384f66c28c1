"""Save-time checks of audience groups, and the warehouse use cases through the CLI."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tagport.cli.main import run
from tagport.config import Settings
from tagport.domain.dates import PartitionFormat
from tagport.domain.tasks import TagOutput
from tagport.errors import InvalidInput
from tagport.services import catalog, config_as_code, warehouse
from tagport.services.permissions import Actor
from tagport.services.users import actor_for
from tagport.store.db import Database
from tagport.warehouse.base import ExportColumn

CATALOG = """
kind: Project
name: tag_prod
members: [operator]
---
kind: Entity
code: user
name: User
project: tag_prod
id_field: user_id
id_type: bigint
---
kind: LookupTable
code: city_codes
name: City
codes: {"571": Hangzhou, "21": Shanghai}
---
kind: Tag
code: city
name: City
entity: user
value_type: string
source: {table: tag_prod.user_profile, key: user_id, column: city_code}
lookup: city_codes
---
kind: Tag
code: is_vip
name: VIP
entity: user
value_type: boolean
source: {table: tag_prod.user_profile, key: user_id, column: is_vip}
"""


def apply(db: Database, actor: Actor, tmp_path: Path, body: str) -> None:
    file = tmp_path / "doc.yaml"
    file.write_text(CATALOG + "---\n" + body)
    documents, problems = config_as_code.read_documents([file])
    catalog.apply(db, actor, documents, problems=problems)


def test_bad_rule_is_refused_naming_each_condition(
    db: Database, operator: Actor, tmp_path: Path
) -> None:
    body = """
kind: AudienceGroup
code: bad
name: Bad
entity: user
owner: operator
rule:
  all:
    - {tag: city, op: "=", value: "999"}
    - any:
        - {tag: is_vip, op: ">", value: true}
        - {tag: is_vip, op: "=", value: "yes"}
"""
    with pytest.raises(InvalidInput) as caught:
        apply(db, operator, tmp_path, body)
    text = str(caught.value)
    assert "rule.all[0]: code '999' is not in the tag's lookup table" in text
    assert "rule.all[1].any[0]: operator > is not valid for a boolean tag" in text
    assert "rule.all[1].any[1]: value 'yes' is not true or false" in text


def test_bad_import_file_is_refused_with_line_numbers(
    db: Database, operator: Actor, tmp_path: Path
) -> None:
    (tmp_path / "ids.txt").write_text("1\n2\nabc\n4\n-\n")
    body = (
        "kind: AudienceGroup\ncode: imp\nname: I\nentity: user\nowner: operator\nimport: ids.txt\n"
    )
    with pytest.raises(InvalidInput) as caught:
        apply(db, operator, tmp_path, body)
    text = str(caught.value)
    assert "ids.txt: line 3: 'abc' is not a bigint ID" in text
    assert "ids.txt: line 5" in text


def test_non_select_sql_is_refused(db: Database, operator: Actor, tmp_path: Path) -> None:
    body = (
        "kind: AudienceGroup\ncode: q\nname: Q\nentity: user\nowner: operator\n"
        "sql: DELETE FROM tag_prod.user_profile\n"
    )
    with pytest.raises(InvalidInput, match="sql: must be a SELECT statement, not DELETE"):
        apply(db, operator, tmp_path, body)


def test_cli_demo_estimate_members_and_warehouse_commands(
    engine_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init"]) == 0
    assert run(["demo", "data", "--rows", "2000"]) == 0
    out = capsys.readouterr().out
    assert "audience big_spenders" in out
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    assert run(["audience", "estimate", "crm_seed_users", "--bizdate", yesterday]) == 0
    size = int(capsys.readouterr().out.strip())
    assert 0 < size <= 2000
    assert (
        run(
            ["audience", "members", "big_spenders", "--bizdate", yesterday, "--size", "2", "--json"]
        )
        == 0
    )
    assert '"ids"' in capsys.readouterr().out
    assert run(["audience", "import", "crm_seed_users"]) == 0
    assert "duplicates dropped" in capsys.readouterr().out
    csv = tmp_path / "extra.csv"
    csv.write_text("user_id,score\n1,3\n")
    assert run(["warehouse", "import", "tag_prod.extra", str(csv), "--ds", yesterday]) == 0
    assert run(["warehouse", "sql", "SELECT score FROM tag_prod.extra", "--json"]) == 0
    assert '"score": 3' in capsys.readouterr().out
    assert run(["warehouse", "sql", "DROP TABLE tag_prod.extra"]) == 3
    assert "must be a SELECT statement, not DROP" in capsys.readouterr().err
    assert run(["audience", "estimate", "nope"]) == 4


def test_import_audience_is_stored_and_reloaded_when_its_file_changes(
    db: Database, operator: Actor, tmp_path: Path, engine_home: Path
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("1\n2\n2\n")
    body = (
        "kind: AudienceGroup\ncode: imp\nname: I\nentity: user\nowner: operator\nimport: ids.txt\n"
    )
    apply(db, operator, tmp_path, body)
    settings = Settings()
    parsed = warehouse.import_audience(settings, db, operator, "imp")
    assert (parsed.count, parsed.duplicates) == (2, 1)
    day = date(2024, 1, 1)
    assert warehouse.estimate(settings, db, operator, "imp", day) == 2
    ids.write_text("7\n")
    assert warehouse.estimate(settings, db, operator, "imp", day) == 1
    assert warehouse.members_page(settings, db, operator, "imp", day).ids == [7]
    ids.write_text("7\nseven\n")
    with pytest.raises(InvalidInput, match="line 2: 'seven' is not a bigint ID"):
        warehouse.estimate(settings, db, operator, "imp", day)


def test_service_export_of_the_demo_streams_the_planned_columns(
    engine_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init"]) == 0
    assert run(["demo", "data", "--rows", "3000"]) == 0
    settings = Settings()
    db = Database(settings.metadata_url, settings.secret)
    operator = actor_for(db, None)
    yesterday = date.today() - timedelta(days=1)
    tags = [TagOutput(tag="city", outputs=["value", "codename"]), TagOutput(tag="total_spend")]
    columns = [
        ExportColumn("uid", "user_id"),
        ExportColumn("city_name", "city_codename"),
        ExportColumn("spend", "total_spend"),
    ]
    plan = warehouse.export_plan(
        db,
        "big_spenders",
        yesterday,
        tags,
        columns,
        ["uid"],
        "dt",
        PartitionFormat.DASHED,
        reader="operator",
    )
    table = warehouse.export_reader(settings, plan, batch_size=50).read_all()
    assert table.column_names == ["uid", "city_name", "spend", "dt"]
    assert (
        table.num_rows == warehouse.estimate(settings, db, operator, "big_spenders", yesterday) > 0
    )
    assert set(table.column("dt").to_pylist()) == {yesterday.isoformat()}
    assert all(s > 5000 for s in table.column("spend").to_pylist())
    db.dispose()
