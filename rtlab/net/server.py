"""What every rtlab server shares: its own loop thread, its hub, and a byte counter on the wire.

A transport module subclasses :class:`Server` and adds its routes in :meth:`Server.setup_routes`.
The base class does the rest:

* runs an aiohttp application on a :class:`~rtlab.lab.LoopThread` of its own, bound to
  ``127.0.0.1`` on a port the operating system chooses (``port=0``), so that many learners
  on one JupyterHub never collide and a cell that waits (sleep, I/O) does not stop it;
* counts every byte that crosses each TCP connection, both ways, headers and framing
  included (:mod:`rtlab.net.meter`): what the transports cost is measured, not estimated;
* measures its thread's CPU time; replaces a running server of the same name (a re-run
  cell), stops at interpreter exit, works as a context manager;
* can *crash and come back* on the same port with its event stream intact
  (:meth:`Server.restart`), to show that a client resuming from its cursor loses nothing;
* is the one thread-safe way to look at its state from another thread (:meth:`Server.read`);
* checks every event at :meth:`Server.publish`, in the publisher's thread (``BadEvent``);
  takes back what a client could hold and answers only loopback names (:mod:`rtlab.net.limits`).

:class:`rtlab.net.push.PushServer` adds what the two pushing transports share, and
:mod:`rtlab.net.requests` what every handler does with a request (the cursor, quiet logs).
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from aiohttp import web

from .. import lab
from ..hub import Hub
from ..trace import Trace
from ..wire.event import checked
from .backends import open_hub
from .limits import ConnectionKeeper, HostCheck, connection_limits, gate
from .meter import ConnectionStats, CountingProtocol, Meter, ServerStats, connection_stats
from .path_mixin import NetworkPath, NetworkPathMixin
from .requests import HTTP_LOG

__all__ = ["LOOPBACK", "Server", "ServerStats"]

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


class Server(NetworkPathMixin):
    """Base class of the four servers. Subclasses set ``transport``, ``path`` and add routes."""

    transport: ClassVar[str] = "base"
    path: ClassVar[str] = "/"

    def __init__(
        self,
        *,
        # Where
        host: str = LOOPBACK,
        port: int = 0,
        name: str | None = None,
        # The event stream
        replay: int = 10_000,
        queue_size: int = 1_000, broker: str | None = None,
        # Limits
        max_request_bytes: int = 64 * 1024,
        max_connections: int = 16_384,
        socket_send_buffer: int = 256 * 1024,
        request_timeout: float = 10.0,
        idle_timeout: float = 30.0,
        write_timeout: float = 10.0,
        # Who may ask
        allowed_hosts: Iterable[str] = (),
        # Watching
        trace: bool | Trace = False,
        network: str | NetworkPath | dict[str, Any] | None = None,
    ) -> None:
        """A server, not yet started (:meth:`start`, or use :func:`rtlab.serve`).

        Args:
            host: the address to bind. Loopback by default; anything else warns, because
                the lab then becomes reachable from other machines.
            port: the port; 0 lets the operating system pick a free one, so that many
                learners on one machine never collide.
            name: the name it is registered under. Starting another server with the same
                name (a re-run cell) stops this one. Defaults to the transport's name.
            replay: how many recent events the hub keeps, for clients that come back with a
                cursor. Older ones are announced to them as a gap.
            queue_size: how many events a pushing connection may fall behind before it is
                dropped (it reconnects and resumes from the replay buffer).
            broker: a broker URL (``redis://…``): the stream lives there, shared by every server on it.
            max_request_bytes: the largest request body accepted; a bigger one gets 413
                before anything reads it.
            max_connections: open connections at once, per server (on loopback every client
                is 127.0.0.1), lowered to fit the process's fd limit; past it see
                :mod:`rtlab.net.limits` (idle ones shed, 503, resuming streams let in).
            socket_send_buffer: each accepted socket's kernel send buffer in bytes (0 leaves
                Linux's autotuning, which grows it to ~4 MB for a client that does not read).
            request_timeout, idle_timeout, write_timeout: seconds a request may take to
                arrive, a connection may carry no request, a send may make no progress
                (a peer that stopped reading); then the connection is closed.
            allowed_hosts: names (``"lab.example"``, ``"lab.example:8443"``) answered besides
                loopback ones; ``RTLAB_ALLOWED_HOSTS`` adds more (see "The Host check" there).
            trace: keep a :class:`~rtlab.trace.Trace` (``server.trace``) of each request's arrival,
                each response head's departure and each publish, to draw a sequence diagram from.
            network: an emulated network path in front of the server: a profile name (``"4g"``,
                see :data:`rtlab.net.path_model.PROFILES`), a ``NetworkPath``, or ``None``. Then
                :attr:`url` leads through it (:mod:`rtlab.net.path`), :attr:`direct_url` not.
        """
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
        self.replay, self.queue_size, self.broker = replay, queue_size, broker  # broker: net.backends
        self.max_request_bytes = max_request_bytes
        self.requested_max_connections = max_connections  # what was asked; what the fd limit allows:
        self.max_connections, self.hard_max_connections = connection_limits(max_connections)
        self.socket_send_buffer = socket_send_buffer
        self.request_timeout, self.idle_timeout = request_timeout, idle_timeout
        self.write_timeout = write_timeout
        self.hosts = HostCheck(host, allowed_hosts)
        self.trace: Trace | None = trace if isinstance(trace, Trace) else (Trace() if trace else None)
        self.set_network(network)
        self.hub: Hub | None = None
        self._loop_thread: lab.LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self.meter = Meter()  # every connection's bytes, open ones and totals of closed ones
        self._requests = 0
        self._handlers: set[asyncio.Task[Any]] = set()
        self.keeper = ConnectionKeeper(self)  # every open connection (oldest first), and what closes them
        self._transports = self.keeper.transports
        self._reaper: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> Server:
        """Start serving (stopping any running server with the same name first)."""
        if self.running:
            return self
        lab.register_server(self.name, self)
        self._loop_thread = lab.LoopThread(f"{self.transport}-server")
        try:
            self._loop_thread.run(self._start())
            self.start_path()
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        app = web.Application(
            client_max_size=self.max_request_bytes, middlewares=[self._track_requests]
        )
        self.setup_routes(app)
        self.hub = await open_hub(self, app)  # in memory, or a broker's log (rtlab.net.backends)
        if self.trace is not None:
            app.on_response_prepare.append(self._trace_answer)  # a response head leaving, streams too
        app.router.add_get("/clock", self.handle_clock)  # for clients on another clock: rtlab.lessons.browser
        # Keep aiohttp's own access log quiet: output from a background thread would land
        # in whichever notebook cell happens to be running.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handle_signals=False,
            max_field_size=8190, max_line_size=8190, logger=HTTP_LOG,
            keepalive_timeout=self.idle_timeout,
        )
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self.keeper.loop_exception)
        await self._listen(self.requested_port)
        self._reaper = loop.create_task(self.keeper.reap())

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        loop = asyncio.get_running_loop()
        make_protocol = self._runner.server
        assert make_protocol is not None
        self._listener = await loop.create_server(
            lambda: CountingProtocol(make_protocol(), self),
            self.host, port, backlog=1024, reuse_address=True,
        )
        self.port = self._listener.sockets[0].getsockname()[1]

    def admits_over_limit(self, request: web.Request) -> bool:
        """May it pass ``max_connections``? No: a new client can come back (pushers admit resumers)."""
        return False

    @web.middleware
    async def _track_requests(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self._requests += 1
        gate(self, request)  # Host, max_connections, body size: rtlab.net.limits
        stats = connection_stats(request)
        client = request.query.get("client")
        if stats is not None and client:
            stats.client = client[:64]
        if self.trace is not None:
            self.trace.note("arrive", f"{request.method} {request.path}", client=client and client[:64])
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        if stats is not None:
            stats.active += 1
            stats.request_started = None  # it has arrived: request_timeout is over
        try:
            return await handler(request)
        finally:
            if task is not None:
                self._handlers.discard(task)
            if stats is not None:
                stats.active -= 1
                stats.idle_since = time.monotonic()

    def setup_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def handle_clock(self, request: web.Request) -> web.Response:
        """``GET /clock``: this machine's monotonic clock (what ``sent_ns`` is stamped with) and
        the latest seq. A browser, whose clock has another zero, estimates the offset from it."""
        seq = self.hub.latest_seq if self.hub else 0
        return web.json_response({"monotonic_ns": time.monotonic_ns(), "seq": seq},
                                 headers={"Cache-Control": "no-store"})

    def stop(self) -> None:
        """Stop serving, close every connection, end the server's thread. Safe to call twice."""
        self.stop_path()
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
        if self._reaper is not None:
            self._reaper.cancel()
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
            self.hub.state_json.clear()

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
        transports = list(self._transports.values())
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
    def url(self) -> str:
        """The full URL a client connects to (through the network path, if ``network=``)."""
        return self.base_url + self.path

    # -- publishing, from any thread ----------------------------------------------------------
    def publish(self, type: str, data: Any = None, sent_ns: int | None = None) -> None:
        """Publish an event to this server's clients. Thread-safe; the clock starts now.

        Checked, encoded and copied here, once, in the caller's thread (:mod:`rtlab.wire.event`):
        a bad event raises ``BadEvent`` naming the field; changing ``data`` later changes nothing.

        Args:
            type: the event's type: a one-line string (``"price"``, ``"question"``).
            data: a JSON payload: dicts, lists, strings, finite numbers, booleans, None.
            sent_ns: the publish time in ``time.monotonic_ns()``; now if ``None``.
        """
        if self._loop_thread is None or self.hub is None:
            raise RuntimeError(f"{self!r} is not running: call .start() first")
        frozen, data_json = checked(type, data, sent_ns)  # BadEvent here, in the caller's thread
        stamp = time.monotonic_ns() if sent_ns is None else sent_ns
        self._loop_thread.call_soon(self._publish_on_loop, type, frozen, stamp, data_json)

    def _publish_on_loop(self, type: str, data: Any, sent_ns: int, data_json: str) -> None:
        if self.hub is not None and not self.hub.closed:
            event = self.hub.publish(type, data, sent_ns, data_json=data_json)  # None with a broker
            if self.trace is not None and event is not None:
                self.trace.note("publish", f"#{event.seq} {type}", seq=event.seq, t_ns=sent_ns)

    async def _trace_answer(self, request: web.Request, response: web.StreamResponse) -> None:
        assert self.trace is not None
        client = request.query.get("client")
        self.trace.note("answer", f"{response.status}", client=client and client[:64])

    def call(self, coro: Any, timeout: float | None = 30) -> Any:
        """Run a coroutine on the server's loop and return its result (for tests and tools)."""
        if self._loop_thread is None:
            raise RuntimeError(f"{self!r} is not running")
        return self._loop_thread.run(coro, timeout)

    def read(self, look: Callable[[Server], T], timeout: float = 10) -> T:
        """``look(self)`` run on the server's own loop: the one safe way to read its state.

        The hub and the handlers' counters belong to the server's thread (see
        :mod:`rtlab.hub`); reading them from a notebook cell or a widget thread while that
        thread changes them can see half an update. ``server.read(lambda s: s.hub.subscriber_count)``
        asks the server's loop to look, between two of its steps, and waits for the answer.
        """
        async def on_loop() -> T:
            return look(self)

        return self.call(on_loop(), timeout)

    # -- statistics ---------------------------------------------------------------------------
    # Called by the byte meter (rtlab.net.meter.CountingProtocol), on the server's loop.
    def connection_opened(self, stats: ConnectionStats, transport: asyncio.BaseTransport) -> bool:
        """A new connection. ``False``: refuse it (the meter answers a canned 503 and closes)."""
        self.meter.opened(stats)
        return self.keeper.opened(stats, transport)

    def connection_closed(self, stats: ConnectionStats, transport: asyncio.BaseTransport | None) -> None:
        self.keeper.closed(stats)
        self.meter.closed(stats)

    async def _snapshot(self) -> ServerStats:
        bytes_in, bytes_out, by_client = self.meter.totals()
        return ServerStats(
            transport=self.transport,
            requests=self._requests,
            connections_total=self.meter.total,
            connections_open=len(self.meter.open),
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            cpu_s=time.thread_time(),  # we are on the server's thread: its CPU time alone
            events=self.hub.latest_seq if self.hub else 0,
            by_client=by_client,
        )

    def stats(self) -> ServerStats:
        """Requests, connections, bytes both ways and CPU time so far."""
        return self.call(self._snapshot(), timeout=10)

