"""What every rtlab server shares: its own loop thread, its hub, and a byte counter on the wire.

A transport module subclasses :class:`Server` and adds its routes in :meth:`Server.setup_routes`.
The base class does the rest:

* runs an aiohttp application on a :class:`~rtlab.lab.LoopThread` of its own, bound to
  ``127.0.0.1`` on a port the operating system chooses (``port=0``), so that many learners
  on one JupyterHub never collide and a notebook cell that blocks does not stop it;
* counts every byte that crosses each TCP connection, in both directions, headers and
  framing included (:class:`ConnectionStats`) — what the transports cost is measured, not
  estimated;
* measures the CPU time of the server's thread;
* replaces a running server of the same name (a re-run cell), stops at interpreter exit,
  works as a context manager;
* can *crash and come back* on the same port with its event stream intact
  (:meth:`Server.restart`), to show that a client resuming from its cursor loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from . import lab
from .hub import Hub

LOOPBACK = "127.0.0.1"
MAX_CLIENT_NAMES = 10_000  # per-client byte counts kept apart; the rest are summed as "(others)"


class _QuietAboutBadRequests(logging.Filter):
    """Drop aiohttp's log record of a malformed request (a header too long, a broken request line).

    aiohttp answers those with a 400 and also logs them at ERROR with a traceback, which a
    notebook shows in whatever cell is running. The mistake is the client's and the answer
    says so; errors in rtlab's own handlers still get logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, HttpProcessingError)


HTTP_LOG = logging.getLogger("rtlab.http")  # what aiohttp logs about our servers' connections
HTTP_LOG.addFilter(_QuietAboutBadRequests())


@dataclass(eq=False)  # compared by identity, so the open ones can live in a set
class ConnectionStats:
    """Bytes that crossed one TCP connection, as the server's socket saw them."""

    bytes_in: int = 0  # request bytes: request line, headers, body, WebSocket frames
    bytes_out: int = 0  # response bytes: status line, headers, body, chunk framing, frames
    client: str | None = None  # the ``client=`` name an rtlab client sent, if any
    open: bool = True


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


class _CountingTransport:
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


class _CountingProtocol(asyncio.Protocol):
    """Sits between the socket and aiohttp's protocol, counting bytes both ways."""

    def __init__(self, inner: asyncio.Protocol, server: Server) -> None:
        self._inner = inner
        self._server = server
        self.stats = ConnectionStats()
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._server._connection_opened(self.stats)
        self._transport = transport
        self._server._transports.add(transport)  # so a crash can cut it
        sock = transport.get_extra_info("socket")
        if sock is not None and self._server.socket_send_buffer:
            # Linux grows a socket's send buffer by itself, up to ~4 MB: megabytes of events
            # queued in the kernel for a client that does not read, out of the hub's reach.
            # A fixed buffer keeps that bounded, and a slow client is noticed (and dropped
            # by the hub's policy) in seconds instead of minutes.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._server.socket_send_buffer)
        self._inner.connection_made(_CountingTransport(transport, self.stats))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.stats.bytes_in += len(data)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connection_closed(self.stats)
        self._server._transports.discard(self._transport)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def connection_stats(request: web.Request) -> ConnectionStats | None:
    """The byte counter of the connection ``request`` arrived on."""
    return getattr(request.transport, "rtlab_stats", None)


class Server:
    """Base class of the four servers. Subclasses set ``transport``, ``path`` and add routes."""

    transport: ClassVar[str] = "base"
    path: ClassVar[str] = "/"

    def __init__(
        self,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        name: str | None = None,
        replay: int = 10_000,
        queue_size: int = 1_000,
        max_request_bytes: int = 64 * 1024,
        max_connections: int = 16_384,
        socket_send_buffer: int = 256 * 1024,
    ) -> None:
        if host not in (LOOPBACK, "localhost", "::1"):
            warnings.warn(
                f"rtlab server binding {host!r}: it is reachable from other machines. "
                "The lab is meant for loopback (127.0.0.1).",
                stacklevel=2,
            )
        self.host = host
        self.requested_port = port
        self.port = 0
        self.name = name or self.transport
        self.replay = replay
        self.queue_size = queue_size
        self.max_request_bytes = max_request_bytes
        # On loopback every client is 127.0.0.1, so a per-address limit would mean nothing:
        # the limit is per server. Each connection is a file descriptor, and a process may
        # hold only so many (20,000 here): past the limit a request gets 503, not a crash.
        self.max_connections = max_connections
        self.socket_send_buffer = socket_send_buffer  # bytes; 0 leaves the kernel's autotuning
        self.hub: Hub | None = None
        self._loop_thread: lab.LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._connections: set[ConnectionStats] = set()
        self._closed_totals = ConnectionStats(open=False)
        self._closed_by_client: dict[str, list[int]] = {}
        self._conn_total = 0
        self._requests = 0
        self._handlers: set[asyncio.Task[Any]] = set()
        self._transports: set[asyncio.BaseTransport] = set()  # every open TCP connection
        self._latest_wire: tuple[Any, Any] = (None, None)  # (event, its wire form), see wire_form

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> Server:
        """Start serving (stopping any running server with the same name first)."""
        if self.running:
            return self
        lab.register_server(self.name, self)
        self._loop_thread = lab.LoopThread(f"{self.transport}-server")
        try:
            self._loop_thread.run(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        self.hub = Hub(replay=self.replay, queue_size=self.queue_size)
        app = web.Application(
            client_max_size=self.max_request_bytes, middlewares=[self._track_requests]
        )
        self.setup_routes(app)
        app.router.add_get("/clock", self.handle_clock)  # for clients on another clock: rtlab.browser
        # Keep aiohttp's own access log quiet: output from a background thread would land
        # in whichever notebook cell happens to be running.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handle_signals=False,
            max_field_size=8190, max_line_size=8190, logger=HTTP_LOG,
        )
        await self._runner.setup()
        await self._listen(self.requested_port)

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        loop = asyncio.get_running_loop()
        make_protocol = self._runner.server
        assert make_protocol is not None
        self._listener = await loop.create_server(
            lambda: _CountingProtocol(make_protocol(), self),
            self.host, port, backlog=1024, reuse_address=True,
        )
        self.port = self._listener.sockets[0].getsockname()[1]

    @web.middleware
    async def _track_requests(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self._requests += 1
        if len(self._connections) > self.max_connections:
            raise web.HTTPServiceUnavailable(
                text=f"too many connections: {len(self._connections)} open, this server allows "
                f"{self.max_connections} (max_connections=); close some clients and retry\n",
                headers={"Connection": "close", "Retry-After": "1"})
        if request.content_length is not None and request.content_length > self.max_request_bytes:
            # Refuse a big body before anything reads it: memory stays bounded whatever is sent.
            raise web.HTTPRequestEntityTooLarge(self.max_request_bytes, request.content_length)
        stats = connection_stats(request)
        client = request.query.get("client")
        if stats is not None and client:
            stats.client = client[:64]
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await handler(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    def setup_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def encode(self, event: Any) -> Any:
        """An event as this transport puts it on the wire (a push transport overrides it)."""
        raise NotImplementedError

    def wire_form(self, event: Any) -> Any:
        """``encode(event)``, computed once per event: every connection sends the same bytes
        in turn, so a broadcast to 1,000 clients encodes once, not 1,000 times."""
        if self._latest_wire[0] is not event:
            self._latest_wire = (event, self.encode(event))
        return self._latest_wire[1]

    async def handle_clock(self, request: web.Request) -> web.Response:
        """``GET /clock``: this machine's monotonic clock (what ``sent_ns`` is stamped with) and
        the latest seq. A browser, whose clock has another zero, estimates the offset from it."""
        seq = self.hub.latest_seq if self.hub else 0
        return web.json_response({"monotonic_ns": time.monotonic_ns(), "seq": seq},
                                 headers={"Cache-Control": "no-store"})

    def stop(self) -> None:
        """Stop serving, close every connection, end the server's thread. Safe to call twice."""
        loop_thread, self._loop_thread = self._loop_thread, None
        if loop_thread is not None:
            if loop_thread.alive:
                try:
                    loop_thread.run(self._stop(), timeout=10)
                except Exception:  # noqa: BLE001 - stopping must not fail; the thread goes anyway
                    pass
            loop_thread.stop()
        lab.unregister_server(self.name, self)

    async def _stop(self) -> None:
        if self.hub is not None:
            self.hub.close()  # ends every stream and long poll promptly
        if self._listener is not None:
            self._listener.close()
        for task in list(self._handlers):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.hub is not None:
            # aiohttp keeps a cache (lru_cache, 1,024 entries) keyed on request handlers, so a
            # stopped server object can outlive its last use; its replay buffer need not.
            self.hub.buffer.clear()
            self.hub.state.clear()

    # -- faults, on purpose ------------------------------------------------------------------
    def crash(self) -> int:
        """Go down abruptly: stop listening and cut every connection, with no goodbye.

        Clients see what a crashed process or a pulled cable looks like: a reset
        connection, then "connection refused". Unlike :meth:`stop`, the server's thread
        and its hub live on, so :meth:`publish` still numbers events while it is down —
        as if the event log lived outside the process (a database, Redis, Kafka).
        :meth:`recover` listens again on the same port. Returns how many connections were cut.
        """
        return self.call(self._crash(), timeout=15)

    def recover(self) -> Server:
        """Listen again on the same port, with the same hub, after :meth:`crash`."""
        self.call(self._recover(), timeout=15)
        return self

    def restart(self) -> Server:
        """Crash and come straight back on the same port, keeping the event stream.

        Every client is cut mid-stream; one that reconnects with its cursor
        (``Last-Event-ID``, ``?since=``) gets each event exactly once.
        """
        self.crash()
        return self.recover()

    async def _crash(self) -> int:
        if self._listener is not None:
            self._listener.close()  # no new connections: clients get "connection refused"
            self._listener = None
        transports = list(self._transports)
        for transport in transports:
            transport.abort()  # a TCP reset, not a polite close
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()  # handlers stop waiting for events (their subscriptions end)
        if handlers:
            await asyncio.wait(handlers, timeout=10)
        return len(transports)

    async def _recover(self) -> None:
        if self._listener is None:
            await self._listen(self.port)  # the same port, so clients find it again

    @property
    def running(self) -> bool:
        return self._loop_thread is not None and self._loop_thread.alive

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"serving {self.url}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.name!r} {state}>"

    # -- what clients connect to ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The full URL a client connects to."""
        return self.base_url + self.path

    # -- publishing, from any thread ----------------------------------------------------------
    def publish(self, type: str, data: Any = None, sent_ns: int | None = None) -> None:
        """Publish an event to this server's clients. Thread-safe; the clock starts now."""
        if self._loop_thread is None or self.hub is None:
            raise RuntimeError(f"{self!r} is not running: call .start() first")
        stamp = time.monotonic_ns() if sent_ns is None else sent_ns
        self._loop_thread.call_soon(self._publish_on_loop, type, data, stamp)

    def _publish_on_loop(self, type: str, data: Any, sent_ns: int) -> None:
        if self.hub is not None and not self.hub.closed:
            self.hub.publish(type, data, sent_ns)

    def call(self, coro: Any, timeout: float | None = 30) -> Any:
        """Run a coroutine on the server's loop and return its result (for tests and tools)."""
        if self._loop_thread is None:
            raise RuntimeError(f"{self!r} is not running")
        return self._loop_thread.run(coro, timeout)

    # -- statistics ---------------------------------------------------------------------------
    def _connection_opened(self, stats: ConnectionStats) -> None:
        self._conn_total += 1
        self._connections.add(stats)

    def _connection_closed(self, stats: ConnectionStats) -> None:
        stats.open = False
        self._connections.discard(stats)
        # Fold closed connections into totals so memory does not grow with their number.
        self._closed_totals.bytes_in += stats.bytes_in
        self._closed_totals.bytes_out += stats.bytes_out
        if stats.client:
            # Client names come from the query string: bound how many are kept apart.
            name = stats.client if (stats.client in self._closed_by_client
                                    or len(self._closed_by_client) < MAX_CLIENT_NAMES) else "(others)"
            totals = self._closed_by_client.setdefault(name, [0, 0])
            totals[0] += stats.bytes_in
            totals[1] += stats.bytes_out

    async def _snapshot(self) -> ServerStats:
        by_client = {k: {"bytes_in": v[0], "bytes_out": v[1]} for k, v in self._closed_by_client.items()}
        bytes_in, bytes_out = self._closed_totals.bytes_in, self._closed_totals.bytes_out
        for c in self._connections:
            bytes_in += c.bytes_in
            bytes_out += c.bytes_out
            if c.client:
                entry = by_client.setdefault(c.client, {"bytes_in": 0, "bytes_out": 0})
                entry["bytes_in"] += c.bytes_in
                entry["bytes_out"] += c.bytes_out
        return ServerStats(
            transport=self.transport,
            requests=self._requests,
            connections_total=self._conn_total,
            connections_open=len(self._connections),
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            cpu_s=time.thread_time(),  # we are on the server's thread: its CPU time alone
            events=self.hub.latest_seq if self.hub else 0,
            by_client=by_client,
        )

    def stats(self) -> ServerStats:
        """Requests, connections, bytes both ways and CPU time so far."""
        return self.call(self._snapshot(), timeout=10)
