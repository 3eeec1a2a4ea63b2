"""07 · When the path fights back: the negotiating client's experiments, each one function.

* :func:`plain_websocket` — a plain WebSocket client through a proxy that refuses upgrades
  (:mod:`rtlab.net.middlebox` ``no-upgrade``): what it gets, and how it fails;
* :func:`fall_back` — ``connect("auto")`` on WebSocket, then a fault on the path: the proxy
  starts refusing upgrades (and cuts the open WebSocket), the stream goes silent, or the
  server crashes. Measured: the time to *detect* (fault → the switch away), the time to
  *recover* (fault → the first event delivered after the switch), the time to be on a
  better technique again, and whether anything was lost or repeated.

Both return plain numbers; the notebook asserts on them. A publisher thread keeps a steady
rate of events going through every fault, so "nothing lost" is tested on a live stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import lab
from ..net import auto, connect, serve
from ..wire.negotiation import Switch
from .i18n import t

__all__ = ["FAULTS", "Fallback", "Plain", "fall_back", "plain_websocket", "summary_markdown",
           "switches_markdown"]

FAULTS = ("no-upgrade", "stall", "crash")


@dataclass
class Plain:
    """What a plain WebSocket client got through ``no-upgrade``."""

    events: int
    failure: str
    published: int


@dataclass
class Fallback:
    """One fault, measured on a negotiating client (times in seconds from the fault)."""

    fault: str
    detect_s: float  # the fault → the client's switch away from the broken transport
    recover_s: float  # the fault → the first event delivered after that switch
    upgraded_s: float | None  # the fault → on a technique better than long polling again
    why: str  # the client's reason for the switch
    published: int
    delivered: int
    lost: int
    repeated: int
    in_order: bool
    switches: list[Switch] = field(default_factory=list)
    heartbeat_s: float = 0.0
    sessions: int = 1  # negotiations: 2 after a crash (the server forgot the session)
    fault_at: float = 0.0  # time.monotonic() of the fault
    quiet_before_s: float = 0.0  # the last event before the fault → the fault: silence already counted

    @property
    def exactly_once(self) -> bool:
        return self.lost == 0 and self.repeated == 0 and self.in_order

    @property
    def counts(self) -> str:
        """``"187 of 187 events, 0 lost, 0 repeated"``: the measurement behind "exactly once"."""
        order = "" if self.in_order else t(", OUT OF ORDER")
        return t("{delivered} of {published} events, {lost} lost, {repeated} repeated",
                 delivered=self.delivered, published=self.published, lost=self.lost,
                 repeated=self.repeated) + order

    @property
    def path(self) -> list[tuple[str, str]]:
        """The switches as ``(from, to)`` pairs."""
        return [(s.from_, s.to) for s in self.switches]


class _Publisher:
    """Publishes ``tick`` events at ``rate`` per second on a thread, until stopped."""

    def __init__(self, server: Any, rate: float) -> None:
        self.server, self.period, self.published = server, 1.0 / rate, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtlab-negotiation-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.published += 1
            self.server.publish("tick", {"n": self.published})
            next_at += self.period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.published


def plain_websocket(*, seconds: float = 5.0, rate: float = 50) -> Plain:
    """A plain WebSocket client through ``no-upgrade``, on a ``rate``-per-second stream, until it
    gives up (at most ``seconds``)."""
    server = serve("websocket", name="negotiation-plain", middlebox="no-upgrade")
    feed = _Publisher(server, rate)
    client = connect("websocket", server.url, name="negotiation-plain")
    try:
        lab.wait_until(lambda: client.failure is not None, seconds)
        published = feed.stop()
        return Plain(client.recorder.count, str(client.failure or "no failure yet"), published)
    finally:
        feed.stop()
        client.stop()
        server.stop()


def switches_markdown(result: Fallback) -> str:
    """The client's switches as a Markdown table, times from the fault (negative: before it)."""
    lines = [t("| at (ms from the fault) | from | to | why |"), "|---:|---|---|---|"]
    for s in result.switches:
        lines.append(f"| {(s.time - result.fault_at) * 1000:+.0f} | {s.from_} | {s.to} | {s.why} |")
    return "\n".join(lines)


def summary_markdown(results: list[Fallback]) -> str:
    """One row per fault: detected after, events again after, better again after, exactly once."""
    lines = [t("| fault | detected after | events again after | on SSE/WebSocket again after "
               "| exactly once |"),
             "|---|---:|---:|---:|---|"]
    for r in results:
        better = "—" if r.upgraded_s is None else f"{r.upgraded_s * 1000:.0f} ms"
        lines.append(f"| {r.fault} | {r.detect_s * 1000:.0f} ms | {r.recover_s * 1000:.0f} ms | {better} | "
                     f"{'✓' if r.exactly_once else '✗'} |")
    return "\n".join(lines)


def fall_back(fault: str, *, ping_interval: float = 0.25, rate: float = 200, after_s: float = 0.5,
              down_s: float = 0.5, timeout: float = 15,
              on_client: Callable[[auto.AutoClient], Any] | None = None) -> Fallback:
    """Put ``connect("auto")`` on WebSocket, break the path with ``fault``, and time the fall-back.

    Args:
        fault: ``"no-upgrade"`` (the proxy starts refusing upgrades and cuts the open
            WebSocket), ``"stall"`` (the stream delivers nothing, heartbeat included, for four
            heartbeat intervals) or ``"crash"`` (the server dies and comes back after ``down_s``).
        ping_interval: the server's heartbeat, seconds; a silent stream is broken after two.
        rate: events per second published throughout.
        after_s: how long the stream keeps going after the recovery, before the count.
        down_s: how long a crashed server stays down.
        timeout: seconds to wait for each step before giving up with an error.
        on_client: called with the client once it exists (a live view's ``watch``).
    """
    if fault not in FAULTS:
        raise ValueError(f"fault must be one of {', '.join(FAULTS)}; got {fault!r}")
    server: auto.AutoServer = serve("auto", name="negotiation-fault", ping_interval=ping_interval,  # type: ignore[assignment]
                                    middlebox="transparent", queue_size=20_000)
    seen: list[tuple[int, float]] = []
    client: auto.AutoClient = connect("auto", server.url, name="negotiation-fault",  # type: ignore[assignment]
                                      on_event=lambda e: seen.append((e.seq, time.monotonic())))
    if on_client is not None:
        on_client(client)
    feed = _Publisher(server, rate)
    try:
        if not lab.wait_until(lambda: client.transport == "websocket", timeout):
            raise RuntimeError(f"the client never upgraded to WebSocket: {client.probes[-3:]}")
        time.sleep(0.2)  # a little stream on WebSocket first
        before = len(client.switches)
        t0 = time.monotonic()
        if fault == "no-upgrade":
            assert server.middlebox is not None
            server.middlebox.block_upgrades()
        elif fault == "stall":
            server.stall_streams(4 * ping_interval)
        else:
            server.crash()
            time.sleep(down_s)
            server.recover()
        if not lab.wait_until(lambda: len(client.switches) > before, timeout):
            raise RuntimeError(f"the client did not notice the {fault}")
        away = client.switches[before]
        lab.wait_until(lambda: any(t >= away.time for _, t in seen[-50:]), timeout)
        recovered = next(t for _, t in seen if t >= away.time)
        lab.wait_until(lambda: client.transport != "long-polling", timeout)
        better = next((s.time for s in client.switches[before + 1:] if s.to != "long-polling"), None)
        time.sleep(after_s)
        published = feed.stop()
        lab.wait_until(lambda: client.last_seq >= published, timeout)
        seqs = [seq for seq, _ in seen]
        last_before = max((t for _, t in seen if t < t0), default=t0)
        return Fallback(
            fault=fault, detect_s=away.time - t0, recover_s=recovered - t0,
            upgraded_s=None if better is None else better - t0, why=away.why,
            published=published, delivered=len(seqs), lost=len(set(range(1, published + 1)) - set(seqs)),
            repeated=len(seqs) - len(set(seqs)), in_order=seqs == sorted(seqs),
            switches=list(client.switches), heartbeat_s=ping_interval, sessions=client.sessions,
            fault_at=t0, quiet_before_s=t0 - last_before)
    finally:
        feed.stop()
        client.stop()
        server.stop()
