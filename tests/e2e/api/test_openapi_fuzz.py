"""schemathesis against the OpenAPI document: every operation, as a super admin and as an
ordinary member, over real HTTP. No answer may be a 5xx, and every answer must match the
document (status declared, body and content type as described, authentication enforced)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig

from tagport.api.app import create_app
from tagport.config import Settings
from tagport.domain.catalog import Role, UserSpec
from tagport.services import catalog, config_as_code, tokens, users
from tagport.store.db import Database
from tests.integration.conftest import EXAMPLES, SECRET

pytestmark = pytest.mark.slow  # about 2 minutes of test time: in `make test`, not test-fast

DEEP = bool(os.environ.get("TAGPORT_FUZZ_DEEP"))
"""A deeper run: `TAGPORT_FUZZ_DEEP=1 make test PYTEST_ARGS=tests/e2e/api/test_openapi_fuzz.py`
(200 generated cases per operation, every operation's coverage phase)."""
EXAMPLES_PER_OPERATION = int(os.environ.get("TAGPORT_FUZZ_EXAMPLES", "200" if DEEP else "10"))
"""Generated cases per operation (each sent as both callers), derandomized: the same in every
run. 10 keep the suite's fuzz to about a minute of CPU (25 took 3.5)."""
RULE_BODIES = r"^(POST|PUT) /api/v1/audience-groups(/\{key\})?$"
"""The operations whose body holds a rule tree. schemathesis's coverage phase (every boundary
and wrong type of every field, deterministic) makes 3,700 cases of each of them, 62 % of the
fuzz's calls; outside a deep run they get the generated cases only. The rule language itself
is checked by the property tests of the rule compiler (`tests/integration/warehouse`)."""
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "ignored_auth",
)


@dataclass(frozen=True)
class FuzzTarget:
    url: str
    db: Database


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """One server on SQLite metadata with the example catalog, for every fuzzed operation."""
    home = tmp_path_factory.mktemp("fuzz") / "home"
    settings_ = Settings(home=home, database_url=f"sqlite:///{home.parent / 'meta.db'}")
    db = Database(settings_.metadata_url, SECRET)
    db.upgrade()
    users.init_operator(db)
    operator = users.actor_for(db, None)
    documents, problems = config_as_code.read_documents([EXAMPLES])
    catalog.apply(db, operator, documents, problems=problems)
    users.add_user(db, operator, UserSpec(name="fuzz_admin", roles=[Role.SUPER_ADMIN]))
    users.add_user(db, operator, UserSpec(name="fuzz_member"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings_, db), log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield FuzzTarget(f"http://127.0.0.1:{sock.getsockname()[1]}", db)
    server.should_exit = True
    thread.join(10)
    db.dispose()


def _document() -> dict[str, Any]:
    """The app's OpenAPI document, made without serving (the routes need no database for it)."""
    app = create_app(Settings(home=Path("/nonexistent")), Database("sqlite://"))
    return app.openapi()


CONFIG = SchemathesisConfig.from_dict(
    {}
    if DEEP
    else {
        "operations": [
            {
                # One filter (a name is "METHOD PATH"): separate include filters are or-ed.
                "include-name-regex": RULE_BODIES,
                "phases": {"coverage": {"enabled": False}},
            }
        ]
    }
)
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)


@pytest.fixture
def bearers(fuzz_target: FuzzTarget) -> list[dict[str, str]]:
    """Fresh tokens per operation, a member's then a super admin's: a fuzzed
    DELETE /tokens/{id} revokes only tokens of this operation's run."""
    operator = users.actor_for(fuzz_target.db, None)
    made = [
        tokens.create_token(fuzz_target.db, operator, login, "fuzz", 1).token
        for login in ("fuzz_member", "fuzz_admin")
    ]
    return [{"Authorization": f"Bearer {token}"} for token in made]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_operation_fails_or_breaks_its_schema(
    case: schemathesis.Case, fuzz_target: FuzzTarget, bearers: list[dict[str, str]]
) -> None:
    checks = [check for check in CHECKS.get_all() if check.__name__ in CHECK_NAMES]
    for bearer in bearers:
        case.call_and_validate(base_url=fuzz_target.url, headers=bearer, checks=checks)


def test_the_document_is_openapi_3_1_with_every_route_under_the_version(
    fuzz_target: FuzzTarget,
) -> None:
    import httpx

    document = httpx.get(f"{fuzz_target.url}/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert all(path.startswith("/api/v1/") for path in document["paths"])
    docs = httpx.get(f"{fuzz_target.url}/api/docs")
    assert docs.status_code == 200 and "/api/docs-assets/swagger-ui-bundle.js" in docs.text
    assert httpx.get(f"{fuzz_target.url}/api/docs-assets/swagger-ui-bundle.js").status_code == 200
