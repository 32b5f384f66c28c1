"""Config as code: read YAML documents for `apply`; write the catalog back for `export`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tagport.domain.catalog import AudienceGroupSpec, Spec
from tagport.domain.documents import KINDS, dump_spec, kind_named, parse_spec
from tagport.errors import InvalidInput, Problem
from tagport.services import catalog
from tagport.services.catalog import Document
from tagport.services.permissions import Actor
from tagport.store.db import Database

YAML_SUFFIXES = (".yaml", ".yml")


def yaml_files(path: Path) -> list[Path]:
    """`path` itself, or every YAML file below it in name order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
    if path.is_file():
        return [path]
    raise InvalidInput.one(str(path), "", "no such file or directory")


def _resolve_paths(spec: Spec, base: Path) -> Spec:
    # An audience group's import file is relative to the YAML file that names it.
    if isinstance(spec, AudienceGroupSpec) and spec.import_ is not None:
        resolved = (base / spec.import_).resolve()
        return spec.model_copy(update={"import_": str(resolved)})
    return spec


def read_documents(paths: Iterable[Path]) -> tuple[list[Document], list[Problem]]:
    """Every document in `paths`, and every problem found parsing them (none are fatal here)."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for root in paths:
        for file in yaml_files(root):
            try:
                loaded = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
            except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
                problems.append(Problem(str(file), "", f"not readable YAML: {exc}"))
                continue
            for index, raw in enumerate(loaded, start=1):
                if raw is None:  # an empty document between two ---
                    continue
                where = f"{file}#{index}"
                try:
                    spec = parse_spec(raw, where)
                except InvalidInput as exc:
                    problems.extend(exc.problems)
                    continue
                documents.append(Document(_resolve_paths(spec, file.parent), where))
    return documents, problems


def export_documents(
    db: Database, kinds: Iterable[str] | None = None, *, actor: Actor | None = None
) -> list[dict[str, Any]]:
    """The catalog as documents (passwords never included), in dependency order; only what
    `actor` may see, when given."""
    wanted = [kind_named(k).kind for k in kinds] if kinds else list(KINDS)
    return [
        dump_spec(spec)
        for kind in KINDS
        if kind in wanted
        for spec, _ in catalog.list_objects(db, kind, actor=actor)
    ]


def dump_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True, width=100)
