"""What every rtlab server shares: its own loop thread, its hub, and a byte counter on the wire.

A transport module subclasses :class:`Server` and adds its routes in :meth:`Server.setup_routes`.
The base class does the rest:

* runs an aiohttp application on a :class:`~rtlab.lab.LoopThread` of its own, bound to
  ``127.0.0.1`` on a port the operating system chooses (``port=0``), so that many learners
  on one JupyterHub never collide and a notebook cell that blocks does not stop it;
* counts every byte that crosses each TCP connection, in both directions, headers and
  framing included (:mod:`rtlab.net.meter`) — what the transports cost is measured, not
  estimated;
* measures the CPU time of the server's thread;
* replaces a running server of the same name (a re-run cell), stops at interpreter exit,
  works as a context manager;
* can *crash and come back* on the same port with its event stream intact
  (:meth:`Server.restart`), to show that a client resuming from its cursor loses nothing;
* is the one thread-safe way to look at its state from another thread (:meth:`Server.read`);
* checks every event at :meth:`Server.publish`, in the publisher's thread (a bad one raises
  :class:`~rtlab.wire.event.BadEvent` there and never enters the hub);
* takes back what a client could hold (see "Limits" below) and answers only for loopback
  host names (see "The Host check").

**Limits** — what a production server bounds, and what rtlab does past each bound:

* ``max_connections``: past it, the connection that has been *idle* longest (no request in
  flight) is closed to make room — an idle keep-alive is the cheapest thing to give up, and
  an HTTP client reopens one without noticing. If none is idle, a new request gets 503, but a
  client *resuming* a stream (SSE ``Last-Event-ID``, WebSocket ``?since=``) is still let in,
  up to ``max_connections`` + 10 %: a browser's EventSource gives up for good on a 503, so a
  503 to a reconnecting stream loses that client forever. Past that hard limit the
  connection gets a canned 503 before aiohttp sees it.
* the process's file-descriptor limit (``ulimit -n``, ``resource.getrlimit``): every
  connection is a descriptor, and at the limit asyncio's accept loop fails with "too many
  open files". ``max_connections`` is lowered to fit (an eighth of the limit, at least 32,
  stays free for everything else the kernel process opens), all rtlab servers in the process
  share that budget, and a failing accept is logged as one line a minute, not a traceback.
* ``request_timeout``: a request whose head and body have not arrived within it (slowloris)
  is closed; ``idle_timeout``: a connection with no request in flight for that long is closed
  (aiohttp's default kept such sockets for an hour, each holding a slot);
* ``write_timeout``: a connection with bytes waiting to be sent and none accepted by the
  peer for that long is cut — a peer that stopped reading. It covers every transport: a
  poller that never reads its answer, an SSE or WebSocket peer that went silent (whose
  ``close`` would otherwise wait forever for a send buffer that never drains).

**The Host check** (DNS rebinding). A page on ``evil.example`` whose name is made to resolve
to 127.0.0.1 is, to the browser, same-origin with our server, and could read the stream. The
one thing it cannot forge is the ``Host`` header, which names *its* domain. So a server bound
to loopback answers only requests whose Host is ``127.0.0.1``, ``localhost`` or ``[::1]`` (any
port: a loopback name can never be a rebinding domain, and jupyter-server-proxy forwards the
browser's Host for the *Jupyter* server, e.g. ``localhost:8888``), a host in
``allowed_hosts=`` or the ``RTLAB_ALLOWED_HOSTS`` environment variable (comma-separated), or —
in a JupyterHub or Binder container, where the proxied Host is the hub's public name — a
request that jupyter-server-proxy marked with ``X-Forwarded-Context: <prefix>proxy/...``.
Anything else gets ``421 Misdirected Request`` (RFC 9110 §15.5.20: this server is not the
authority for that name). Jupyter Server does the same check for itself. A server bound
beyond loopback (``host="0.0.0.0"``, which warns) is meant to be reached by other names and
checks no Host.

:class:`rtlab.net.push.PushServer` adds what the two pushing transports share, and
:mod:`rtlab.net.requests` what every handler does with a request (the cursor, quiet logs).
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

from aiohttp import web

from .. import lab
from ..hub import BadEvent, Hub
from ..trace import Trace
from ..wire.event import check_type, encode_payload, freeze
from .meter import ConnectionStats, CountingProtocol, Meter, connection_stats
from .path_mixin import NetworkPath, NetworkPathMixin
from .requests import HTTP_LOG

try:
    import resource
except ImportError:  # not on Windows: no descriptor limit to read there
    resource = None  # type: ignore[assignment]

__all__ = ["LOOPBACK", "Server", "ServerStats"]

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def fd_budget() -> int | None:
    """How many connections this process's file-descriptor limit leaves for rtlab servers.

    The soft ``RLIMIT_NOFILE`` minus an eighth of it (at least 32) for everything else a
    kernel process holds open: its own sockets to Jupyter, files, rtlab's clients, pipes.
    ``None`` if there is no limit to read.
    """
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(8, soft - max(32, soft // 8))


class _ProcessConnections:
    """Connections open across every rtlab server of this process: they share one fd limit."""

    def __init__(self) -> None:
        self.open = 0
        self._lock = threading.Lock()  # servers run on threads of their own

    def add(self, n: int) -> int:
        with self._lock:
            self.open += n
            return self.open


PROCESS_CONNECTIONS = _ProcessConnections()


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
        queue_size: int = 1_000,
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
            max_request_bytes: the largest request body accepted; a bigger one gets 413
                before anything reads it.
            max_connections: open connections allowed at once (see "Limits" above: the
                longest-idle one is closed to make room, then new requests get 503, resuming
                streams are let in up to 10 % more). On loopback every client is 127.0.0.1,
                so the limit is per server, not per address. Lowered to fit the process's
                file-descriptor limit (:func:`fd_budget`).
            socket_send_buffer: each accepted socket's kernel send buffer in bytes (0 leaves
                Linux's autotuning, which grows it to ~4 MB for a client that does not read).
            request_timeout: seconds a request may take to arrive (head and body); then the
                connection is closed.
            idle_timeout: seconds a connection may carry no request; then it is closed.
            write_timeout: seconds a connection may have bytes waiting to be sent with none
                accepted by the peer; then it is cut (a peer that stopped reading).
            allowed_hosts: host names (``"lab.example"``, or ``"lab.example:8443"`` for one
                port) this server answers for, besides the loopback names; see "The Host
                check" above. ``RTLAB_ALLOWED_HOSTS`` (comma-separated) adds more.
            trace: keep a :class:`~rtlab.trace.Trace` (``server.trace``) of each request's
                arrival, each response head's departure and each publish, to draw a sequence
                diagram from.
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
        self.replay = replay
        self.queue_size = queue_size
        self.max_request_bytes = max_request_bytes
        budget = fd_budget()
        # What was asked, and what the process's descriptor limit lets it have.
        self.requested_max_connections = max_connections
        self.max_connections = max_connections if budget is None else max(1, min(max_connections, budget))
        self.hard_max_connections = self.max_connections + max(4, self.max_connections // 10)
        if budget is not None:
            self.hard_max_connections = min(self.hard_max_connections, max(budget, self.max_connections))
        self.socket_send_buffer = socket_send_buffer
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        extra = os.environ.get("RTLAB_ALLOWED_HOSTS", "")
        self.allowed_hosts = {h.strip().lower().rstrip(".") for h in [*allowed_hosts, *extra.split(",")]
                              if h.strip()}
        for name in ("JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_PUBLIC_HUB_URL", "JUPYTERHUB_HOST"):
            # The hub's public name, where JupyterHub says it (not every hub does).
            value = os.environ.get(name, "")
            if value:
                from yarl import URL

                public = URL(value).host if "//" in value else value.split(":")[0]
                if public:
                    self.allowed_hosts.add(public.lower())
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
        # In a hub container the browser cannot reach our loopback (it is another machine),
        # so jupyter-server-proxy's mark is enough to let a proxied request through.
        self._proxy_context = (prefix.rstrip("/") + "/proxy/") if prefix else None
        self.check_host = host in (LOOPBACK, "localhost", "::1")
        self.trace: Trace | None = trace if isinstance(trace, Trace) else (Trace() if trace else None)
        self.set_network(network)
        self.hub: Hub | None = None
        self._loop_thread: lab.LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self.meter = Meter()  # every connection's bytes, open ones and totals of closed ones
        self._requests = 0
        self._handlers: set[asyncio.Task[Any]] = set()
        # every open TCP connection, by its counter; insertion order = oldest first
        self._transports: dict[ConnectionStats, asyncio.BaseTransport] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.reaped = {"idle": 0, "request": 0, "write": 0, "shed": 0, "refused": 0}
        self._last_accept_warning = 0.0

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
        self.hub = Hub(replay=self.replay, queue_size=self.queue_size)
        app = web.Application(
            client_max_size=self.max_request_bytes, middlewares=[self._track_requests]
        )
        self.setup_routes(app)
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
        loop.set_exception_handler(self._loop_exception)
        await self._listen(self.requested_port)
        self._reaper = loop.create_task(self._reap())

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's report of an error nobody caught on this server's loop.

        At the descriptor limit, ``accept()`` fails with EMFILE; asyncio stops accepting for
        a second and reports it with a traceback, every second, for as long as it lasts —
        into whatever notebook cell is running. One line a minute says the same.
        """
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                                                      errno.ENOMEM):
            now = time.monotonic()
            if now - self._last_accept_warning > 60:
                self._last_accept_warning = now
                HTTP_LOG.warning("%s: cannot accept connections: %s (the process is at its "
                                 "file-descriptor limit; new clients wait)", self.name, exc.strerror)
            return
        loop.default_exception_handler(context)

    async def _reap(self) -> None:
        """Once per ``sweep`` seconds, close what the limits say must go (see "Limits" above)."""
        sweep = max(0.05, min(1.0, self.request_timeout / 2, self.idle_timeout / 2, self.write_timeout / 2))
        while True:
            await asyncio.sleep(sweep)
            now = time.monotonic()
            for stats, transport in list(self._transports.items()):
                buffered = transport.get_write_buffer_size() if hasattr(  # type: ignore[attr-defined]
                    transport, "get_write_buffer_size") else 0
                # Progress: what the kernel took since the last look (the buffer shrank, or
                # grew by less than was written).
                drained = stats.last_buffered + (stats.bytes_out - stats.last_out) - buffered
                stats.last_buffered, stats.last_out = buffered, stats.bytes_out
                if buffered == 0 or drained > 0:
                    stats.stuck_since = None
                elif stats.stuck_since is None:
                    stats.stuck_since = now
                if stats.stuck_since is not None and now - stats.stuck_since > self.write_timeout:
                    self.reaped["write"] += 1
                    transport.abort()  # close() would wait for the buffer to drain: forever
                elif stats.active:
                    continue  # a request or a stream in progress: its handler decides
                elif stats.request_started is not None and now - stats.request_started > self.request_timeout:
                    self.reaped["request"] += 1
                    transport.abort()
                elif stats.request_started is None and now - stats.idle_since > self.idle_timeout:
                    self.reaped["idle"] += 1
                    transport.close()  # nothing to send: a polite FIN (a keep-alive just ends)

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

    def host_allowed(self, request: web.Request) -> bool:
        """Whether this server answers for the request's ``Host`` (see "The Host check" above)."""
        if not self.check_host:
            return True
        raw = request.headers.get("Host", "").strip().lower()
        if raw.startswith("["):  # [::1]:port
            name, _, rest = raw[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            name, _, port = raw.partition(":")
        name = name.rstrip(".")
        if name in LOOPBACK_NAMES:
            return True
        if name and (name in self.allowed_hosts or f"{name}:{port}" in self.allowed_hosts):
            return True
        context = request.headers.get("X-Forwarded-Context", "")
        return self._proxy_context is not None and context.startswith(self._proxy_context)

    def admits_over_limit(self, request: web.Request) -> bool:
        """Whether a request may come in past ``max_connections`` (up to the hard limit).

        No, here: a new client can come back later. The pushing servers say yes to a client
        resuming its stream (see "Limits" above).
        """
        return False

    @web.middleware
    async def _track_requests(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self._requests += 1
        if not self.host_allowed(request):
            raise web.HTTPMisdirectedRequest(
                text=f"Host {request.headers.get('Host', '')[:80]!r} is not a name this server answers "
                "for: it serves 127.0.0.1, localhost and [::1], and the hosts in allowed_hosts= (or "
                "the RTLAB_ALLOWED_HOSTS environment variable). A page on another domain that "
                "resolves here (DNS rebinding) must not read the stream.\n",
                headers={"Connection": "close"})
        if len(self.meter.open) > self.max_connections and not self.admits_over_limit(request):
            raise web.HTTPServiceUnavailable(
                text=f"too many connections: {len(self.meter.open)} open, this server allows "
                f"{self.max_connections} (max_connections=); close some clients and retry\n",
                headers={"Connection": "close", "Retry-After": "1"})
        if request.content_length is not None and request.content_length > self.max_request_bytes:
            # Refuse a big body before anything reads it: memory stays bounded whatever is sent.
            raise web.HTTPRequestEntityTooLarge(self.max_request_bytes, request.content_length)
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

        The event is checked and encoded here, in the caller's thread, once: what cannot go on
        the wire (see :mod:`rtlab.wire.event`) raises :class:`~rtlab.wire.event.BadEvent`,
        naming the field, and never reaches a client. A copy of ``data`` is taken now, so
        changing it afterwards (a dict reused in a loop) does not change this event.

        Args:
            type: the event's type: a one-line string (``"price"``, ``"question"``).
            data: a JSON payload: dicts, lists, strings, finite numbers, booleans, None.
            sent_ns: the publish time in ``time.monotonic_ns()``; now if ``None``.
        """
        if self._loop_thread is None or self.hub is None:
            raise RuntimeError(f"{self!r} is not running: call .start() first")
        check_type(type)
        data_json = encode_payload(data)
        frozen = freeze(data_json)
        if sent_ns is not None and (isinstance(sent_ns, bool) or not isinstance(sent_ns, int)):
            raise BadEvent("sent_ns", f"must be an int of time.monotonic_ns(), got {sent_ns!r:.40}")
        stamp = time.monotonic_ns() if sent_ns is None else sent_ns
        self._loop_thread.call_soon(self._publish_on_loop, type, frozen, stamp, data_json)

    def _publish_on_loop(self, type: str, data: Any, sent_ns: int, data_json: str) -> None:
        if self.hub is not None and not self.hub.closed:
            event = self.hub.publish(type, data, sent_ns, data_json=data_json)
            if self.trace is not None:
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
        self._transports[stats] = transport  # so a crash can cut it, and the reaper see it
        process_open = PROCESS_CONNECTIONS.add(1)
        if len(self.meter.open) > self.max_connections:
            self._shed_idle(stats)
        budget = fd_budget()
        if len(self.meter.open) > self.hard_max_connections or (budget is not None and process_open > budget):
            self.reaped["refused"] += 1
            return False
        return True

    def _shed_idle(self, newcomer: ConnectionStats) -> None:
        """Close the oldest idle connection (no request in flight), to make room for a new one.

        Connections are kept oldest first, so on a server full of idle sockets the first one
        looked at is it; a server full of streams looks at all of them and sheds none.
        """
        for stats, transport in self._transports.items():
            if stats is not newcomer and not stats.active and not transport.is_closing():
                self.reaped["shed"] += 1
                transport.abort()
                return

    def connection_closed(self, stats: ConnectionStats, transport: asyncio.BaseTransport | None) -> None:
        if self._transports.pop(stats, None) is not None:
            PROCESS_CONNECTIONS.add(-1)
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

