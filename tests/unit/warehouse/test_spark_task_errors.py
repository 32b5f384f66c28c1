"""An error raised in a Spark task's Python code (a target's, while the task loads its slice)
reaches the user as the error it was there, in its own words, not as Spark's traceback."""

from __future__ import annotations

import pytest

from tagport.errors import TagportError, TerminalError, TransientError
from tagport.warehouse.spark import _task_error

TRACEBACK = """[PYTHON_EXCEPTION] An exception was thrown from the Python worker: Traceback (most \
recent call last):
  File "/x/tagport/warehouse/spark.py", line 665, in load
    sink(name, pa.RecordBatchReader.from_batches(schema, shaped()))
{last}
 SQLSTATE: 38000"""


class PythonException(Exception):
    """Stands in for pyspark's, which `_task_error` also knows by its name in the text."""

    def __str__(self) -> str:
        return "org.apache.spark.api.python.PythonException: " + super().__str__()


@pytest.mark.parametrize(
    ("last", "kind", "message"),
    [
        (
            "tagport.errors.TransientError: connection to 10.0.0.5:5432 refused",
            TransientError,
            "exporting audience group g: connection to 10.0.0.5:5432 refused",
        ),
        (
            "tagport.errors.TerminalError: value too long for type character varying(2)",
            TerminalError,
            "exporting audience group g: value too long for type character varying(2)",
        ),
        (
            "ModuleNotFoundError: No module named 'tagport'",
            TerminalError,
            "exporting audience group g: ModuleNotFoundError: No module named 'tagport'",
        ),
    ],
)
def test_a_task_error_is_told_as_it_was_raised(
    last: str, kind: type[TagportError], message: str
) -> None:
    error = _task_error(PythonException(TRACEBACK.format(last=last)), "exporting audience group g")
    assert type(error) is kind
    assert str(error) == message


def test_other_spark_errors_are_left_to_the_general_translation() -> None:
    error = Exception("[TABLE_OR_VIEW_NOT_FOUND] The table `p`.`t` cannot be found.")
    assert _task_error(error, "exporting") is None
