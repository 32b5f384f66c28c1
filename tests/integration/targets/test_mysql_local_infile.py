"""A MySQL server may ask the client for any file (LOAD DATA LOCAL); tagport answers only with
the stream it opened for its own LOAD DATA statement (issue 17, finding 1)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from tagport.errors import TerminalError
from tagport.targets.base import ColumnInfo, ConnectionParams, ProgressMeter, TableInfo
from tagport.targets.mysql import MySqlTarget
from tests.integration.targets.fake_mysql import FakeMySqlServer

SECRET = b"TOP-SECRET-KEY-0123456789"
MEMBERS = TableInfo(None, "members", (ColumnInfo("user_id", "bigint", False),), ("user_id",))
GENERATED = "CREATE TABLE `members` (\n  `user_id` bigint NOT NULL,\n  PRIMARY KEY (`user_id`)\n)"


def _load(target: MySqlTarget) -> None:
    batches = pa.RecordBatchReader.from_batches(
        pa.schema([("user_id", pa.int64())]),
        [pa.record_batch([pa.array([1, 2, 3])], names=["user_id"])],
    )
    target._bulk_load("`members`", MEMBERS, batches, ProgressMeter(None))


# Every kind of connection tagport makes to a target: publishing's describe, listing,
# the connection test, one-click creation (its existence check and its DDL), and the load.
OPERATIONS: dict[str, tuple[str, Callable[[MySqlTarget], object]]] = {
    "connect": ("SET", lambda t: t.test_connection()),
    "test_connection": ("SELECT 1", lambda t: t.test_connection()),
    "describe": ("information_schema.columns", lambda t: t.describe_table("members")),
    "list_tables": ("information_schema.tables", lambda t: t.list_tables()),
    "create_table": ("CREATE TABLE", lambda t: t.create_table(GENERATED)),
    "load_data": ("LOAD DATA", _load),
}


@pytest.fixture
def secret_key(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "secret.key"
    path.write_bytes(SECRET)
    return path


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_server_asking_for_the_secret_key_gets_nothing(secret_key: Path, operation: str) -> None:
    trigger, run = OPERATIONS[operation]
    with FakeMySqlServer(str(secret_key), only_for=trigger) as server:
        target = MySqlTarget(
            ConnectionParams(host="127.0.0.1", port=server.port, database="d", username="u")
        )
        with pytest.raises(TerminalError, match=r"asked for local file .*secret\.key.* refused"):
            run(target)
        target.close()
    assert server.requests == 1, server.queries
    assert SECRET not in server.received_after_request
    assert server.received_after_request == b""  # not even an empty "end of file" packet


def test_our_own_load_still_sends_its_stream_and_only_once(mysql_target: MySqlTarget) -> None:
    mysql_target.create_table(GENERATED)
    _load(mysql_target)
    assert mysql_target._query("SELECT count(*) FROM members") == [(3,)]
    assert mysql_target.conn.allowed_local_file is None  # the offer ends with the statement
