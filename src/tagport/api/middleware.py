"""What every response gets: a request id (also in the server log), security headers, and one
access-log line. Pure ASGI, so that streamed responses (SSE logs) pass through untouched."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("tagport.api.access")

SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"cross-origin-opener-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
    b"content-security-policy": (
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'self'; "
        b"form-action 'self'"
    ),
}
"""The usual set; the console and the API docs load nothing from elsewhere."""
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""A client's own `X-Request-Id` is kept when it looks like one (log-safe), else replaced."""


def _incoming_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if REQUEST_ID.fullmatch(text):
                return text
    return secrets.token_hex(8)


class RequestContext:
    """Sets `request.state.request_id`, adds security headers and `X-Request-Id`, logs."""

    def __init__(self, app: ASGIApp, *, secure_cookies: bool = False) -> None:
        self.app = app
        self.hsts = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope)
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started, status = time.perf_counter(), [500]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            log.info(
                "%s %s %s %d %.1fms",
                request_id,
                scope["method"],
                scope["path"],
                status[0],
                (time.perf_counter() - started) * 1000,
            )
