"""A hostile MySQL server on 127.0.0.1 that speaks just enough of the protocol to ask for a file.

It greets, accepts any login with an OK packet, then answers queries: every query (or only
those containing `only_for`) gets a LOCAL INFILE request for `wanted`, the others an OK.
Everything the client sends after a file request is kept in `received_after_request`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

CAPABILITIES = (
    0x1
    | 0x2
    | 0x4
    | 0x8  # long password, found rows, long flag, connect with db
    | 0x80  # LOCAL_FILES
    | 0x200
    | 0x2000
    | 0x8000  # protocol 41, transactions, secure connection
    | 0x10000
    | 0x20000
    | 0x80000  # multi statements, multi results, plugin auth
)
AUTOCOMMIT = 0x2
OK = b"\x00\x00\x00" + struct.pack("<HH", AUTOCOMMIT, 0)


def _packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def _handshake() -> bytes:
    salt = b"abcdefgh" + b"ijklmnopqrst"
    return (
        b"\x0a5.7.99-hostile\x00"
        + struct.pack("<I", 7)
        + salt[:8]
        + b"\x00"
        + struct.pack("<H", CAPABILITIES & 0xFFFF)
        + bytes([45])  # utf8mb4
        + struct.pack("<H", AUTOCOMMIT)
        + struct.pack("<H", CAPABILITIES >> 16)
        + bytes([21])
        + b"\x00" * 10
        + salt[8:]
        + b"\x00"
        + b"mysql_native_password\x00"
    )


class FakeMySqlServer:
    """Serves one client connection at a time until closed; use as a context manager."""

    def __init__(self, wanted: str, only_for: str | None = None) -> None:
        self.wanted, self.only_for = wanted, only_for
        self.queries: list[str] = []
        self.requests = 0
        self.received_after_request = b""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def __enter__(self) -> FakeMySqlServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            with client:
                client.settimeout(2)
                with contextlib.suppress(OSError):
                    self._session(client)

    @staticmethod
    def _read(client: socket.socket) -> tuple[int, bytes] | None:
        header = b""
        while len(header) < 4:
            chunk = client.recv(4 - len(header))
            if not chunk:
                return None
            header += chunk
        length, seq = int.from_bytes(header[:3], "little"), header[3]
        payload = b""
        while len(payload) < length:
            chunk = client.recv(length - len(payload))
            if not chunk:
                return None
            payload += chunk
        return seq, payload

    def _session(self, client: socket.socket) -> None:
        client.sendall(_packet(0, _handshake()))
        login = self._read(client)
        if login is None:
            return
        client.sendall(_packet(login[0] + 1, OK))
        while (packet := self._read(client)) is not None:
            seq, payload = packet
            if payload[:1] == b"\x01":  # COM_QUIT
                return
            query = payload[1:].decode(errors="replace")
            self.queries.append(query)
            if self.only_for is not None and self.only_for not in query:
                client.sendall(_packet(seq + 1, OK))
                continue
            self.requests += 1
            client.sendall(_packet(seq + 1, b"\xfb" + self.wanted.encode()))
            self._drain(client)
            return

    def _drain(self, client: socket.socket) -> None:
        """Keep whatever the client sends in answer to the file request, until it hangs up."""
        try:
            while chunk := client.recv(65536):
                self.received_after_request += chunk
        except (TimeoutError, OSError):
            pass
