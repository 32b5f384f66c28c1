"""One message catalogue per language, every label of the console through it.

A language's catalogue is every TOML file in `messages/<language>/`; a file's name is the first
part of its keys (`tasks.toml`'s `[list] title` is `tasks.list.title`), so that each page's labels
live beside each other and pages can grow without touching one shared file. The language is the
user's choice, else the best match of the browser's `Accept-Language`, else English.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from tagport.services.users import LANGUAGES

DEFAULT = "en"
log = logging.getLogger(__name__)


class UntranslatedMessage(KeyError):
    """A label missing from a catalogue (raised in strict mode: tests, never in production)."""


def _flatten(prefix: str, table: Mapping[str, Any], into: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            _flatten(name, value, into)
        else:
            into[name] = str(value)


@cache
def catalogue(language: str) -> Mapping[str, str]:
    """Every message of `language`, by dotted key."""
    messages: dict[str, str] = {}
    folder = files("tagport.web") / "messages" / language
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".toml"):
            _flatten(
                item.name.removesuffix(".toml"), tomllib.loads(item.read_text("utf-8")), messages
            )
    return messages


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The user's chosen language, else the browser's preferred one we have, else English."""
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else DEFAULT


@dataclass(frozen=True)
class Translator:
    """`t("tasks.list.title", count=3)`: the message of `key` in `language`, formatted.

    A key missing from the language falls back to English (logged); in strict mode it raises,
    so that a test fails on any untranslated label.
    """

    language: str
    strict: bool = False

    def __call__(self, key: str, /, **params: object) -> str:
        text = catalogue(self.language).get(key)
        if text is None:
            if self.strict:
                raise UntranslatedMessage(f"no {self.language} message {key!r}")
            log.warning("no %s message %r", self.language, key)
            text = catalogue(DEFAULT).get(key, key)
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        """Whether `key` has a message (for labels made of data, such as a status)."""
        return key in catalogue(self.language)
