"""The arithmetic of an emulated network path: no sockets, no event loop, no clock of its own.

:mod:`rtlab.net.path` relays real TCP connections; every decision it makes about *when* a
chunk of bytes may leave is taken here, from numbers alone, so that it can be read and
unit-tested without a network:

* :class:`NetworkPath` — the settings: round-trip time, jitter, bandwidth each way, loss,
  TLS; and :data:`PROFILES`, named settings with the public source of each figure;
* :class:`TokenBucket` — a bandwidth cap: when may ``n`` bytes pass, at ``rate`` bytes/s?
* :class:`Direction` — one direction of one connection: a chunk that *arrives* at ``t``
  leaves at ``t`` + (bucket wait) + one-way delay (+ jitter, + a stall if a segment of it
  was "lost"), and never before the chunk ahead of it (TCP keeps order).

Times are seconds on whatever monotonic clock the caller uses (the relay passes
``loop.time()``); sizes are bytes.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["MSS", "PROFILES", "Direction", "NetworkPath", "TokenBucket", "describe_profiles",
           "resolve"]

MSS = 1460  # bytes of payload in one TCP segment on a 1500-byte Ethernet MTU
MIN_RTO_S = 0.200  # Linux's minimum retransmission timeout (TCP_RTO_MIN, 200 ms; RFC 6298 says 1 s)


@dataclass(frozen=True)
class NetworkPath:
    """What an emulated network between a client and a server does to the bytes.

    Each figure is per direction where it says so; a round trip is the sum of the two
    one-way delays (``rtt_ms / 2`` each way).

    Args:
        rtt_ms: round-trip time in milliseconds (half of it each way).
        jitter_ms: the standard deviation of a random extra one-way delay per chunk
            (normal, clipped at 0). TCP never reorders, so a chunk that drew a long delay
            holds back the ones behind it — jitter raises the mean latency too.
        down_kbit: the server → client bandwidth in kbit/s (0: no cap).
        up_kbit: the client → server bandwidth in kbit/s (0: no cap).
        loss: the probability that one TCP segment (``MSS`` bytes) is lost. Loopback never
            loses a packet, so a loss is modelled as what TCP makes of it: the segment is
            retransmitted after one RTO (``max(200 ms, 3 × RTT)``), and everything behind it
            on that connection waits (head-of-line blocking).
        tls: extra round trips before the first byte of a new connection: 0 (plain TCP),
            1 (TLS 1.3) or 2 (TLS 1.2). The TCP handshake's own round trip is always paid.
        burst_bytes: the token bucket's depth: how many bytes may pass at once after a
            quiet spell.
        buffer_bytes: the most bytes one direction of one connection holds in flight;
            past it the relay stops reading from the sender, as a TCP window would.
        seed: seeds the jitter and loss draws, so that a run can be repeated.
        name: the profile's name (``"4g"``), or ``"custom"``.
        source: where the figures come from.
    """

    rtt_ms: float = 0.0
    jitter_ms: float = 0.0
    down_kbit: float = 0.0
    up_kbit: float = 0.0
    loss: float = 0.0
    tls: int = 0
    burst_bytes: int = 8 * 1024
    buffer_bytes: int = 1024 * 1024
    seed: int = 0
    name: str = "custom"
    source: str = ""

    def __post_init__(self) -> None:
        for field in ("rtt_ms", "jitter_ms", "down_kbit", "up_kbit"):
            value = getattr(self, field)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{field} must be a number >= 0, not {value!r}")
        if not 0 <= self.loss < 1:
            raise ValueError(f"loss is a probability per segment, 0 <= loss < 1, not {self.loss!r}")
        if self.tls not in (0, 1, 2):
            raise ValueError(f"tls is 0, 1 (TLS 1.3) or 2 (TLS 1.2) extra round trips, not {self.tls!r}")
        if self.burst_bytes < 1 or self.buffer_bytes < 1:
            raise ValueError("burst_bytes and buffer_bytes must be >= 1")

    @property
    def one_way_s(self) -> float:
        return self.rtt_ms / 2000

    @property
    def rtt_s(self) -> float:
        return self.rtt_ms / 1000

    @property
    def rto_s(self) -> float:
        """How long a lost segment holds up its connection: max(200 ms, 3 × RTT)."""
        return max(MIN_RTO_S, 3 * self.rtt_s)

    @property
    def setup_s(self) -> float:
        """What a new connection waits before its first byte: the TCP handshake (+ TLS)."""
        return (1 + self.tls) * self.rtt_s

    @property
    def is_loopback(self) -> bool:
        """Nothing to emulate: no relay is needed at all."""
        return (self.rtt_ms == 0 and self.jitter_ms == 0 and self.down_kbit == 0
                and self.up_kbit == 0 and self.loss == 0 and self.tls == 0)

    def with_(self, **changes: Any) -> NetworkPath:
        """A copy with some settings changed (``PROFILES["4g"].with_(tls=1)``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line a learner can read: ``4g: RTT 170 ms, 9000/9000 kbit/s down/up``."""
        parts = [f"RTT {self.rtt_ms:g} ms"]
        if self.jitter_ms:
            parts.append(f"jitter {self.jitter_ms:g} ms")
        if self.down_kbit or self.up_kbit:
            parts.append(f"{_kbit(self.down_kbit)}/{_kbit(self.up_kbit)} kbit/s down/up")
        if self.loss:
            parts.append(f"loss {self.loss * 100:g} % of segments")
        if self.tls:
            parts.append(f"TLS +{self.tls} RTT")
        return f"{self.name}: " + ", ".join(parts)


def _kbit(value: float) -> str:
    return f"{value:g}" if value else "∞"


# Named profiles. Each figure comes from a published preset, cited beside it; where no preset
# exists (a LAN), the comment says what the number is instead. RTT is the round trip; the
# bandwidths are kbit/s (1 Mbit/s = 1000 kbit/s), down = server → client.
PROFILES: dict[str, NetworkPath] = {
    # No relay at all: the client talks to the server's own port.
    "loopback": NetworkPath(name="loopback", source="127.0.0.1, no emulation: the relay is not in the path"),
    # None of the presets below covers a LAN: this one is not from a table. `ping` across a
    # switched gigabit Ethernet shows ~0.1-0.5 ms; 1 ms rounds it up. Gigabit is faster than
    # this relay, so no cap.
    "lan": NetworkPath(rtt_ms=1, name="lan",
                       source="no preset: ~1 ms RTT, what ping shows on a switched LAN; no cap"),
    # Firefox DevTools' "Wi-Fi" throttling preset: 30 Mbit/s down, 15 Mbit/s up, 2 ms minimum
    # latency (firefox devtools/docs/user/network_monitor/throttling, the profiles.js table).
    "wifi": NetworkPath(rtt_ms=2, down_kbit=30_000, up_kbit=15_000, name="wifi",
                        source="Firefox DevTools throttling preset 'Wi-Fi': 30/15 Mbit/s, 2 ms"),
    # WebPageTest's "4G" connectivity profile: 9 Mbit/s both ways, 170 ms RTT
    # (WPO-Foundation/webpagetest www/settings/connectivity.ini.sample, [4G]).
    "4g": NetworkPath(rtt_ms=170, down_kbit=9_000, up_kbit=9_000, name="4g",
                      source="WebPageTest connectivity profile '4G': 9 Mbit/s, 170 ms RTT"),
    # WebPageTest's "3G" connectivity profile: 1.6 Mbit/s down, 768 kbit/s up, 300 ms RTT
    # (connectivity.ini.sample, [3G]).
    "3g": NetworkPath(rtt_ms=300, down_kbit=1_600, up_kbit=768, name="3g",
                      source="WebPageTest connectivity profile '3G': 1.6 Mbit/s / 768 kbit/s, 300 ms RTT"),
    # New York <-> Sydney: 15,993 km, 160 ms RTT at the speed of light in fibre — the lower
    # bound (Grigorik, High Performance Browser Networking, ch. 1, table 1-2). Real pings
    # between the two are higher (WonderProxy measured 250-320 ms in 2011). No cap.
    "intercontinental": NetworkPath(rtt_ms=160, name="intercontinental",
                                    source="HPBN table 1-2, New York-Sydney in fibre: 160 ms RTT"),
    # tylertreat/comcast's "WIFI (good)" network condition: 40 ms latency, 30 Mbit/s; its
    # 0.2 % loss would rarely hit a short lab run, so the loss is that of the lossiest of
    # BrowserStack's "-lossy" presets (2g-gprs-lossy: 2 %, docs "simulate network conditions").
    "lossy-wifi": NetworkPath(rtt_ms=40, down_kbit=30_000, up_kbit=30_000, loss=0.02, name="lossy-wifi",
                              source="comcast 'WIFI (good)' 40 ms, 30 Mbit/s; 2 % loss "
                                     "(BrowserStack 2g-gprs-lossy)"),
}


def resolve(network: str | NetworkPath | dict[str, Any] | None) -> NetworkPath | None:
    """A path's settings from a profile name, a :class:`NetworkPath` or a dict of its fields.

    ``None``, ``"loopback"`` and settings that emulate nothing give ``None``: no relay.
    """
    if network is None:
        return None
    if isinstance(network, str):
        key = network.strip().lower().replace("_", "-")
        if key not in PROFILES:
            raise ValueError(f"unknown network {network!r}: choose one of {', '.join(PROFILES)} "
                             "or pass NetworkPath(rtt_ms=..., ...)")
        settings = PROFILES[key]
    elif isinstance(network, dict):
        settings = NetworkPath(**network)
    elif isinstance(network, NetworkPath):
        settings = network
    else:
        raise TypeError(f"network= takes a profile name, a NetworkPath or a dict, not {network!r}")
    return None if settings.is_loopback else settings


def describe_profiles() -> str:
    """The profiles, one line each, with their figures and sources (for ``--help``)."""
    lines = []
    for name, p in PROFILES.items():
        figures = "no relay" if p.is_loopback else p.summary().split(": ", 1)[1]
        lines.append(f"  {name:<17} {figures}  [{p.source}]")
    return "\n".join(lines)


class TokenBucket:
    """A bandwidth cap: ``rate`` bytes per second, with up to ``burst`` bytes at once.

    The bucket fills with tokens (bytes) at ``rate`` up to ``burst``; ``n`` bytes may pass
    once the bucket holds ``n`` tokens, and take them. A sender faster than ``rate`` waits
    longer and longer: the queue, and so the latency, grows.
    """

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 bytes/s")
        self.rate = float(rate)
        self.burst = int(burst)
        self.tokens = float(burst)
        self.updated = -math.inf  # when ``tokens`` was last right

    def take(self, n: int, now: float) -> float:
        """When ``n`` bytes (at most ``burst``) that arrive at ``now`` may pass; takes their tokens."""
        if n > self.burst:
            raise ValueError(f"{n} bytes > burst {self.burst}: split the chunk (Direction does)")
        start = max(now, self.updated)  # the bucket serves in order: never before the last one
        tokens = min(self.burst, self.tokens + (start - self.updated) * self.rate)
        if tokens < n:
            start += (n - tokens) / self.rate
            tokens = n
        self.tokens, self.updated = tokens - n, start
        return start


class Direction:
    """One direction of one connection: when each chunk may be written to the other side.

    ``schedule(size, arrived)`` returns a list of ``(leave_at, nbytes)`` pieces (more than
    one only when a bandwidth cap splits a big chunk into bucket-sized pieces). The delay is
    counted from the chunk's own arrival, so twenty chunks that arrive together leave
    together, one delay later — not twenty delays later, as a relay that sleeps per chunk
    would have it.
    """

    def __init__(self, path: NetworkPath, kbit: float = 0.0, *, not_before: float = -math.inf,
                 rng: random.Random | None = None) -> None:
        """Args:
            path: the settings.
            kbit: this direction's bandwidth (``path.down_kbit`` or ``path.up_kbit``).
            not_before: nothing leaves before this time (a new connection's set-up).
            rng: the jitter and loss draws (seeded from ``path.seed`` by default).
        """
        self.path = path
        self.bucket = TokenBucket(kbit * 1000 / 8, path.burst_bytes) if kbit else None
        self.not_before = not_before
        self.last_leave = -math.inf
        self.rng = rng or random.Random(path.seed)
        self.stalls = 0  # chunks held up by a "lost" segment

    def lost(self, size: int) -> bool:
        """Was one of this chunk's segments lost? Each of its ``ceil(size / MSS)`` segments is,
        with probability ``path.loss``."""
        if not self.path.loss:
            return False
        segments = max(1, math.ceil(size / MSS))
        return self.rng.random() < 1 - (1 - self.path.loss) ** segments

    def delay(self) -> float:
        """One draw of the one-way delay: ``rtt / 2`` plus jitter (never below zero)."""
        jitter = self.rng.gauss(0, self.path.jitter_ms / 1000) if self.path.jitter_ms else 0.0
        return max(0.0, self.path.one_way_s + jitter)

    def schedule(self, size: int, arrived: float) -> list[tuple[float, int]]:
        """When the ``size`` bytes that arrived at ``arrived`` leave, in pieces."""
        if size <= 0:
            return []
        if self.bucket is None:
            pieces = [(arrived, size)]
        else:
            pieces = []
            for offset in range(0, size, self.bucket.burst):
                n = min(self.bucket.burst, size - offset)
                pieces.append((self.bucket.take(n, arrived), n))
        out = []
        for passed, n in pieces:
            leave = max(passed, self.not_before) + self.delay()
            if self.lost(n):
                self.stalls += 1
                leave += self.path.rto_s
            leave = max(leave, self.last_leave)  # TCP delivers in order: never overtake
            self.last_leave = leave
            out.append((leave, n))
        return out

    def marker(self, arrived: float) -> float:
        """When a close or a reset that arrives at ``arrived`` reaches the other side:
        after everything ahead of it, one delay later."""
        leave = max(max(arrived, self.not_before) + self.path.one_way_s, self.last_leave)
        self.last_leave = leave
        return leave
