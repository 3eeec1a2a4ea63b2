"""Experiments: start a server, connect clients, publish a stream, return what it cost.

``measure("sse", clients=5, events=100, rate=50)`` is one experiment;
``compare()`` sends **one** event stream through all four techniques at once, to the
same number of clients each, and returns one :class:`Result` per technique.

Every call here blocks until the experiment is over. Each has an ``_async`` twin to
``await`` in a notebook cell (``await measure_async(...)``); the work itself runs on
rtlab's own loops either way (see :mod:`rtlab.lab`).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import lab
from ..metrics import Recorder, Summary, summarize
from ..net import TRANSPORTS, Client, Server, connect, serve, transport_module
from ..net.path_model import NetworkPath, resolve
from ..net.server import ServerStats
from ..trace import Trace
from .feed import Feed

__all__ = ["TRANSPORTS", "Result", "burst", "compare", "compare_async", "connect", "measure",
           "measure_async", "run_experiment", "scale", "serve", "table", "transport_module", "wait_until"]

SAME_MOMENT_MS = 5.0  # receipts of one event closer than this are one sample (see Result)


@dataclass
class Result:
    """What one technique did in one experiment: per-client records and the server's counters."""

    transport: str
    events: int  # events published
    recorders: list[Recorder]
    server: ServerStats
    duration_s: float
    options: dict[str, Any] = field(default_factory=dict)
    empty_before: int = 0  # empty responses the clients had before the first event (set-up)
    server_trace: Trace | None = None  # the server's trace, if the experiment was traced

    @property
    def clients(self) -> int:
        return len(self.recorders)

    def latencies_ms(self) -> list[float]:
        return [x for r in self.recorders for x in r.latencies_ms()]

    def summary(self) -> Summary:
        return summarize(self.latencies_ms())

    def _per_event(self, total: float) -> float:
        deliveries = self.events * self.clients
        return total / deliveries if deliveries else math.nan

    @property
    def independent_samples(self) -> int:
        """Distinct arrival moments: how many of the latencies are separate samples.

        Clients that receive one event within :data:`SAME_MOMENT_MS` of each other got it
        from the same moment — the same fan-out, or pollers in step with each other — so
        their latencies are one sample, not several. Per event, receipts are sorted and a
        new moment starts at the first receipt more than that after the current moment's
        first. An estimate: a long fan-out (100 clients) counts as several moments.
        """
        arrivals: dict[int, list[int]] = {}
        for rec in self.recorders:
            for seq, recv in zip(rec.seqs, rec.recv_ns, strict=True):
                arrivals.setdefault(seq, []).append(recv)
        window_ns = SAME_MOMENT_MS * 1e6
        moments = 0
        for times in arrivals.values():
            start = None
            for t in sorted(times):
                if start is None or t - start > window_ns:
                    moments, start = moments + 1, t
        return moments

    @property
    def delivered(self) -> int:
        return sum(r.count for r in self.recorders)

    @property
    def requests_per_event(self) -> float:
        """HTTP requests the server answered during the experiment, per event per client.

        Counted at the server from the first event on: polls made while other clients were
        still connecting are set-up, not the cost of an event.
        """
        return self._per_event(self.server.requests)

    @property
    def empty_responses(self) -> int:
        return sum(r.empty for r in self.recorders) - self.empty_before

    @property
    def bytes_per_event(self) -> float:
        """Bytes both ways on the wire (headers and framing included) per event per client."""
        return self._per_event(self.server.bytes_in + self.server.bytes_out)

    @property
    def bytes_in_per_event(self) -> float:
        return self._per_event(self.server.bytes_in)

    @property
    def bytes_out_per_event(self) -> float:
        return self._per_event(self.server.bytes_out)

    @property
    def cpu_us_per_event(self) -> float:
        """Server CPU time per event per client, in microseconds."""
        return self._per_event(self.server.cpu_s * 1e6)

    def row(self) -> dict[str, Any]:
        """One row of a comparison table."""
        s = self.summary()
        return {
            "transport": self.transport, "clients": self.clients, "events": self.events,
            "delivered": self.delivered, "p50_ms": s.p50, "p99_ms": s.p99, "mean_ms": s.mean,
            "requests_per_event": self.requests_per_event, "bytes_per_event": self.bytes_per_event,
            "cpu_us_per_event": self.cpu_us_per_event,
            "connections": self.server.connections_total,
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<Result {self.transport}: {self.delivered}/{self.events * self.clients} delivered, "
                f"p50 {s.p50:.3g} ms, p99 {s.p99:.3g} ms, {self.requests_per_event:.3g} req/event, "
                f"{self.bytes_per_event:.0f} B/event>")


def _client_options(transport: str, interval: float, extra: dict[str, Any]) -> dict[str, Any]:
    options = dict(extra)
    if transport == "short-polling":
        options.setdefault("interval", interval)
    return options


def run_experiment(
    transports: list[str],
    *,
    clients: int = 1,
    events: int = 100,
    rate: float = 50.0,
    interval: float = 0.2,
    scenario: str = "ticker",
    seed: int = 0,
    arrivals: str = "poisson",
    timeout: float | None = None,
    server_options: dict[str, dict[str, Any]] | None = None,
    client_options: dict[str, dict[str, Any]] | None = None,
    watch: Callable[[dict[str, list[Recorder]], int], Any] | None = None,
    trace: bool = False,
    network: str | NetworkPath | dict[str, Any] | None = None,
) -> dict[str, Result]:
    """Publish one stream of ``events`` at ``rate``/s through ``transports`` at once.

    Events arrive at random (Poisson) times by default, as independent real-world events
    do; ``arrivals="regular"`` publishes on a fixed grid (see :class:`~rtlab.lessons.feed.Feed`).
    ``watch(recorders_by_transport, events)`` is called once every client is connected, just
    before the first event: a live view hooks in there (see :func:`rtlab.lessons.widgets.race`).
    ``trace=True`` keeps a trace on every client and server, for :func:`rtlab.lessons.plots.sequence`.
    Several short pollers start at seeded random phases within one ``interval`` (see
    :func:`_staggered_pollers`), so that their latencies are independent samples.
    """
    names = [transport_module(t).Server.transport for t in transports]
    server_options = server_options or {}
    client_options = client_options or {}
    with lab.measuring():  # live pictures wait: their drawing would take the GIL from the timed loops
        return _run(names, clients=clients, events=events, rate=rate, interval=interval, scenario=scenario,
                    seed=seed, arrivals=arrivals, timeout=timeout, server_options=server_options,
                    client_options=client_options, watch=watch, trace=trace, network=network)


def _run(names: list[str], *, clients: int, events: int, rate: float, interval: float, scenario: str,
         seed: int, arrivals: str, timeout: float | None, server_options: dict[str, dict[str, Any]],
         client_options: dict[str, dict[str, Any]],
         watch: Callable[[dict[str, list[Recorder]], int], Any] | None, trace: bool,
         network: Any) -> dict[str, Result]:
    path = resolve(network)
    servers = {n: serve(n, name=f"experiment-{n}",
                        **{"trace": trace, "network": path, **server_options.get(n, {})})
               for n in names}
    started: list[Client] = []
    try:
        for n in names:
            opts = {"trace": trace, **_client_options(n, interval, client_options.get(n, {}))}
            if n == "short-polling" and clients > 1:
                started += _staggered_pollers(servers[n].url, clients, opts, seed)
                continue
            for i in range(clients):
                started.append(connect(n, servers[n].url, name=f"{n}-{i}", **opts))
        _wait_until_connected(servers, clients)
        baseline = {n: servers[n].stats() for n in names}  # connection set-up is not an event's cost
        empty_before = {n: sum(c.recorder.empty for c in started if c.transport == n) for n in names}
        if watch is not None:
            watch({n: [c.recorder for c in started if c.transport == n] for n in names}, events)
        t0 = time.monotonic()
        feed = Feed(list(servers.values()), scenario, rate=rate, count=events, seed=seed,
                    arrivals=arrivals).start()
        feed.wait()
        # Over a slow path, allow for a few round trips and a stall or two per client.
        slack = 0.0 if path is None else 10 * path.rtt_s + 5 * path.rto_s * (path.loss > 0)
        deadline = time.monotonic() + (timeout or 5 + 3 * interval + slack)
        for client in started:
            client.wait_for(feed.published, max(0.0, deadline - time.monotonic()))
        duration = time.monotonic() - t0
        results = {}
        for n in names:
            after = servers[n].stats().since(baseline[n])
            recs = [c.recorder for c in started if c.transport == n]
            options = {"rate": rate, "interval": interval, "clients": clients,
                       "network": path.name if path is not None else "loopback"}
            results[n] = Result(n, feed.published, recs, after, duration, options,
                                empty_before=empty_before[n], server_trace=servers[n].trace)
        return results
    finally:
        Client.stop_many(started)
        for server in servers.values():
            server.stop()


def _staggered_pollers(url: str, clients: int, options: dict[str, Any], seed: int) -> list[Client]:
    """Short pollers, each started at its own seeded random moment within one interval.

    A poller keeps the phase it started with (it polls on a fixed grid). Started together,
    ten pollers poll in lockstep: they all see an event at the same poll, and ten latencies
    are one sample. Real browsers load a page whenever their user does; so do these.
    """
    interval = float(options["interval"])
    rng = random.Random(seed * 7919 + clients)  # the same phases for the same experiment
    phases = sorted(rng.uniform(0, interval) for _ in range(clients))
    t0, started = time.monotonic(), []
    for i, phase in enumerate(phases):
        time.sleep(max(0.0, t0 + phase - time.monotonic()))
        started.append(connect("short-polling", url, name=f"short-polling-{i}", **options))
    return started


def _wait_until_connected(servers: dict[str, Server], clients: int, timeout: float = 10) -> None:
    """Every client is in before the first event: push clients subscribed (or they would
    start late), pollers' first requests arrived (a parked long poll counts)."""
    deadline = time.monotonic() + timeout
    for name, server in servers.items():
        def ready(server: Server = server, push: bool = name in ("sse", "websocket")) -> bool:
            if push:
                return server.read(lambda s: s.hub.subscriber_count if s.hub else 0) >= clients
            return server.stats().requests >= clients
        lab.wait_until(ready, max(0.0, deadline - time.monotonic()))


def measure(transport: str, **options: Any) -> Result:
    """One technique, one experiment. Options as :func:`run_experiment`."""
    return run_experiment([transport], **options)[transport_module(transport).Server.transport]


def compare(transports: list[str] | None = None, **options: Any) -> dict[str, Result]:
    """All four techniques (or ``transports``) on one event stream, at the same time."""
    return run_experiment(transports or list(TRANSPORTS), **options)


def scale(client_counts: list[int], transports: list[str] | None = None,
          **options: Any) -> dict[int, dict[str, Result]]:
    """Run :func:`compare` once per number of clients: how each technique's cost grows."""
    return {n: compare(transports, clients=n, **options) for n in client_counts}


async def measure_async(transport: str, **options: Any) -> Result:
    """``await`` twin of :func:`measure`: the kernel stays responsive while it runs."""
    return await asyncio.to_thread(measure, transport, **options)


async def compare_async(transports: list[str] | None = None, **options: Any) -> dict[str, Result]:
    """``await`` twin of :func:`compare`."""
    return await asyncio.to_thread(compare, transports, **options)


def table(results: dict[str, Result] | list[Result]) -> str:
    """A plain-text comparison table: delivered, independent samples (``indep.``, see
    :attr:`Result.independent_samples`), latency p50/p99, requests/event, bytes/event, CPU/event."""
    rows = list(results.values()) if isinstance(results, dict) else list(results)
    header = (f"{'transport':<14} {'delivered':>11} {'indep.':>7} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'req/event':>10} {'bytes/event':>12} {'CPU µs/event':>13}")
    lines = [header, "-" * len(header)]
    for r in rows:
        s = r.summary()
        lines.append(
            f"{r.transport:<14} {r.delivered:>5}/{r.events * r.clients:<5} {r.independent_samples:>7} "
            f"{s.p50:>8.3g} "
            f"{s.p99:>8.3g} {r.requests_per_event:>10.3g} {r.bytes_per_event:>12.0f} "
            f"{r.cpu_us_per_event:>13.0f}")
    return "\n".join(lines)


wait_until = lab.wait_until  # "until every watcher is parked": for the notebooks, beside burst()


def burst(server: Server, clients: list[Client], items: Iterator[tuple[str, Any]], count: int, *,
          quiet: float = 0.3, timeout: float = 10.0) -> dict[str, int]:
    """Publish ``count`` items as fast as possible; return how many of them each client received.

    Waits until every client has the last event, or until no client has received anything for
    ``quiet`` seconds (a client that lost the last events would otherwise be waited for forever).
    """
    before = {c.name: c.recorder.count for c in clients}
    for _ in range(count):
        server.publish(*next(items))
    last = server.stats().events  # stats() runs after the publishes on the server's loop
    progress = {"seen": -1, "since": time.monotonic()}

    def done() -> bool:
        if all(c.last_seq >= last for c in clients):
            return True
        total = sum(c.recorder.count for c in clients)
        if total != progress["seen"]:
            progress["seen"], progress["since"] = total, time.monotonic()
        return time.monotonic() - progress["since"] > quiet  # nothing new for `quiet` s: give up

    lab.wait_until(done, timeout)
    return {c.name: c.recorder.count - before[c.name] for c in clients}
