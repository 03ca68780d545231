"""HTTP requests whose whole duration is bounded: connect, headers and body.

`requests` (urllib3) timeouts bound each connect and each read, not the request: a server that
sends one header line a second (a slowloris, or a service stuck in a loop that trickles output)
answers every read in time and holds the caller for as long as it likes. A smoke case must end
within `smoke.request_timeout` whatever the server does, so `deadline(seconds)` arms a timer for
the requests made in its block on this thread; when it fires, it shuts down the sockets those
requests are reading from, and the blocked read returns at once with an error.

Only sessions that use `BoundedAdapter` are watched (their connections register the socket
with the current thread's deadline just before the response is read). Connecting is bounded by
the connect timeout passed to `requests` as usual, which callers set to the same value."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any, Iterator

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

__all__ = ["BoundedAdapter", "Deadline", "deadline"]

_current = threading.local()


class Deadline:
    """The end of one request (or a few) on one thread. `expired` tells, after an error,
    whether it was this deadline that cut the request short."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                _shut(sock)
            else:
                self._sockets.append(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def _start(self) -> None:
        self._timer.start()

    def _stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Requests through a `BoundedAdapter` on this thread inside the block end within `seconds`."""
    limit = Deadline(seconds)
    previous = getattr(_current, "deadline", None)
    _current.deadline = limit
    limit._start()
    try:
        yield limit
    finally:
        limit._stop()
        _current.deadline = previous


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """Registers the connection's socket with the thread's deadline before reading the answer."""

    sock: Any

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        limit = getattr(_current, "deadline", None)
        if limit is not None and self.sock is not None:
            limit.watch(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedPoolManager(PoolManager):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class BoundedAdapter(HTTPAdapter):
    """An HTTPAdapter whose direct connections honour `deadline` (a proxied request does not:
    it keeps the per-read timeout only)."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _WatchedPoolManager(num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs)
