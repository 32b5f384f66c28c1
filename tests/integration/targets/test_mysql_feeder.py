"""The thread that feeds LOAD DATA LOCAL through a named pipe always ends, however late it
starts: a refused LOAD DATA must not leave the export waiting for ever."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from tagport.targets.base import ProgressMeter
from tagport.targets.mysql import _FifoFeeder


class LateFeeder(_FifoFeeder):
    """A feeder whose thread reaches the pipe only after `finish` has been called."""

    def _feed(self) -> None:
        time.sleep(0.3)
        super()._feed()


@pytest.mark.parametrize("feeder", [_FifoFeeder, LateFeeder])
def test_a_feeder_never_read_from_ends_when_finished(
    tmp_path: Path, feeder: type[_FifoFeeder]
) -> None:
    path = str(tmp_path / "rows.csv")
    os.mkfifo(path, 0o600)
    batch = pa.RecordBatch.from_pydict({"id": [1, 2, 3]})
    made = feeder(
        path, pa.RecordBatchReader.from_batches(batch.schema, [batch]), ProgressMeter(None)
    )
    finishing = threading.Thread(target=made.finish, daemon=True)
    finishing.start()
    finishing.join(10)  # a bound only a hung feeder reaches
    assert not finishing.is_alive(), "finish() waits for ever on a writer blocked in open()"
    assert not made.started_reading and made.error is None
