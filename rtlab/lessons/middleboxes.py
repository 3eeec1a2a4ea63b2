"""07 · When the path fights back: the experiments of notebook 07, each one function.

Every experiment puts a middlebox (:mod:`rtlab.net.middlebox`) between real servers and
real clients and returns plain numbers; the notebook asserts on them.

* :class:`StreamRuns` (:func:`start_streams`) — SSE streams through ``buffering`` and
  ``compressing``, with and without ``X-Accel-Buffering: no``: when each event arrived;
* :func:`idle_race` — heartbeats against an idle timeout: which connections were cut;
* :func:`refused_websocket` and :func:`refuse_mid_run` — WebSocket through ``no-upgrade``,
  from the start and switched on while a stream runs; long polling through the same proxy;
* :func:`symptoms` — what a raw client sees through each middlebox (the exercise's input).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .. import lab
from ..net import connect, serve
from ..net.middlebox import MIDDLEBOXES, Middlebox
from ..net.probes import handshake
from ..wire.http import Head, status_code
from .feed import Feed
from .i18n import t

__all__ = ["Stream", "StreamRuns", "Symptoms", "TYPICAL_SYMPTOMS", "idle_race", "middlebox_markdown",
           "refuse_mid_run", "refused_websocket", "start_streams", "symptoms"]

PAD = "·" * 60  # an event of ~200 bytes on the wire: 20 of them fill a 4 KiB buffer


def middlebox_markdown() -> str:
    """The middleboxes as a Markdown table: what each does, after which product."""
    lines = [t("| middlebox | what it does | after |"), "|---|---|---|"]
    for name, text in MIDDLEBOXES.items():
        # The descriptions live in rtlab.net, which speaks no language; tests/test_zh_cn.py checks
        # that the catalogue has each of them (with the same "  [" before the product).
        what, _, after = t(text).partition("  [")
        lines.append(f"| `{name}` | {what} | {after.rstrip(']')} |")
    return "\n".join(lines)


@dataclass
class Stream:
    """What one SSE client saw through one middlebox."""

    label: str
    middlebox: str
    published: int  # events the server published
    sent_s: list[float]  # for each event received: when it was published (s after the start)
    recv_s: list[float]  # ... and when it arrived
    box: dict[str, Any] = field(default_factory=dict)  # what the middlebox said it did
    wire_bytes: int = 0  # bytes that crossed to the client
    server_bytes: int = 0  # bytes the server wrote
    flush_s: float | None = None  # when the flush of big events began (None: there was none)
    small: int = 0  # how many small events the feed published before it
    errors: list[str] = field(default_factory=list)  # what the client said went wrong

    @property
    def before_flush(self) -> int:
        """Events that arrived before the flush began (all of them, if there was none)."""
        return sum(1 for r in self.recv_s if self.flush_s is None or r < self.flush_s)

    @property
    def first_s(self) -> float | None:
        """When the first event arrived (s after the start), or ``None``."""
        return min(self.recv_s) if self.recv_s else None

    @property
    def latencies_ms(self) -> list[float]:
        """Each small event's latency (the flush's big ones, published all at once, left out)."""
        return [(r - s) * 1000 for s, r in zip(self.sent_s, self.recv_s, strict=True)
                if self.flush_s is None or s < self.flush_s]

    def biggest_burst(self, within_s: float = 0.02) -> int:
        """The most events that arrived within ``within_s`` of each other's first."""
        best, times = 0, sorted(self.recv_s)
        for i, start in enumerate(times):
            best = max(best, sum(1 for x in times[i:] if x - start <= within_s))
        return best


class StreamRuns:
    """SSE servers behind middleboxes, a client on each and one feed of small events into all."""

    def __init__(self, setups: dict[str, tuple[str, bool]], *, rate: float, count: int,
                 keepalive: float, flush_with: int) -> None:
        self.setups, self.count, self.flush_with = setups, count, flush_with
        self.servers = {label: serve("sse", name=f"07-stream-{i}", middlebox=box, unbuffered=unbuffered,
                                     keepalive=keepalive)
                        for i, (label, (box, unbuffered)) in enumerate(setups.items())}
        # stall_after: the client says so when two keep-alive intervals pass without a byte
        self.clients = {label: connect("sse", server.url, name=f"07-stream-client-{i}",
                                       stall_after=2 * keepalive)
                        for i, (label, server) in enumerate(self.servers.items())}
        lab.wait_until(lambda: all(s.read(lambda x: x.streams) for s in self.servers.values()), 10)
        self.start_ns = time.monotonic_ns()
        events = [("tick", {"i": i, "pad": PAD}) for i in range(count)]
        self.feed = Feed(list(self.servers.values()), events, rate=rate, count=count).start()
        self.flushed = 0  # big events published after the feed
        self.final: list[tuple[str, int, int, int]] | None = None

    def progress(self) -> list[tuple[str, int, int, int]]:
        """(label, events received, events published, bytes the path holds) for a live view."""
        if self.final is not None:
            return self.final  # the servers are gone: what they showed last
        rows = []
        for label, client in self.clients.items():
            box = self.servers[label].middlebox
            held = box.read()["held_bytes"] if box is not None else 0
            rows.append((label, client.recorder.count, self.feed.published + self.flushed, held))
        return rows

    def wait(self, timeout: float = 20, settle: float = 1.0) -> dict[str, Stream]:
        """Wait for the feed and ``settle`` s more (a held stream gets no more than that), then —
        if asked — push one flush of big events through, and stop everything."""
        self.feed.wait(timeout)
        lab.wait_until(lambda: all(c.recorder.count >= self.count for c in self.clients.values()), settle)
        flush_s, total = None, self.count
        if self.flush_with:  # enough input to fill any buffer on the path: what was held comes out
            flush_s = (time.monotonic_ns() - self.start_ns) / 1e9
            for server in self.servers.values():
                for i in range(self.flush_with):
                    server.publish("big", {"i": i, "pad": "x" * 1000})
            total += self.flush_with
            self.flushed = self.flush_with
            _settled(list(self.clients.values()), total)
        self.final = self.progress()
        out = {}
        for label, client in self.clients.items():
            server, rec = self.servers[label], client.recorder
            relay = server.relay.read() if server.relay is not None else {}
            box = server.middlebox.read() if server.middlebox is not None else {}
            out[label] = Stream(label, self.setups[label][0], total,
                                [(s - self.start_ns) / 1e9 for s in rec.sent_ns],
                                [(r - self.start_ns) / 1e9 for r in rec.recv_ns], box,
                                relay.get("bytes_down", 0), server.stats().bytes_out, flush_s, self.count,
                                list(rec.errors))
        for client in self.clients.values():
            client.stop()
        for server in self.servers.values():
            server.stop()
        return out


def _settled(clients: list[Any], total: int, quiet_s: float = 0.5, timeout: float = 5.0) -> None:
    """Until every client has ``total`` events, or none received anything for ``quiet_s`` (the
    rest is held on the path, and stays held)."""
    deadline, last, counts = time.monotonic() + timeout, time.monotonic(), None
    while time.monotonic() < deadline and any(c.recorder.count < total for c in clients):
        now = [c.recorder.count for c in clients]
        if now != counts:
            counts, last = now, time.monotonic()
        elif time.monotonic() - last >= quiet_s:
            return
        time.sleep(0.02)


def start_streams(setups: dict[str, tuple[str, bool]], *, rate: float = 10, count: int = 30,
                  keepalive: float = 0.5, flush_with: int = 0) -> StreamRuns:
    """Start one SSE server per ``label: (middlebox, unbuffered)`` and feed them all.

    Args:
        setups: ``{"forgot the header": ("buffering", False), ...}``; ``unbuffered`` is the
            SSE server's option that sends ``X-Accel-Buffering: no``.
        rate, count: the feed of small events (~200 bytes each on the wire).
        keepalive: the servers' keep-alive comment interval, s.
        flush_with: after the feed, this many ~1 KiB events more (to push a held block out).
    """
    return StreamRuns(setups, rate=rate, count=count, keepalive=keepalive, flush_with=flush_with)


def idle_race(idle_timeout: float, heartbeats: dict[str, tuple[str, float | None]], *,
              seconds: float = 2.5) -> dict[str, dict[str, Any]]:
    """Quiet connections behind ``idle-timeout``: which of them the load balancer cut.

    Args:
        idle_timeout: the middlebox's timeout, s.
        heartbeats: ``{label: (transport, heartbeat s or None)}`` — SSE's keep-alive comment,
            WebSocket's ping (from the server).
        seconds: how long nothing is published.
    Returns: ``{label: {"cuts": n, "reconnects": n, "got_last": bool}}``.
    """
    servers, clients = {}, {}
    for i, (label, (transport, beat)) in enumerate(heartbeats.items()):
        options: dict[str, Any] = ({"keepalive": beat or 3600.0, "retry_ms": 200} if transport == "sse"
                                   else {"heartbeat": beat})
        servers[label] = serve(transport, name=f"07-idle-{i}", middlebox=f"idle-timeout={idle_timeout:g}",
                               **options)
        clients[label] = connect(transport, servers[label].url, name=f"07-idle-client-{i}")
    try:
        for server in servers.values():
            server.publish("tick", {"i": 1})
        lab.wait_until(lambda: all(c.last_seq >= 1 for c in clients.values()), 10)
        time.sleep(seconds)  # nothing published: only heartbeats, if any, cross the path
        for server in servers.values():
            server.publish("tick", {"i": 2})
        lab.wait_until(lambda: all(c.last_seq >= 2 for c in clients.values()), 10)
        return {label: {"cuts": servers[label].middlebox.read().get("idle_cuts", 0),  # type: ignore[union-attr]
                        "reconnects": clients[label].recorder.reconnects,
                        "got_last": clients[label].last_seq >= 2,
                        "missed": clients[label].recorder.missed} for label in servers}
    finally:
        for client in clients.values():
            client.stop()
        for server in servers.values():
            server.stop()


def refused_websocket() -> dict[str, Any]:
    """A WebSocket client and a long poller behind one ``no-upgrade`` proxy.

    Returns the raw handshake's status line and body, how long rtlab's WebSocket client took to
    give up, its error, and the long poller's events (the fallback that works).
    """
    ws_server = serve("websocket", name="07-no-upgrade-ws", middlebox="no-upgrade")
    lp_server = serve("long-polling", name="07-no-upgrade-lp", middlebox="no-upgrade", hold=5)
    try:
        _, head = handshake(ws_server.url)
        t0 = time.monotonic()
        ws = connect("websocket", ws_server.url, name="07-no-upgrade-ws-client")
        lab.wait_until(lambda: bool(ws.recorder.errors) or not ws.running, 10)
        gave_up_ms = (time.monotonic() - t0) * 1000
        lp = connect("long-polling", lp_server.url, name="07-no-upgrade-lp-client")
        for i in range(3):
            lp_server.publish("tick", {"i": i})
        lab.wait_until(lambda: lp.last_seq >= 3, 10)
        result = {"status_line": head.split(b"\r\n", 1)[0].decode("latin-1"), "status": status_code(head),
                  "error": (ws.recorder.errors or ["(none)"])[0], "gave_up_ms": gave_up_ms,
                  "ws_events": ws.recorder.count, "long_polling_events": lp.recorder.count,
                  "box": ws_server.middlebox.read() if ws_server.middlebox else {}}
        ws.stop()
        lp.stop()
        return result
    finally:
        ws_server.stop()
        lp_server.stop()


def refuse_mid_run(events: int = 5) -> dict[str, Any]:
    """A WebSocket stream through a proxy whose policy changes while it runs.

    The stream runs, then ``block_upgrades()``: the open WebSocket is cut, and the client's
    reconnect is refused. Returns the events it had, how long until it noticed, and its errors.
    """
    server = serve("websocket", name="07-mid-run", middlebox="transparent")
    client = connect("websocket", server.url, name="07-mid-run-client")
    try:
        for i in range(events):
            server.publish("tick", {"i": i})
        lab.wait_until(lambda: client.last_seq >= events, 10)
        box = server.middlebox
        assert box is not None
        t0 = time.monotonic()
        box.block_upgrades()
        lab.wait_until(lambda: any("403" in e for e in client.recorder.errors), 10)
        noticed_ms = (time.monotonic() - t0) * 1000
        return {"events_before": client.last_seq, "noticed_ms": noticed_ms,
                "errors": list(client.recorder.errors), "box": box.read()}
    finally:
        client.stop()
        server.stop()


@dataclass(frozen=True)
class Symptoms:
    """What a raw client saw through one path, in one look (:func:`symptoms`).

    Args:
        status: the SSE response's status code, or ``None`` if no response head arrived.
        content_encoding: its ``Content-Encoding`` header, or ``None``.
        first_byte_s: seconds until the first byte of the stream's body arrived (``None``: none did).
        closed_s: seconds until the path closed the connection (``None``: it stayed open).
        websocket_status: the status a WebSocket handshake got (101 when accepted).
    """

    status: int | None
    content_encoding: str | None
    first_byte_s: float | None
    closed_s: float | None
    websocket_status: int | None


# What the lab sees through each middlebox with a quiet SSE server (keep-alive every 2 s, no
# X-Accel-Buffering header) and a look of 1.2 s: the exercise's test data (the notebook measures its own).
TYPICAL_SYMPTOMS = {
    "transparent": Symptoms(200, None, 0.002, None, 101),
    "buffering": Symptoms(None, None, None, None, 101),
    "compressing": Symptoms(200, "gzip", None, None, 101),
    "idle-timeout=0.6": Symptoms(200, None, 0.002, 0.6, 101),
    "no-upgrade": Symptoms(200, None, 0.002, None, 403),
}


def _look(server: Any, seconds: float) -> tuple[int | None, str | None, float | None, float | None]:
    assert server.relay is not None
    sock = socket.create_connection(("127.0.0.1", server.relay.port), timeout=5)
    sock.settimeout(0.05)
    sock.sendall(f"GET {server.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                 "Accept-Encoding: gzip\r\n\r\n".encode())
    got, head, first, closed = b"", None, None, None
    t0 = time.monotonic()
    try:
        while (now := time.monotonic() - t0) < seconds:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                closed = now
                break
            got += data
            if head is None and b"\r\n\r\n" in got:
                raw, _, got = got.partition(b"\r\n\r\n")
                head = Head.parse(raw + b"\r\n\r\n")
            if head is not None and got and first is None:
                first = now
    finally:
        sock.close()
    return (head.status if head else None, head.get("Content-Encoding") if head else None,
            _ms(first), _ms(closed))


def _ms(seconds: float | None) -> float | None:
    """Seconds to the millisecond, as a learner reads them."""
    return None if seconds is None else round(seconds, 3)


def symptoms(seconds: float = 1.2) -> dict[str, Symptoms]:
    """Look through each middlebox at once, as a raw client would: an SSE stream and a handshake."""
    names = list(TYPICAL_SYMPTOMS)
    servers = {name: serve("sse", name=f"07-look-{i}", middlebox=name, keepalive=2.0, unbuffered=False)
               for i, name in enumerate(names)}
    ws = {name: serve("websocket", name=f"07-look-ws-{i}", middlebox=name) for i, name in enumerate(names)}
    looks: dict[str, Any] = {}
    try:
        threads = [threading.Thread(target=lambda n=name: looks.__setitem__(n, _look(servers[n], seconds)))
                   for name in names]
        for thread in threads:
            thread.start()
        statuses = {name: status_code(handshake(ws[name].url)[1]) for name in names}
        for thread in threads:
            thread.join(seconds + 10)
        return {name: Symptoms(*looks[name], statuses[name]) for name in names}
    finally:
        for server in [*servers.values(), *ws.values()]:
            server.stop()


def spec_of(name: str) -> str:
    """The middlebox's canonical spec (``"buffering"`` → ``"buffering=4k"``)."""
    box = Middlebox.parse(name)
    return box.spec if box is not None else "transparent"


def race_markdown(race: dict[str, dict[str, Any]], idle_timeout: float) -> str:
    """:func:`idle_race`'s outcome as a Markdown table."""
    lines = [t("| connection (idle timeout {timeout:g} s) | cut by the path | reconnects | next event "
               "| missed |", timeout=idle_timeout), "|---|---|---|---|---|"]
    for label, r in race.items():
        lines.append(f"| {label} | {r['cuts']} | {r['reconnects']} | "
                     f"{t('arrived') if r['got_last'] else t('lost')} | {r['missed']} |")
    return "\n".join(lines)
