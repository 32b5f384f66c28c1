"""The console's message catalogues: every label in both languages, every key used defined."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest

from tagport.web.i18n import Translator, UntranslatedMessage, catalogue, negotiate

WEB = Path(str(files("tagport.web")))
KEY_USE = re.compile(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']\s*[,)]""")
"""A literal key: `t("nav.tasks")`, `t('common.page_of', page=1)`; not `t("status." ~ value)`."""
SAME_IN_BOTH = {"common.ok"}
"""Keys whose Chinese text may equal the English one (none yet but names and symbols)."""


def _used_keys() -> set[str]:
    sources = [*WEB.rglob("*.html"), *(p for p in WEB.rglob("*.py") if p.name != "i18n.py")]
    return {key for path in sources for key in KEY_USE.findall(path.read_text("utf-8"))}


def test_both_languages_have_the_same_keys() -> None:
    english, chinese = set(catalogue("en")), set(catalogue("zh"))
    assert sorted(english - chinese) == [], "missing in Chinese"
    assert sorted(chinese - english) == [], "missing in English"


def test_every_key_a_page_names_is_in_the_catalogue() -> None:
    used = _used_keys()
    assert len(used) > 20
    assert sorted(used - set(catalogue("en"))) == []


def test_no_chinese_message_is_an_english_one_left_as_it_was() -> None:
    english, chinese = catalogue("en"), catalogue("zh")
    copied = [
        k
        for k in english
        if k not in SAME_IN_BOTH and re.search("[a-z]{4}", chinese[k]) and chinese[k] == english[k]
    ]
    assert copied == []


def test_the_placeholders_of_a_message_are_the_same_in_both_languages() -> None:
    field = re.compile(r"\{(\w+)\}")
    english, chinese = catalogue("en"), catalogue("zh")
    differ = [
        k for k in english if set(field.findall(english[k])) != set(field.findall(chinese[k]))
    ]
    assert differ == []


@pytest.mark.parametrize(
    ("header", "chosen", "language"),
    [
        (None, None, "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh"),
        ("en-GB,en;q=0.9,zh;q=0.8", None, "en"),
        ("fr-FR,zh-TW;q=0.5", None, "zh"),
        ("zh;q=0.2,en;q=0.9", None, "en"),
        ("zh;q=0", None, "en"),
        ("de", None, "en"),
        ("zh-CN", "en", "en"),
        ("en", "zh", "zh"),
        ("en", "xx", "en"),
        ("zh;q=bad", None, "en"),
    ],
)
def test_the_language_is_the_users_choice_else_the_browsers_best(
    header: str | None, chosen: str | None, language: str
) -> None:
    assert negotiate(header, chosen) == language


def test_a_missing_label_fails_in_strict_mode_and_falls_back_otherwise() -> None:
    with pytest.raises(UntranslatedMessage, match=r"no zh message 'nav\.nowhere'"):
        Translator("zh", strict=True)("nav.nowhere")
    assert Translator("zh")("nav.nowhere") == "nav.nowhere"
    assert (
        Translator("zh")("common.page_of", page=1, pages=2, total=30) == "第 1 / 2 页（共 30 条）"
    )
