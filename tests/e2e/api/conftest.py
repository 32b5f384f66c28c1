"""The API over real HTTP: uvicorn on a free loopback port in a thread, httpx as the client,
on SQLite and PostgreSQL metadata (the `db` fixture of the integration tests).

Every test is also a leak check: after it, no answer any client received (but the one that
created a token), no log line and no audit entry may contain a token the test made or a secret
it registered with `secret(...)` (data source passwords, login passwords).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from tagport.api.app import create_app
from tagport.config import Settings
from tagport.domain.catalog import Role, UserSpec
from tagport.services import tokens, users
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.db import Database
from tests.integration.conftest import (  # noqa: F401  (the metadata fixtures, both engines)
    catalogued,
    db,
    db_url,
    operator,
    pg_store,
    pg_templates,
    sqlite_templates,
)

MakeClient = Callable[..., httpx.Client]


@dataclass
class Leaks:
    """What a test exposed (answers, log lines) and the secrets none of it may contain: only a
    token's creation shows the token, only a login's Set-Cookie the session."""

    secrets: set[str] = field(default_factory=set)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def record(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        if request.method == "POST" and request.url.path == "/api/v1/tokens":
            return  # the one answer that shows a token: its creation
        login = request.method == "POST" and request.url.path == "/api/v1/session"
        headers = "\n".join(
            f"{k}: {v}"
            for k, v in response.headers.items()
            if not (login and k == "set-cookie")  # a login hands out its session cookie
        )
        self.seen.append((f"{request.method} {request.url.path}", headers + "\n" + response.text))

    def check(self, extra: list[tuple[str, str]]) -> None:
        for where, text in self.seen + extra:
            for secret in self.secrets:
                assert secret not in text, f"a secret leaked into {where}"


CLIENT_LOGGERS = ("httpx", "httpcore", "hpack")


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(CLIENT_LOGGERS):  # the test's own client sees secrets
            self.lines.append(self.format(record))


@pytest.fixture
def leaks(db: Database) -> Iterator[Leaks]:  # noqa: F811
    found, capture = Leaks(), _LogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    server_loggers = [logging.getLogger(name) for name in ("tagport", "uvicorn")]
    levels = [logger.level for logger in server_loggers]
    for logger in server_loggers:
        logger.setLevel(logging.DEBUG)
    yield found
    root.removeHandler(capture)
    for logger, level in zip(server_loggers, levels, strict=True):
        logger.setLevel(level)
    with db.uow() as uow:
        entries = [
            (f"audit entry {e.id}", json.dumps([e.before, e.after], default=str))
            for e in uow.session.scalars(select(t.AuditEntry))
        ]
    found.check([*entries, *(("server log", line) for line in capture.lines)])


@pytest.fixture
def secret(leaks: Leaks) -> Callable[[str], str]:
    """Register a secret the test uses: the leak check fails if anything shows it."""

    def register(value: str) -> str:
        leaks.secrets.add(value)
        return value

    return register


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home)


@pytest.fixture
def api_url(settings: Settings, db: Database) -> Iterator[str]:  # noqa: F811
    """The base URL of the API of `db`, served for the test's duration."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(settings, db, strict_messages=True),
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def client(
    api_url: str,
    db: Database,  # noqa: F811
    operator: Actor,  # noqa: F811
    leaks: Leaks,
) -> Iterator[MakeClient]:
    """`client(login=None, roles=())`: an httpx client with a token of `login` (created with
    `roles` when missing); no login: anonymous."""
    opened: list[httpx.Client] = []

    def make(login: str | None = None, roles: tuple[Role, ...] = ()) -> httpx.Client:
        headers = {}
        if login is not None:
            if not any(u.name == login for u in users.search(db, login)):
                users.add_user(db, operator, UserSpec(name=login, roles=list(roles)))
            token = tokens.create_token(db, operator, login, "test", 1).token
            leaks.secrets.add(token)
            headers["Authorization"] = f"Bearer {token}"
        made = httpx.Client(
            base_url=api_url,
            headers=headers,
            timeout=30,
            event_hooks={"response": [leaks.record]},
        )
        opened.append(made)
        return made

    yield make
    for made in opened:
        made.close()
