"""How much latency does each rtlab transport add on top of a bare TCP push?

One run measures, one after the other on this machine:

* **raw TCP**, the baseline: the least a push can cost with Python's asyncio here. A
  server on its own loop thread (like every rtlab server) writes each event as one
  newline-terminated JSON line to a plain asyncio TCP connection; a client on rtlab's
  client loop reads the lines. No HTTP, no framing, no hub.
* **WebSocket, SSE, long polling**: ``rtlab.experiments.measure`` with 1 client.
* **short polling**, whose latency is set by its interval, not by the wire: its mean
  is compared with the theory ``interval / 2 + request time``, the request time being
  the median of real short-poll requests timed in the same run.

  The theory assumes that events arrive at times unrelated to the polls. A feed of
  exactly 100 events/s polled every 0.1 s breaks that: both run on fixed grids, so every
  event lands at the same ten offsets before a poll, and the mean depends on how the two
  grids happen to line up (anywhere from about 45 to 55 ms, steady within a run). So
  short polling gets its own feed rate, ``--poll-rate`` (97/s), which slides past the
  poll grid and samples every offset.

Every stream is published the same way: :class:`rtlab.lessons.feed.Feed` on the client
loop stamps ``time.monotonic_ns()`` and hands the event to the server's loop with
``call_soon_threadsafe``; the client stamps its arrival. Latency = arrival - stamp.

Usage::

    python benchmarks/latency.py                      # 300 events at 100/s, interval 0.1 s
    python benchmarks/latency.py --events 1000 --json results.json
    python benchmarks/latency.py --repeat 5           # verdicts from the median of 5 rounds

Targets (p50 relative to raw TCP): WebSocket ≤ 1.5×, SSE ≤ 2×, long polling ≤ 3.5×;
short polling's mean within ±10 % of its theory. Each is reported PASS or MISS; the
exit status is 0 either way (a benchmark informs, it does not gate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from typing import Any

import aiohttp

from rtlab import lab
from rtlab.hub import Event
from rtlab.lessons.experiments import measure
from rtlab.lessons.feed import Feed
from rtlab.metrics import Summary
from rtlab.net import short_polling
from rtlab.net.client import Client
from rtlab.net.server import LOOPBACK

# transport -> the most its p50 may be, as a multiple of raw TCP's p50
P50_TARGETS = {"websocket": 1.5, "sse": 2.0, "long-polling": 3.5}
SHORT_POLL_TOLERANCE = 0.10  # short polling's mean may differ from its theory by ±10 %


# -- the baseline: a raw asyncio TCP push ---------------------------------------------------------
class RawTCPServer:
    """Writes each published event as one JSON line to every connected socket.

    Shaped like an rtlab server where it matters for timing: its own loop thread, and a
    thread-safe :meth:`publish` that hops onto that loop, so :class:`Feed` can drive it.
    """

    def __init__(self) -> None:
        self.seq = 0
        self.writers: list[asyncio.StreamWriter] = []
        self._loop_thread = lab.LoopThread("raw-tcp-server")
        self._listener = self._loop_thread.run(self._listen())
        self.port: int = self._listener.sockets[0].getsockname()[1]

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._accept, LOOPBACK, 0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            await reader.read()  # nothing comes this way; returns when the client hangs up
        finally:
            self.writers.remove(writer)
            writer.close()

    @property
    def running(self) -> bool:
        return self._loop_thread.alive

    def publish(self, type: str, data: Any = None, sent_ns: int | None = None) -> None:
        stamp = time.monotonic_ns() if sent_ns is None else sent_ns
        self._loop_thread.loop.call_soon_threadsafe(self._push, type, data, stamp)

    def _push(self, type: str, data: Any, sent_ns: int) -> None:
        self.seq += 1
        line = Event(self.seq, type, data, sent_ns).to_json() + "\n"
        for writer in self.writers:
            writer.write(line.encode())  # asyncio sets TCP_NODELAY: this goes out now

    def stop(self) -> None:
        self._loop_thread.run(self._close())
        self._loop_thread.stop()

    async def _close(self) -> None:
        self._listener.close()
        for writer in self.writers:
            writer.close()
        while self.writers:  # let each _accept see its connection end, rather than cancel it
            await asyncio.sleep(0.001)


class RawTCPClient(Client):
    """Reads JSON lines; stamps each on arrival, before parsing, as rtlab's clients do."""

    transport = "raw-tcp"

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection(LOOPBACK, int(self.url))
        self.recorder.connections += 1
        try:
            while line := await reader.readline():
                recv_ns = time.monotonic_ns()
                self.received(Event.from_dict(json.loads(line)), recv_ns)
        finally:
            writer.close()


def measure_raw_tcp(events: int, rate: float, seed: int = 0) -> Summary:
    """Push ``events`` at ``rate``/s over raw TCP to one client; the latency summary in ms."""
    server = RawTCPServer()
    client = RawTCPClient(str(server.port)).start()
    try:
        deadline = time.monotonic() + 10
        while not server.writers and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # the same settling pause rtlab's experiments take
        feed = Feed(server, "ticker", rate=rate, count=events, seed=seed).start()
        feed.wait()
        if not client.wait_for(events, timeout=5):
            raise RuntimeError(f"raw TCP baseline: {client.recorder.count}/{events} events "
                               f"arrived {client.recorder.errors}")
        return client.recorder.summary()
    finally:
        client.stop()
        server.stop()


# -- short polling: how long one request takes ----------------------------------------------------
def short_poll_request_ms(events_per_poll: int, polls: int = 200, seed: int = 0) -> float:
    """Median time of one short-poll request that brings back ``events_per_poll`` events.

    The same client code as the experiment (:meth:`ShortPollingClient.poll_once`) on the
    same loop, against a server that already holds the events.
    """
    server = short_polling.Server(name="benchmark-request-time").start()
    try:
        feed = Feed(server, "ticker", rate=10_000, count=max(events_per_poll, 1), seed=seed)
        feed.start().wait()
        latest = feed.published
        while server.stats().events < latest:
            time.sleep(0.005)
        poller = short_polling.Client(server.url)  # never started: we call poll_once ourselves

        async def timed_polls() -> list[float]:
            durations = []
            async with aiohttp.ClientSession() as session:
                for _ in range(polls):
                    poller.last_seq = max(0, latest - events_per_poll)
                    start = time.monotonic_ns()
                    await poller.poll_once(session)
                    durations.append((time.monotonic_ns() - start) / 1e6)
            return durations[10:]  # the first requests open the connection: not a steady poll

        return statistics.median(lab.client_loop().run(timed_polls(), timeout=60))
    finally:
        server.stop()


# -- the run ------------------------------------------------------------------------------------------
def run(events: int, rate: float, interval: float, poll_rate: float) -> dict[str, Any]:
    """Measure everything once; returns the numbers and verdicts as plain data."""
    results: dict[str, Any] = {
        "settings": {"events": events, "rate": rate, "interval_s": interval,
                     "poll_rate": poll_rate, "clients": 1},
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "transports": {},
    }
    raw = measure_raw_tcp(events, rate)
    results["transports"]["raw-tcp"] = {**raw.as_dict(), "ratio_p50": 1.0}
    for transport, limit in P50_TARGETS.items():
        summary = measure(transport, clients=1, events=events, rate=rate).summary()
        ratio = summary.p50 / raw.p50
        results["transports"][transport] = {
            **summary.as_dict(), "ratio_p50": ratio, "target": f"p50 <= {limit}x raw TCP",
            "pass": summary.count == events and ratio <= limit,
        }
    request_ms = short_poll_request_ms(events_per_poll=round(poll_rate * interval))
    polled = measure("short-polling", clients=1, events=events, rate=poll_rate, interval=interval)
    summary = polled.summary()
    theory = interval * 1000 / 2 + request_ms
    error = summary.mean / theory - 1
    results["transports"]["short-polling"] = {
        **summary.as_dict(), "ratio_p50": summary.p50 / raw.p50,
        "request_ms": request_ms, "theory_mean_ms": theory, "error": error,
        "target": f"mean within ±{SHORT_POLL_TOLERANCE:.0%} of interval/2 + request time",
        "pass": summary.count == events and abs(error) <= SHORT_POLL_TOLERANCE,
    }
    return results


def format_table(results: dict[str, Any]) -> str:
    header = (f"{'transport':<14} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
              f"{'p50/raw':>8}  target")
    lines = [header, "-" * (len(header) + 44)]
    for name, r in results["transports"].items():
        row = (f"{name:<14} {r['count']:>5} {r['p50']:>8.3f} {r['p99']:>8.3f} {r['mean']:>8.3f} "
               f"{r['ratio_p50']:>7.2f}×  ")
        if name in P50_TARGETS:
            row += f"≤ {P50_TARGETS[name]}×  {'PASS' if r['pass'] else 'MISS'}"
        elif name == "short-polling":
            row += (f"mean vs theory {r['theory_mean_ms']:.2f} ms "
                    f"({r['error']:+.1%}, ±{SHORT_POLL_TOLERANCE:.0%})  "
                    f"{'PASS' if r['pass'] else 'MISS'}")
        else:
            row += "baseline"
        lines.append(row)
    sp = results["transports"]["short-polling"]
    settings = results["settings"]
    lines.append(f"short polling: theory = {settings['interval_s'] * 1000:g} ms / 2 "
                 f"+ median request time {sp['request_ms']:.3f} ms "
                 f"(events at {settings['poll_rate']:g}/s)")
    return "\n".join(lines)


def format_medians(rounds: list[dict[str, Any]]) -> str:
    """Verdicts from the median over rounds: one noisy round should not decide."""
    lines = [f"median of {len(rounds)} rounds:"]
    for name, limit in P50_TARGETS.items():
        ratio = statistics.median(r["transports"][name]["ratio_p50"] for r in rounds)
        p50 = statistics.median(r["transports"][name]["p50"] for r in rounds)
        lines.append(f"  {name:<14} p50 {p50:.3f} ms = {ratio:.2f}× raw TCP (≤ {limit}×)  "
                     f"{'PASS' if ratio <= limit else 'MISS'}")
    error = statistics.median(r["transports"]["short-polling"]["error"] for r in rounds)
    lines.append(f"  {'short-polling':<14} mean {error:+.1%} vs theory "
                 f"(±{SHORT_POLL_TOLERANCE:.0%})  "
                 f"{'PASS' if abs(error) <= SHORT_POLL_TOLERANCE else 'MISS'}")
    raw = statistics.median(r["transports"]["raw-tcp"]["p50"] for r in rounds)
    lines.append(f"  raw TCP p50 {raw:.3f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300, help="events per transport (300)")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second (100)")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="short polling interval in seconds (0.1)")
    parser.add_argument("--poll-rate", type=float, default=97.0,
                        help="events per second for short polling (97: not a multiple of "
                        "1/interval, see above)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure everything N times and judge the medians (1)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    rounds = []
    try:
        for number in range(1, args.repeat + 1):
            rounds.append(run(args.events, args.rate, args.interval, args.poll_rate))
            if args.repeat > 1:
                print(f"round {number}/{args.repeat}")
            print(format_table(rounds[-1]), end="\n\n", flush=True)
    finally:
        lab.stop_all()
    if args.repeat > 1:
        print(format_medians(rounds))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rounds[0] if len(rounds) == 1 else {"rounds": rounds}, f, indent=2,
                      ensure_ascii=False)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
