"""The byte meter: every byte that crosses a server's TCP connections, counted at the socket.

What a technique costs on the wire is measured here, not estimated: request lines, headers,
bodies, HTTP/1.1 chunk framing, WebSocket frames — everything the socket carries, in each
direction, per connection. The meter sits between asyncio's transport and aiohttp's
protocol, so aiohttp does not know it is there::

    socket ─► asyncio transport ─► CountingProtocol ─► aiohttp's protocol   (bytes_in)
    socket ◄─ asyncio transport ◄─ CountingTransport ◄─ aiohttp's protocol  (bytes_out)

:class:`rtlab.net.server.Server` wraps every connection it accepts in one.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiohttp import web

__all__ = ["ConnectionStats", "CountingProtocol", "CountingTransport", "Meter", "ServerStats",
           "connection_stats"]

MAX_CLIENT_NAMES = 10_000  # per-client byte counts kept apart; the rest are summed as "(others)"


class MeterOwner(Protocol):
    """What a :class:`CountingProtocol` tells its server (the server implements these)."""

    socket_send_buffer: int

    def connection_opened(self, stats: ConnectionStats, transport: asyncio.BaseTransport) -> bool: ...

    def connection_closed(self, stats: ConnectionStats, transport: asyncio.BaseTransport | None) -> None: ...


@dataclass(eq=False)  # compared by identity, so the open ones can live in a set
class ConnectionStats:
    """Bytes that crossed one TCP connection, as the server's socket saw them."""

    bytes_in: int = 0  # request bytes: request line, headers, body, WebSocket frames
    bytes_out: int = 0  # response bytes: status line, headers, body, chunk framing, frames
    client: str | None = None  # the ``client=`` name an rtlab client sent, if any
    open: bool = True
    # What the server's reaper looks at (rtlab.net.server): is a request being handled, since
    # when has the connection been idle, since when has a request been arriving, and how
    # the send buffer moved at the last look.
    active: int = 0  # requests being handled on it right now (a stream counts for its whole life)
    idle_since: float = field(default_factory=time.monotonic)
    request_started: float | None = None  # first byte of a request not yet handed to a handler
    last_buffered: int = 0
    last_out: int = 0
    stuck_since: float | None = None  # bytes waiting to be sent, and none sent since then
    # A transport may look at every byte before aiohttp does (the WebSocket server checks
    # client frames): it returns None to pass them on, or the bytes to send before closing.
    guard: Callable[[bytes], bytes | None] | None = field(default=None, repr=False)


class CountingTransport:
    """Wraps an asyncio transport and counts what is written to it. Everything else passes through."""

    def __init__(self, inner: asyncio.Transport, stats: ConnectionStats) -> None:
        self._inner = inner
        self.rtlab_stats = stats

    def write(self, data: bytes) -> None:
        self.rtlab_stats.bytes_out += len(data)
        self._inner.write(data)

    def writelines(self, chunks: Any) -> None:
        chunks = list(chunks)
        self.rtlab_stats.bytes_out += sum(len(c) for c in chunks)
        self._inner.writelines(chunks)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if callable(value):
            # A method of the inner transport (is_closing, get_extra_info, ...): keep it, so
            # the next call finds it at once. aiohttp calls these on every request.
            setattr(self, name, value)
        return value


class CountingProtocol(asyncio.Protocol):
    """Sits between the socket and aiohttp's protocol, counting bytes both ways."""

    def __init__(self, inner: asyncio.Protocol, server: MeterOwner) -> None:
        self._inner = inner
        self._server = server
        self.stats = ConnectionStats()
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        # The server keeps it (so a crash can cut it), and may refuse it: it is full.
        if not self._server.connection_opened(self.stats, transport):
            self._refuse(transport)
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and self._server.socket_send_buffer:
            # Linux grows a socket's send buffer by itself, up to ~4 MB: megabytes of events
            # queued in the kernel for a client that does not read, out of the hub's reach.
            # A fixed buffer keeps that bounded, and a slow client is noticed (and dropped
            # by the hub's policy) in seconds instead of minutes.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._server.socket_send_buffer)
        self._inner.connection_made(CountingTransport(transport, self.stats))  # type: ignore[arg-type]

    refused = False

    def _refuse(self, transport: asyncio.BaseTransport) -> None:
        """Answer 503 at once, without aiohttp (it never sees this connection), and close.

        The server is past its hard limit (or the process near its file-descriptor limit):
        a canned answer costs nothing to build and cannot fail. Half-closing (FIN after the
        answer) and reading what the client still sends, for at most 2 s, is the "lingering
        close" of HTTP servers: closing with unread request bytes would make the kernel send
        a reset, and the client would see that instead of the 503.
        """
        self.refused = True
        assert isinstance(transport, asyncio.Transport)
        transport.write(REFUSED)
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(2.0, transport.abort)

    cut = False  # a guard found a protocol error: nothing more goes to aiohttp

    def data_received(self, data: bytes) -> None:
        self.stats.bytes_in += len(data)
        if self.refused or self.cut:
            return
        if self.stats.guard is not None:
            goodbye = self.stats.guard(data)
            if goodbye is not None:
                self.cut = True
                transport = self._transport
                assert isinstance(transport, asyncio.Transport)
                self.stats.bytes_out += len(goodbye)
                transport.write(goodbye)
                transport.close()  # after the goodbye is sent; aiohttp hears connection_lost
                return
        if not self.stats.active and self.stats.request_started is None:
            self.stats.request_started = time.monotonic()  # a request begins to arrive
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.refused:
            return None
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connection_closed(self.stats, self._transport)
        if not self.refused:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if not self.refused:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if not self.refused:
            self._inner.resume_writing()


_REFUSAL = (b"too many connections: this server is full (max_connections=, and the process's "
            b"file-descriptor limit); retry in a second\n")
REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Retry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n"
           b"Content-Length: " + str(len(_REFUSAL)).encode() + b"\r\n\r\n" + _REFUSAL)


def connection_stats(request: web.Request) -> ConnectionStats | None:
    """The byte counter of the connection ``request`` arrived on."""
    return getattr(request.transport, "rtlab_stats", None)


class Meter:
    """One server's connections, counted: the open ones, and running totals of the closed ones.

    Closed connections are folded into totals at once, so memory does not grow with their
    number; per-client totals are kept apart for at most ``MAX_CLIENT_NAMES`` names (names come
    from the query string, so a client could invent any number of them). Used on the server's
    loop only.
    """

    def __init__(self) -> None:
        self.open: set[ConnectionStats] = set()
        self.total = 0  # connections ever opened
        self._closed = ConnectionStats(open=False)
        self._closed_by_client: dict[str, list[int]] = {}

    def opened(self, stats: ConnectionStats) -> None:
        self.total += 1
        self.open.add(stats)

    def closed(self, stats: ConnectionStats) -> None:
        stats.open = False
        self.open.discard(stats)
        self._closed.bytes_in += stats.bytes_in
        self._closed.bytes_out += stats.bytes_out
        if stats.client:
            name = stats.client if (stats.client in self._closed_by_client
                                    or len(self._closed_by_client) < MAX_CLIENT_NAMES) else "(others)"
            totals = self._closed_by_client.setdefault(name, [0, 0])
            totals[0] += stats.bytes_in
            totals[1] += stats.bytes_out

    def totals(self) -> tuple[int, int, dict[str, dict[str, int]]]:
        """``(bytes_in, bytes_out, by_client)`` over every connection so far, open or closed."""
        by_client = {k: {"bytes_in": v[0], "bytes_out": v[1]} for k, v in self._closed_by_client.items()}
        bytes_in, bytes_out = self._closed.bytes_in, self._closed.bytes_out
        for c in self.open:
            bytes_in += c.bytes_in
            bytes_out += c.bytes_out
            if c.client:
                entry = by_client.setdefault(c.client, {"bytes_in": 0, "bytes_out": 0})
                entry["bytes_in"] += c.bytes_in
                entry["bytes_out"] += c.bytes_out
        return bytes_in, bytes_out, by_client


@dataclass
class ServerStats:
    """A snapshot of what a server has done so far."""

    transport: str
    requests: int = 0
    connections_total: int = 0
    connections_open: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    cpu_s: float = 0.0
    events: int = 0
    by_client: dict[str, dict[str, int]] = field(default_factory=dict)

    def since(self, earlier: ServerStats) -> ServerStats:
        """What happened between ``earlier`` and this snapshot: the counters subtracted.

        ``connections_open``, ``connections_total`` and ``events`` stay as they are now: the
        connections a client opened before ``earlier`` (to be ready) are still what it costs.
        """
        by_client = {}
        for name, now in self.by_client.items():
            before = earlier.by_client.get(name, {})
            by_client[name] = {k: v - before.get(k, 0) for k, v in now.items()}
        return replace(
            self, requests=self.requests - earlier.requests,
            bytes_in=self.bytes_in - earlier.bytes_in, bytes_out=self.bytes_out - earlier.bytes_out,
            cpu_s=self.cpu_s - earlier.cpu_s, by_client=by_client)
