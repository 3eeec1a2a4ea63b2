"""What a client can hold on a server, and what takes it back; and whom a server answers.

:class:`rtlab.net.server.Server` keeps one :class:`ConnectionKeeper` and one :class:`HostCheck`.
The policies, and why each is what a production server does:

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
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

from aiohttp import web

from .meter import ConnectionStats
from .requests import HTTP_LOG

try:
    import resource
except ImportError:  # not on Windows: no descriptor limit to read there
    resource = None  # type: ignore[assignment]

__all__ = ["LOOPBACK_NAMES", "PROCESS_CONNECTIONS", "ConnectionKeeper", "HostCheck", "connection_limits",
           "fd_budget", "gate"]

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


def connection_limits(max_connections: int) -> tuple[int, int]:
    """``(soft, hard)``: ``max_connections`` lowered to the fd budget, and 10 % more for resumers."""
    budget = fd_budget()
    soft = max_connections if budget is None else max(1, min(max_connections, budget))
    hard = soft + max(4, soft // 10)
    return soft, hard if budget is None else min(hard, max(budget, soft))


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


def gate(server: Any, request: web.Request) -> None:
    """What every request must pass before a handler sees it: its Host, the connection limit
    (unless the server admits it past it: a resuming stream), and the announced body size."""
    if not server.hosts.allowed(request):
        raise server.hosts.refusal(request)
    if len(server.meter.open) > server.max_connections and not server.admits_over_limit(request):
        raise web.HTTPServiceUnavailable(
            text=f"too many connections: {len(server.meter.open)} open, this server allows "
            f"{server.max_connections} (max_connections=); close some clients and retry\n",
            headers={"Connection": "close", "Retry-After": "1"})
    if request.content_length is not None and request.content_length > server.max_request_bytes:
        # Refuse a big body before anything reads it: memory stays bounded whatever is sent.
        raise web.HTTPRequestEntityTooLarge(server.max_request_bytes, request.content_length)


class Limited(Protocol):
    """What a :class:`ConnectionKeeper` reads from its server."""

    name: str
    max_connections: int
    hard_max_connections: int
    request_timeout: float
    idle_timeout: float
    write_timeout: float


class ConnectionKeeper:
    """One server's open connections (oldest first) and the rules that close them.

    Runs on the server's loop: :meth:`opened` and :meth:`closed` from the byte meter,
    :meth:`reap` as a task, :meth:`loop_exception` as the loop's exception handler.
    """

    def __init__(self, server: Limited) -> None:
        self.server = server
        self.transports: dict[ConnectionStats, asyncio.BaseTransport] = {}
        self.reaped = {"idle": 0, "request": 0, "write": 0, "shed": 0, "refused": 0}
        self._last_accept_warning = 0.0

    def opened(self, stats: ConnectionStats, transport: asyncio.BaseTransport) -> bool:
        """Keep a new connection; ``False`` if it must be refused (past the hard limit)."""
        self.transports[stats] = transport
        process_open = PROCESS_CONNECTIONS.add(1)
        if len(self.transports) > self.server.max_connections:
            self.shed_idle(stats)
        budget = fd_budget()
        if len(self.transports) > self.server.hard_max_connections or (
                budget is not None and process_open > budget):
            self.reaped["refused"] += 1
            return False
        return True

    def closed(self, stats: ConnectionStats) -> None:
        if self.transports.pop(stats, None) is not None:
            PROCESS_CONNECTIONS.add(-1)

    def shed_idle(self, newcomer: ConnectionStats) -> None:
        """Close the oldest idle connection (no request in flight), to make room for a new one.

        Connections are kept oldest first, so on a server full of idle sockets the first one
        looked at is it; a server full of streams looks at all of them and sheds none.
        """
        for stats, transport in self.transports.items():
            if stats is not newcomer and not stats.active and not transport.is_closing():
                self.reaped["shed"] += 1
                transport.abort()
                return

    async def reap(self) -> None:
        """Once per ``sweep`` seconds, close what the timeouts say must go (see above)."""
        s = self.server
        sweep = max(0.05, min(1.0, s.request_timeout / 2, s.idle_timeout / 2, s.write_timeout / 2))
        while True:
            await asyncio.sleep(sweep)
            now = time.monotonic()
            for stats, transport in list(self.transports.items()):
                buffered = getattr(transport, "get_write_buffer_size", lambda: 0)()
                # Progress: what the kernel took since the last look (the buffer shrank, or
                # grew by less than was written).
                drained = stats.last_buffered + (stats.bytes_out - stats.last_out) - buffered
                stats.last_buffered, stats.last_out = buffered, stats.bytes_out
                if buffered == 0 or drained > 0:
                    stats.stuck_since = None
                elif stats.stuck_since is None:
                    stats.stuck_since = now
                if stats.stuck_since is not None and now - stats.stuck_since > s.write_timeout:
                    self.reaped["write"] += 1
                    transport.abort()  # close() would wait for the buffer to drain: forever
                elif stats.active:
                    continue  # a request or a stream in progress: its handler decides
                elif stats.request_started is not None and now - stats.request_started > s.request_timeout:
                    self.reaped["request"] += 1
                    transport.abort()
                elif stats.request_started is None and now - stats.idle_since > s.idle_timeout:
                    self.reaped["idle"] += 1
                    transport.close()  # nothing to send: a polite FIN (a keep-alive just ends)

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's report of an error nobody caught on the server's loop.

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
                                 "file-descriptor limit; new clients wait)", self.server.name, exc.strerror)
            return
        loop.default_exception_handler(context)


class HostCheck:
    """Whom a server answers: the ``Host`` names of "The Host check" above."""

    def __init__(self, bound_host: str, allowed_hosts: Iterable[str] = ()) -> None:
        """Args:
            bound_host: the address the server binds; beyond loopback, no Host is checked.
            allowed_hosts: names (``"lab.example"``) or name:port pairs to answer too.
        """
        extra = os.environ.get("RTLAB_ALLOWED_HOSTS", "")
        self.names = {h.strip().lower().rstrip(".") for h in [*allowed_hosts, *extra.split(",")]
                      if h.strip()}
        for variable in ("JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_PUBLIC_HUB_URL", "JUPYTERHUB_HOST"):
            # The hub's public name, where JupyterHub says it (not every hub does).
            value = os.environ.get(variable, "")
            if value:
                from yarl import URL

                public = URL(value).host if "//" in value else value.split(":")[0]
                if public:
                    self.names.add(public.lower())
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
        # In a hub container the browser cannot reach our loopback (it is another machine),
        # so jupyter-server-proxy's mark is enough to let a proxied request through.
        self.proxy_context = (prefix.rstrip("/") + "/proxy/") if prefix else None
        self.active = bound_host in LOOPBACK_NAMES

    def allowed(self, request: web.Request) -> bool:
        """Whether the server answers for the request's ``Host``."""
        if not self.active:
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
        if name and (name in self.names or f"{name}:{port}" in self.names):
            return True
        context = request.headers.get("X-Forwarded-Context", "")
        return self.proxy_context is not None and context.startswith(self.proxy_context)

    @staticmethod
    def refusal(request: web.Request) -> web.HTTPException:
        return web.HTTPMisdirectedRequest(
            text=f"Host {request.headers.get('Host', '')[:80]!r} is not a name this server answers "
            "for: it serves 127.0.0.1, localhost and [::1], and the hosts in allowed_hosts= (or "
            "the RTLAB_ALLOWED_HOSTS environment variable). A page on another domain that "
            "resolves here (DNS rebinding) must not read the stream.\n",
            headers={"Connection": "close"})
