"""An emulated network path: a TCP relay that gives loopback the delays of a real network.

Why it exists: on 127.0.0.1 a round trip costs microseconds and bandwidth is unlimited, so
the differences the article's table is about (a long poll pays a round trip per answer, a
stream does not) cannot show. The usual tools are out of reach here: ``tc``/netem needs root
(and is not on Binder), Toxiproxy is a Go binary that no package route we use ships, and the
small Python relays on PyPI *sleep inline* per chunk, which serialises a burst: twenty events
behind a 50 ms delay arrive over a second instead of all together at 50 ms. So rtlab has its
own, small one: :class:`Relay` listens on 127.0.0.1, dials the real server for each client
connection, and passes the bytes on both ways, each chunk **scheduled from its own arrival
time** by :mod:`rtlab.net.path_model` (the arithmetic, pure and unit-tested):

* one-way delay per direction (``rtt_ms / 2``), with optional jitter; order is never changed;
* a token-bucket bandwidth cap per direction: a stream faster than the cap queues, and its
  latency grows, as it does in front of a slow link;
* connection set-up: the first byte of a new connection waits one RTT (the TCP handshake),
  plus 1 or 2 for TLS (``tls=``); a reconnect pays it again;
* loss as a stall: loopback never drops a packet, so a "lost" segment holds up everything
  behind it on its connection for one retransmission timeout, ``max(200 ms, 3 × RTT)``;
* bounded: each direction of each connection holds at most ``buffer_bytes`` in flight, then
  stops reading from the sender (as a TCP window would); when either side closes or resets,
  the other is closed or reset too, after the data ahead of it.

What it does **not** model: congestion control and slow start (a new connection gets the
whole bandwidth at once), real packet loss and retransmission bytes, reordering, a shared
bottleneck between connections (each connection has its own link, as if every client were on
its own phone), DNS, and a TLS record layer (``tls=`` costs round trips, not bytes or CPU).

The relays run on one loop thread of their own (``rtlab-network``), so their work is not
counted as the servers' CPU time.
"""

from __future__ import annotations

import asyncio
import collections
import random
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .. import lab
from .path_model import Direction, NetworkPath

if TYPE_CHECKING:  # the middlebox module imports this one
    from .middlebox import Middlebox

__all__ = ["Relay", "network_loop"]

LOOPBACK = "127.0.0.1"
_EOF = object()  # queued after the data: the sender closed
_RESET = object()  # queued after the data: the sender's connection was reset
_SLACK_S = 0.00025  # pieces due within this of now are written in the same write()


class _Lateness:
    """How late this loop's timers fire (asyncio rounds epoll's timeout up to whole ms, the
    kernel adds slack: ~0.7 ms on a 2-core VM, ~1.4 ms per round trip). Timers are set early
    by a running median of the lateness seen, which puts the writes back on time."""

    s = 0.0005  # seconds early a timer is set

    def seen(self, late: float) -> None:
        # A running median (a step towards each sample's side), not a mean: one timer that
        # fired 60 ms late because the machine was busy must not move every later write.
        step = 0.00005 if late > self.s else -0.00005
        self.s = min(0.003, max(0.0, self.s + step))


_lateness = _Lateness()
_loop_thread: lab.LoopThread | None = None
_loop_lock = threading.Lock()


def network_loop() -> lab.LoopThread:
    """The loop every relay runs on (started on first use, again after ``stop_all()``)."""
    global _loop_thread
    with _loop_lock:
        if _loop_thread is None or not _loop_thread.alive:
            _loop_thread = lab.LoopThread("network")
        return _loop_thread


class _Lane:
    """One direction of one relayed connection: a queue of (when, bytes) and a timer."""

    def __init__(self, pair: _Pair, model: Direction) -> None:
        self.pair = pair
        self.model = model
        self.queue: collections.deque[tuple[float, Any]] = collections.deque()
        self.queued = 0
        self.src: asyncio.Transport | None = None
        self.dst: asyncio.Transport | None = None
        self.dst_paused = False  # the destination's own buffer is full: wait for it
        self.src_paused = False
        self.timer: asyncio.TimerHandle | None = None
        self.bytes = 0

    def arrived(self, data: bytes, now: float) -> None:
        if self.pair.closed or not data:
            return
        offset = 0
        for leave, n in self.model.schedule(len(data), now):
            self.queue.append((leave, data[offset:offset + n]))
            offset += n
        self.queued += len(data)
        if self.queued > self.pair.path.buffer_bytes and self.src is not None and not self.src_paused:
            self.src_paused = True
            self.src.pause_reading()  # bounded: the sender's TCP window closes behind us
        self.kick()

    def mark(self, marker: object, now: float) -> None:
        self.queue.append((self.model.marker(now), marker))
        self.kick()

    def kick(self) -> None:
        if self.timer is not None or not self.queue or self.dst is None or self.dst_paused:
            return
        loop = self.pair.loop
        when, now = self.queue[0][0], loop.time()
        if when <= now + _SLACK_S:
            self.flush()
        else:  # early by the loop's usual lateness; never in the past (that would spin)
            target = when - _lateness.s if when - _lateness.s > now else when - _SLACK_S
            self.timer = loop.call_at(target, self._on_timer, target)

    def _on_timer(self, target: float) -> None:
        _lateness.seen(self.pair.loop.time() - target)
        self.flush()

    def flush(self) -> None:
        self.timer = None
        if self.dst is None:
            return
        due = self.pair.loop.time() + _SLACK_S
        out: list[bytes] = []
        while self.queue and self.queue[0][0] <= due and not self.dst_paused:
            _, item = self.queue.popleft()
            if isinstance(item, bytes):
                out.append(item)
                continue
            if out:
                self._write(b"".join(out))
                out = []
            self.pair.ended(self, item)
            return
        if out:
            self._write(b"".join(out))
        if self.src_paused and self.queued <= self.pair.path.buffer_bytes // 2 and self.src is not None:
            self.src_paused = False
            self.src.resume_reading()
        self.kick()

    def _write(self, data: bytes) -> None:
        self.queued -= len(data)
        self.bytes += len(data)
        assert self.dst is not None
        self.dst.write(data)

    def drop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None
        self.queue.clear()
        self.queued = 0


class _Side(asyncio.Protocol):
    """One of the two TCP connections of a pair: the client's (accepted) or the server's (dialled)."""

    def __init__(self, pair: _Pair, role: str) -> None:
        self.pair = pair
        self.role = role
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pair.side_made(self, transport)

    def data_received(self, data: bytes) -> None:
        if self.pair.flow is not None:  # a middlebox sees the bytes first, and may hold or change them
            data = self.pair.flow.received(self.role, data)
        self.pair.lane_from(self).arrived(data, self.pair.loop.time())

    def eof_received(self) -> bool:
        self.pair.side_ended(self, _EOF)
        return True  # keep the transport: the pair closes it once the EOF has crossed

    def connection_lost(self, exc: Exception | None) -> None:
        self.pair.side_lost(self, exc)

    def pause_writing(self) -> None:
        self.pair.lane_to(self).dst_paused = True

    def resume_writing(self) -> None:
        lane = self.pair.lane_to(self)
        lane.dst_paused = False
        lane.kick()


class _Pair:
    """A client connection and the server connection the relay opened for it."""

    def __init__(self, relay: Relay, loop: asyncio.AbstractEventLoop) -> None:
        self.relay = relay
        self.loop = loop
        self.path = relay.path
        self.opened = loop.time()
        rng = random.Random(f"{relay.path.seed}-{relay.connections_total}")
        # Client -> server: nothing leaves before the handshake (+ TLS) is over.
        self.up = _Lane(self, Direction(self.path, self.path.up_kbit, rng=rng,
                                        not_before=self.opened + self.path.setup_s))
        self.down = _Lane(self, Direction(self.path, self.path.down_kbit, rng=rng))
        self.client: _Side | None = None
        self.server: _Side | None = None
        self.closed = False
        self.dialing: asyncio.Task[Any] | None = None
        self.flow = relay.middlebox.flow(self) if relay.middlebox is not None else None

    def lane_from(self, side: _Side) -> _Lane:
        return self.up if side.role == "client" else self.down

    def lane_to(self, side: _Side) -> _Lane:
        return self.down if side.role == "client" else self.up

    def side_made(self, side: _Side, transport: asyncio.Transport) -> None:
        if side.role == "client":
            self.client = side
            self.up.src, self.down.dst = transport, transport
            self.dialing = self.loop.create_task(self._dial())
        else:
            self.server = side
            self.down.src, self.up.dst = transport, transport
            if self.closed:
                transport.abort()
                return
            self.up.kick()

    async def _dial(self) -> None:
        try:
            await self.loop.create_connection(lambda: _Side(self, "server"),
                                              self.relay.target_host, self.relay.target_port)
        except OSError:
            # The server is down (crashed): its SYN would come back refused one RTT later.
            self.relay.refused += 1
            self.loop.call_later(self.path.rtt_s, self.close, True)

    def side_ended(self, side: _Side, marker: object) -> None:
        """``side`` closed (EOF) or was reset: pass it on after the data ahead of it."""
        if not self.closed:
            if self.flow is not None:  # what the middlebox still holds goes first
                self.lane_from(side).arrived(self.flow.ended(side.role), self.loop.time())
            self.lane_from(side).mark(marker, self.loop.time())

    def side_lost(self, side: _Side, exc: Exception | None) -> None:
        if self.closed:
            return
        other = self.server if side.role == "client" else self.client
        if other is None or other.transport is None:
            # The client left before the server connection was up: nothing to pass on.
            if self.dialing is not None:
                self.dialing.cancel()
            self.close(reset=exc is not None)
            return
        lane = self.lane_from(side)
        if exc is not None or not any(m in (_EOF, _RESET) for _, m in lane.queue):
            lane.mark(_RESET if exc is not None else _EOF, self.loop.time())
        self.lane_to(side).drop()  # nobody left to read what was coming to this side
        self.lane_to(side).dst = None

    def ended(self, lane: _Lane, marker: object) -> None:
        """A close or reset has crossed the path: end both sides."""
        self.close(reset=marker is _RESET)

    def close(self, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if self.flow is not None:
            self.flow.close()
        self.up.drop()
        self.down.drop()
        for side in (self.client, self.server):
            if side is not None and side.transport is not None and not side.transport.is_closing():
                if reset:
                    side.transport.abort()
                else:
                    side.transport.close()
        self.relay.pair_closed(self)


class Relay:
    """An emulated network path in front of one TCP address (a server, or what a client dials).

    ``Relay(path, "127.0.0.1", 8080).start()`` listens on a port of its own (``relay.port``);
    every connection to it is relayed to 127.0.0.1:8080 through ``path``. Runs on the
    ``rtlab-network`` loop thread; :meth:`stop` closes it and every connection through it.
    """

    def __init__(self, path: NetworkPath, target_host: str, target_port: int, *,
                 name: str = "relay", middlebox: Middlebox | None = None) -> None:
        """Args:
            path: the settings (see :class:`~rtlab.net.path_model.NetworkPath`).
            target_host, target_port: where every relayed connection is opened to.
            name: for ``repr``.
            middlebox: a proxy on the path (:mod:`rtlab.net.middlebox`), or ``None``.
        """
        self.path = path
        self.middlebox = middlebox
        self.target_host = target_host
        self.target_port = target_port
        self.name = name
        self.port = 0
        self.pairs: set[_Pair] = set()
        self.connections_total = 0
        self.refused = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.stalls = 0
        self._listener: asyncio.AbstractServer | None = None
        self._loop_thread: lab.LoopThread | None = None

    def start(self) -> Relay:
        if self.running:
            return self
        self._loop_thread = network_loop()
        self._loop_thread.run(self._start())
        return self

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()

        def accept() -> _Side:
            pair = _Pair(self, loop)
            self.connections_total += 1
            self.pairs.add(pair)
            return _Side(pair, "client")

        self._listener = await loop.create_server(accept, LOOPBACK, 0, backlog=1024)
        self.port = self._listener.sockets[0].getsockname()[1]

    def pair_closed(self, pair: _Pair) -> None:
        if pair in self.pairs:
            self.pairs.discard(pair)
            self.bytes_up += pair.up.bytes
            self.bytes_down += pair.down.bytes
            self.stalls += pair.up.model.stalls + pair.down.model.stalls

    def stop(self) -> None:
        """Stop listening and close every relayed connection (both sides). Safe to call twice."""
        loop_thread, self._loop_thread = self._loop_thread, None
        if loop_thread is not None and loop_thread.alive:
            try:
                loop_thread.run(self._stop(), timeout=10)
            except Exception:  # noqa: BLE001 - stopping must not fail
                pass

    async def _stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for pair in list(self.pairs):
            if pair.dialing is not None:
                pair.dialing.cancel()
            pair.close(reset=True)
        await asyncio.sleep(0)  # let the transports' connection_lost callbacks run

    @property
    def running(self) -> bool:
        return self._loop_thread is not None and self._loop_thread.alive and self._listener is not None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def url_for(self, url: str) -> str:
        """``url`` with its host and port replaced by this relay's."""
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=f"{LOOPBACK}:{self.port}"))

    def read(self) -> dict[str, Any]:
        """What has crossed the path so far (read on the relay's loop)."""
        async def on_loop() -> dict[str, Any]:
            pairs = list(self.pairs)
            return {"connections_total": self.connections_total, "connections_open": len(pairs),
                    "refused": self.refused,
                    "bytes_up": self.bytes_up + sum(p.up.bytes for p in pairs),
                    "bytes_down": self.bytes_down + sum(p.down.bytes for p in pairs),
                    "stalls": self.stalls + sum(p.up.model.stalls + p.down.model.stalls for p in pairs),
                    "queued_bytes": sum(p.up.queued + p.down.queued for p in pairs)}

        if self._loop_thread is None or not self._loop_thread.alive:
            return {"connections_total": self.connections_total, "connections_open": 0}
        return self._loop_thread.run(on_loop(), timeout=10)

    def __repr__(self) -> str:
        state = (f"127.0.0.1:{self.port} -> {self.target_host}:{self.target_port}"
                 if self.running else "stopped")
        return f"<Relay {self.name!r} {self.path.summary()} {state}>"
