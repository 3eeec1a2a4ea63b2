"""Does one slow consumer hurt anybody else?

A consumer that reads 100× slower than events arrive (a phone on a bad network, a
browser tab in the background) must cost the server a bounded amount of memory, must be
dealt with by the hub's overflow policy, and must not slow down everyone else. This
script measures all three, for SSE and WebSocket:

* **run A**: a server, ``--fast`` (20) rtlab clients, a feed of ``--events`` (2,000)
  events of ``--payload`` (1,000) bytes at ``--rate`` (200) per second;
* **run B**: the same, plus ``--slow`` (2) slow consumers. Each is a raw socket with a
  small receive buffer (``SO_RCVBUF`` 8 KiB, as in ``tests/test_slow_clients.py``), in
  a thread of its own, reading a few hundred bytes at a time at 1/100 of the feed's
  byte rate. TCP back-pressure then reaches the server within a few events.

For each run it reports the fast clients' latency (p50, p99 over every event of every
fast client), whether they lost anything, the process's RSS (before the feed, the peak
while it runs, after the slow consumers hung up), the most the server held for any one
connection (events queued for it in the hub, bytes in its transport's write buffer),
and how often the hub dropped a slow subscriber (``Hub.dropped``). After the feed, each
slow consumer reads the rest at full speed to see how its connection ended: SSE's
``: closing: ...`` comment, or WebSocket close code 1013.

A and B alternate (A B, then B A, ...) with a fresh server each time, so a busy moment
on the machine does not always hit the same one; ``--repeat`` judges the medians.

Usage::

    python benchmarks/slow_consumer.py                    # one A/B round per transport, ~45 s
    python benchmarks/slow_consumer.py --repeat 3         # medians of three rounds
    python benchmarks/slow_consumer.py --slow 5 --json slow.json

Targets, from the reliability issue: the fast clients' p99 in B ≤ 2 × their p99 in A;
the fast clients lose nothing; every slow consumer is dropped by the policy; no
subscriber ever has more than ``queue_size`` events queued. PASS or MISS; the exit
status is 0 either way (a benchmark informs, it does not gate).

Everything runs in this one process (servers, clients, slow consumers), so RSS is the
whole process's: the fast clients and the replay buffer are in A and B alike, and what
B adds is the slow consumers' cost on top.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from rtlab import lab
from rtlab.lessons.experiments import connect, serve
from rtlab.lessons.feed import Feed
from rtlab.metrics import summarize
from rtlab.net.server import Server

P99_TARGET = 2.0  # the fast clients' p99 with slow consumers, at most this × without
TRANSPORTS = ("sse", "websocket")
SLOW_RCVBUF = 8192  # the slow consumer's receive buffer: small, so back-pressure comes quickly
PAGE = os.sysconf("SC_PAGE_SIZE")
WS_UPGRADE = ("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
WS_CLOSE_1013 = b"\x03\xf5"  # 1013 "try again later", as the first two bytes of a close frame


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def padded_events(payload: int) -> Iterator[tuple[str, dict[str, Any]]]:
    i = 0
    while True:
        i += 1
        yield "tick", {"i": i, "pad": "x" * payload}


def on_server(server: Server, function: Any) -> Any:
    """Call ``function()`` on the server's loop (the hub belongs to that loop) and return its result."""
    async def call() -> Any:
        return function()
    return server.call(call(), timeout=10)


# -- the slow consumer -----------------------------------------------------------------------------
class SlowConsumer:
    """A raw socket that reads ``bytes_per_s`` bytes per second, in a thread of its own.

    It speaks just enough HTTP to open an event stream or a WebSocket, and never parses
    what comes: the point is how slowly it reads. The sleep between reads *is* the
    slowness under test, not faked latency. :meth:`finish` then reads the rest at full
    speed to find how the server ended the connection.
    """

    def __init__(self, server: Server, transport: str, bytes_per_s: float, name: str,
                 chunk: int = 256) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)  # before connect
        self.sock.connect((server.host, server.port))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()  # how the server sees this connection (its peer)
        if transport == "sse":
            head = [f"GET {server.path}?client={name} HTTP/1.1", "Accept: text/event-stream"]
        else:
            head = [f"GET {server.path}?client={name} HTTP/1.1", *WS_UPGRADE]
        head.insert(1, f"Host: {server.host}:{server.port}")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        self.transport = transport
        self.chunk = chunk
        self.pause_s = chunk / bytes_per_s
        self.read_slowly = 0  # bytes read while slow
        self.tail = b""  # the last bytes seen, where the server's goodbye will be
        self.ending = "still open"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_slowly, name=f"slow-{name}", daemon=True)
        self._thread.start()

    def _read_slowly(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(self.chunk)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            self.read_slowly += len(data)
            self.tail = (self.tail + data)[-400:]
            self._stop.wait(self.pause_s)  # slow: this is the point

    def finish(self, seconds: float = 5.0) -> str:
        """Stop being slow, read what is left, close; returns how the server ended the stream."""
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.ending == "still open":
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                self.ending = f"error {exc!r}"
                break
            self.tail = (self.tail + data)[-400:]
            if self.transport == "sse" and b": closing:" in self.tail:
                notice = self.tail[self.tail.index(b": closing:"):].split(b"\n")[0]
                self.ending = notice.decode(errors="replace").lstrip(": ")
            elif self.transport == "websocket" and b"\x88" in self.tail:
                frame = self.tail[self.tail.rindex(b"\x88"):]
                code = int.from_bytes(frame[2:4], "big") if len(frame) >= 4 else None
                if code is not None:
                    self.ending = f"close {code}" + (" (too slow)" if frame[2:4] == WS_CLOSE_1013 else "")
            elif not data:
                self.ending = "closed without a notice"
        self.sock.close()
        return self.ending


def cap_server_send_buffer(server: Server, consumers: list[SlowConsumer], sndbuf: int) -> None:
    """Set ``SO_SNDBUF`` on the server's end of the slow consumers' connections only.

    Linux grows a socket's send buffer on its own (``net.ipv4.tcp_wmem``, up to 4 MB):
    on loopback the server's kernel took ~3.3 MB for each slow consumer before asyncio
    ever saw back-pressure, 15 s of a 220 kB/s feed. rtlab servers now fix ``SO_SNDBUF``
    themselves (``socket_send_buffer=``, 256 KiB, as nginx's ``listen ... sndbuf=``);
    this override tries other sizes on the slow connections only.
    """
    slow_peers = {consumer.address for consumer in consumers}

    def cap() -> int:
        capped = 0
        for transport in server._transports.values():
            if transport.get_extra_info("peername") in slow_peers:
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
                capped += 1
        return capped

    if on_server(server, cap) != len(consumers):
        raise RuntimeError("could not find the server's end of every slow consumer's connection")


# -- what the server holds ----------------------------------------------------------------------------
class ServerWatch:
    """Samples, every ``period`` seconds on the server's own loop, the most it holds for one client.

    Reads the hub's subscriber queues and the transports' write buffers: private
    attributes, read only, because this is exactly the memory the policy promises to bound.
    """

    def __init__(self, server: Server, period: float = 0.05) -> None:
        self.server = server
        self.period = period
        self.max_queued = 0  # events waiting in one subscriber's queue
        self.max_write_buffer = 0  # bytes waiting in one connection's asyncio write buffer
        self.rss_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="server-watch", daemon=True)

    def _held(self) -> tuple[int, int]:
        hub = self.server.hub
        queued = max((len(sub.queue) for sub in hub._subscribers), default=0) if hub else 0
        buffered = max((t.get_write_buffer_size() for t in self.server._transports.values()
                        if not t.is_closing()), default=0)
        return queued, buffered

    def _sample(self) -> None:
        while not self._stop.wait(self.period):
            self.rss_peak = max(self.rss_peak, rss_bytes())
            queued, buffered = on_server(self.server, self._held)
            self.max_queued = max(self.max_queued, queued)
            self.max_write_buffer = max(self.max_write_buffer, buffered)

    def __enter__(self) -> ServerWatch:
        self.rss_peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- one run -----------------------------------------------------------------------------------------
def wait_for_subscribers(server: Server, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while on_server(server, lambda: server.hub.subscriber_count) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server!r}: fewer than {count} subscribers after {timeout} s")
        time.sleep(0.01)


def run_once(transport: str, *, slow: int, fast: int, events: int, rate: float, payload: int,
             slowdown: float, queue_size: int, server_sndbuf: int) -> dict[str, Any]:
    """One run: ``fast`` clients, plus ``slow`` slow consumers (0 for run A)."""
    server = serve(transport, name=f"slow-consumer-{transport}", queue_size=queue_size)
    clients = [connect(transport, server.url, name=f"fast-{transport}-{i}") for i in range(fast)]
    consumers: list[SlowConsumer] = []
    try:
        wait_for_subscribers(server, fast)
        # The feed's bytes per second on the wire, roughly: the payload plus ~100 bytes of
        # seq, type, stamps and framing. The slow consumers read 1/slowdown of that.
        bytes_per_s = rate * (payload + 100) / slowdown
        consumers = [SlowConsumer(server, transport, bytes_per_s, f"slow-{i}") for i in range(slow)]
        wait_for_subscribers(server, fast + slow)
        if consumers and server_sndbuf:
            cap_server_send_buffer(server, consumers, server_sndbuf)
        time.sleep(0.2)  # let the connections settle, as rtlab's experiments do
        rss_before = rss_bytes()
        with ServerWatch(server) as watch:
            feed = Feed(server, padded_events(payload), rate=rate, count=events).start()
            feed.wait()
            for client in clients:
                client.wait_for(events, timeout=10)
        dropped = on_server(server, lambda: server.hub.dropped)
        endings = [consumer.finish() for consumer in consumers]
        time.sleep(0.5)  # the server notices the slow consumers are gone and frees what they held
        rss_after = rss_bytes()
        summary = summarize(x for c in clients for x in c.recorder.latencies_ms())
        lost = sum(events - c.recorder.count + c.recorder.missed for c in clients)
        repeated = sum(c.recorder.duplicates for c in clients)
        reconnects = sum(c.recorder.reconnects for c in clients)
        return {
            "transport": transport, "slow": slow, "fast": fast,
            **{k: v for k, v in summary.as_dict().items()},
            "fast_lost": lost, "fast_duplicates": repeated, "fast_reconnects": reconnects,
            "dropped": dropped, "slow_endings": endings,
            "slow_read_bytes": [consumer.read_slowly for consumer in consumers],
            "max_queued_events": watch.max_queued, "max_write_buffer_bytes": watch.max_write_buffer,
            "rss_before_mb": rss_before / 1e6, "rss_peak_mb": watch.rss_peak / 1e6,
            "rss_after_mb": rss_after / 1e6,
        }
    finally:
        for consumer in consumers:
            consumer.sock.close()
        for client in clients:
            client.stop()
        server.stop()


def run_round(number: int, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """A and B for each transport; odd rounds run A first, even rounds B first."""
    settings = {"fast": args.fast, "events": args.events, "rate": args.rate,
                "payload": args.payload, "slowdown": args.slowdown, "queue_size": args.queue_size,
                "server_sndbuf": args.server_sndbuf}
    order = [0, args.slow] if number % 2 else [args.slow, 0]
    result: dict[str, dict[str, Any]] = {}
    for transport in TRANSPORTS:
        runs = {slow: run_once(transport, slow=slow, **settings) for slow in order}
        a, b = runs[0], runs[args.slow]
        result[transport] = {"A": a, "B": b, "p99_ratio": b["p99"] / a["p99"],
                             "p50_ratio": b["p50"] / a["p50"]}
    return result


# -- the verdicts ------------------------------------------------------------------------------------
def verdicts(rounds: list[dict[str, dict[str, Any]]], transport: str, slow: int,
             queue_size: int) -> dict[str, Any]:
    runs = [r[transport] for r in rounds]
    ratio = statistics.median(r["p99_ratio"] for r in runs)
    lost = sum(r[k]["fast_lost"] + r[k]["fast_duplicates"] for r in runs for k in "AB")
    dropped = [r["B"]["dropped"] for r in runs]
    max_queued = max(r[k]["max_queued_events"] for r in runs for k in "AB")
    return {
        "p99_ratio_median": ratio, "p99_pass": ratio <= P99_TARGET,
        "fast_lost": lost, "lost_pass": lost == 0,
        "dropped_per_round": dropped, "policy_pass": all(d >= slow for d in dropped),
        "max_queued_events": max_queued, "memory_pass": max_queued <= queue_size,
    }


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def format_round(result: dict[str, dict[str, Any]]) -> str:
    header = (f"{'transport':<10} {'run':<12} {'p50 ms':>7} {'p99 ms':>7} {'lost':>5} "
              f"{'dropped':>7} {'max queue':>9} {'max wbuf':>9} {'RSS before/peak/after MB':>26} "
              f"{'peak-before':>11}")
    lines = [header, "-" * len(header)]
    for transport, r in result.items():
        for key in "AB":
            run = r[key]
            label = "A (no slow)" if key == "A" else f"B ({run['slow']} slow)"
            lines.append(
                f"{transport:<10} {label:<12} {run['p50']:>7.3f} {run['p99']:>7.3f} "
                f"{run['fast_lost'] + run['fast_duplicates']:>5} {run['dropped']:>7} "
                f"{run['max_queued_events']:>9} {run['max_write_buffer_bytes'] / 1024:>7.0f}Ki "
                f"{run['rss_before_mb']:>10.1f} /{run['rss_peak_mb']:>6.1f} /{run['rss_after_mb']:>6.1f} "
                f"{run['rss_peak_mb'] - run['rss_before_mb']:>+9.1f} MB")
        lines.append(f"{'':<10} B/A: p50 {r['p50_ratio']:.2f}×, p99 {r['p99_ratio']:.2f}×; "
                     f"slow consumers ended with: {', '.join(r['B']['slow_endings']) or '-'}")
    return "\n".join(lines)


def format_verdicts(rounds: list[dict[str, dict[str, Any]]], args: argparse.Namespace) -> str:
    lines = [f"verdicts ({'median of ' + str(len(rounds)) + ' rounds' if len(rounds) > 1 else '1 round'}):"]
    for transport in TRANSPORTS:
        v = verdicts(rounds, transport, args.slow, args.queue_size)
        lines.append(
            f"  {transport:<10} fast p99 B/A {v['p99_ratio_median']:.2f}× (≤ {P99_TARGET}×) "
            f"{mark(v['p99_pass'])} | fast clients lost {v['fast_lost']} {mark(v['lost_pass'])} | "
            f"slow dropped {v['dropped_per_round']} (≥ {args.slow} each) {mark(v['policy_pass'])} | "
            f"max queue {v['max_queued_events']} ≤ {args.queue_size} {mark(v['memory_pass'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", type=int, default=20, help="fast rtlab clients (20)")
    parser.add_argument("--slow", type=int, default=2, help="slow consumers in run B (2)")
    parser.add_argument("--events", type=int, default=2000, help="events per run (2000)")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second (200)")
    parser.add_argument("--payload", type=int, default=1000, help="payload bytes per event (1000)")
    parser.add_argument("--slowdown", type=float, default=100.0,
                        help="slow consumers read this many times slower than events arrive (100)")
    parser.add_argument("--queue-size", type=int, default=1000,
                        help="the servers' queue_size: events a subscriber may fall behind (1000, "
                        "rtlab's default)")
    parser.add_argument("--server-sndbuf", type=int, default=0,
                        help="override SO_SNDBUF of the server's end of each slow connection; "
                        "0 (default) keeps the server's own socket_send_buffer (256 KiB)")
    parser.add_argument("--repeat", type=int, default=1, help="A/B rounds; verdicts from medians (1)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    rounds = []
    started = time.monotonic()
    try:
        for number in range(1, args.repeat + 1):
            rounds.append(run_round(number, args))
            print(f"round {number}/{args.repeat}")
            print(format_round(rounds[-1]), end="\n\n", flush=True)
    finally:
        lab.stop_all()
    print(format_verdicts(rounds, args))
    print(f"took {time.monotonic() - started:.0f} s")
    if args.json:
        results = {
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "rounds": rounds,
            "verdicts": {t: verdicts(rounds, t, args.slow, args.queue_size) for t in TRANSPORTS},
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, ensure_ascii=False)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
