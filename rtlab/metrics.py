"""Measurement: what each event cost a client, and summaries of it.

A :class:`Recorder` belongs to one client. For every event it receives it keeps the
event's ``seq``, when it was published (``sent_ns``) and when it arrived (``recv_ns``),
both from ``time.monotonic_ns()`` — one clock for every thread and process on a machine,
so ``recv_ns - sent_ns`` is the event's latency from publish to receipt.

It also counts what the client spent: requests, empty responses (a poll that found
nothing new), connections opened, reconnects. Bytes on the wire are counted by the
server's socket (see :mod:`rtlab.net.meter`) and joined in by :mod:`rtlab.lessons.experiments`.

Nothing here knows about Jupyter, widgets or plots: a plain script can use it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .trace import Trace


@dataclass(frozen=True)
class Summary:
    """count, mean, p50, p90, p99 and max of some values (milliseconds, unless said otherwise)."""

    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    def __str__(self) -> str:
        return (
            f"n={self.count}  mean={self.mean:.3g}  p50={self.p50:.3g}  "
            f"p90={self.p90:.3g}  p99={self.p99:.3g}  max={self.max:.3g}"
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, of already sorted values."""
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summarize(values: Iterable[float]) -> Summary:
    """Summarize values; an empty input gives count 0 and NaNs."""
    v = sorted(values)
    if not v:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return Summary(
        count=len(v),
        mean=sum(v) / len(v),
        p50=percentile(v, 50),
        p90=percentile(v, 90),
        p99=percentile(v, 99),
        max=v[-1],
    )


@dataclass
class Recorder:
    """What one client received and what it spent. Appended to on the client loop only."""

    name: str = "client"
    transport: str = ""
    seqs: list[int] = field(default_factory=list)
    sent_ns: list[int] = field(default_factory=list)
    recv_ns: list[int] = field(default_factory=list)
    requests: int = 0  # HTTP requests made (a WebSocket handshake counts as one)
    empty: int = 0  # responses that carried no new event (a 204, a 304, an empty list)
    connections: int = 0  # TCP connections opened
    reconnects: int = 0  # times the client had to connect again after losing the connection
    duplicates: int = 0  # events received twice (skipped)
    missed: int = 0  # events known to be lost: a gap the server announced, or a jump in seq
    resets: int = 0  # times the server said "your cursor is from another stream": start over at 1
    errors: list[str] = field(default_factory=list)
    max_records: int = 1_000_000  # a bound, so a forgotten client cannot eat the machine
    trace: Trace | None = None  # the story around the events, if the client was asked to trace

    def record(self, seq: int, sent_ns: int, recv_ns: int | None = None) -> None:
        if len(self.seqs) >= self.max_records:
            return
        self.seqs.append(seq)
        self.sent_ns.append(sent_ns)
        self.recv_ns.append(time.monotonic_ns() if recv_ns is None else recv_ns)

    def error(self, message: str) -> None:
        if len(self.errors) < 100:
            self.errors.append(message)

    @property
    def count(self) -> int:
        return len(self.seqs)

    def latencies_ms(self, last: int | None = None) -> list[float]:
        """Each event's latency, publish to receipt, in milliseconds (only the ``last`` N if given).

        Live views ask for the last few hundred a few times a second: only those are computed.
        """
        # recv_ns is appended last: its length counts the complete records, even while the
        # client loop is appending the next one from its own thread.
        end = len(self.recv_ns)
        start = 0 if last is None else max(0, end - last)
        return [(r - s) / 1e6
                for s, r in zip(self.sent_ns[start:end], self.recv_ns[start:end], strict=True)]

    def summary(self) -> Summary:
        return summarize(self.latencies_ms())

    def rows(self) -> list[dict[str, Any]]:
        """The plain record format plots and tables consume: one dict per event received."""
        end = len(self.recv_ns)  # complete records only (see latencies_ms)
        return [
            {"transport": self.transport, "client": self.name, "seq": q, "sent_ns": s,
             "recv_ns": r, "latency_ms": (r - s) / 1e6}
            for q, s, r in zip(self.seqs[:end], self.sent_ns[:end], self.recv_ns[:end], strict=True)
        ]

    def counters(self) -> dict[str, int]:
        return {
            "events": self.count, "requests": self.requests, "empty": self.empty,
            "connections": self.connections, "reconnects": self.reconnects,
            "duplicates": self.duplicates, "missed": self.missed, "resets": self.resets,
        }
