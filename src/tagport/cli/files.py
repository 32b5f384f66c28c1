"""Files a person names on the command line: read and written with one-line errors."""

from __future__ import annotations

from pathlib import Path

from tagport.errors import InvalidInput


def read_text(path: Path, option: str) -> str:
    """The UTF-8 text of `path`, or InvalidInput naming the option and why it is unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput.one(str(path), option, "is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput.one(str(path), option, _reason(exc)) from None


def write_text(path: Path, text: str, option: str) -> None:
    """Write `text` to `path` (UTF-8), or InvalidInput naming the option and why it failed."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput.one(str(path), option, _reason(exc)) from None


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()
