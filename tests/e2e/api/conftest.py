"""The API over real HTTP: uvicorn on a free loopback port in a thread, httpx as the client,
on SQLite and PostgreSQL metadata (the `db` fixture of the integration tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from tagport.api.app import create_app
from tagport.config import Settings
from tagport.domain.catalog import Role, UserSpec
from tagport.services import tokens, users
from tagport.services.permissions import Actor
from tagport.store.db import Database
from tests.integration.conftest import catalogued, db, db_url, operator  # noqa: F401

MakeClient = Callable[..., httpx.Client]


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home)


@pytest.fixture
def api_url(settings: Settings, db: Database) -> Iterator[str]:  # noqa: F811
    """The base URL of the API of `db`, served for the test's duration."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(settings, db), log_level="warning", timeout_graceful_shutdown=1
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
            headers["Authorization"] = f"Bearer {token}"
        made = httpx.Client(base_url=api_url, headers=headers, timeout=30)
        opened.append(made)
        return made

    yield make
    for made in opened:
        made.close()
