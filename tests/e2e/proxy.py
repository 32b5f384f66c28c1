"""A TCP proxy (on 127.0.0.1 unless told) that a test can cut and restore: a database outage on
demand, or the way into this machine's servers from another network namespace.

Cut, it resets every open connection and closes each new one as soon as it is accepted (what a
client sees when a database restarts); restored, it forwards again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class TcpProxy:
    """Forwards `listen`:`port` (chosen free) to `upstream`; see the module docstring."""

    def __init__(self, upstream: tuple[str, int], listen: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.listener = socket.create_server((listen, 0))
        self.port: int = self.listener.getsockname()[1]
        self.forwarded = 0
        """Connections forwarded so far."""
        self.refused = 0
        """Connections closed on arrival while cut."""
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._accepting = threading.Thread(target=self._accept, daemon=True, name="proxy")
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self._cut.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open |= {client, server}
                self.forwarded += 1
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        with self._lock:
            for s in sockets:
                self._open.discard(s)
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        """Reset every forwarded connection and refuse new ones until `restore`."""
        self._cut.set()
        with self._lock:
            current = list(self._open)
        self._drop(*current)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self.listener.close()
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
