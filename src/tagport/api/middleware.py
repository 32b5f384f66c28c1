"""What every response gets: a request id (also in the server log), security headers, and one
access-log line. Pure ASGI, so that streamed responses (SSE logs) pass through untouched."""

from __future__ import annotations

import json
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
MAX_BODY_BYTES = 260 * 1024 * 1024
"""The largest request body announced by Content-Length (an import file of 256 MiB and its
form around it): a larger one is refused before a byte of it is read or stored."""
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""A client's own `X-Request-Id` is kept when it looks like one (log-safe), else replaced."""


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def _too_large(send: Send, request_id: str) -> None:
    body = json.dumps(
        {
            "type": "urn:tagport:problem:request.too_large",
            "title": "Payload too large",
            "status": 413,
            "detail": f"the body is larger than {MAX_BODY_BYTES // 2**20} MiB",
            "code": "request.too_large",
            "request_id": request_id,
            "errors": [],
        }
    ).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
        send_with_headers = self._headers_added(send, request_id, status)
        try:
            if _declared_length(scope) > MAX_BODY_BYTES:
                await _too_large(send_with_headers, request_id)
            else:
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

    def _headers_added(self, send: Send, request_id: str, status: list[int]) -> Send:
        """`send`, adding the security headers and the request id to the response's start
        (and noting its status in `status[0]` for the access log)."""

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

        return send_with_headers
