"""Transport negotiation, the pure part: the packets, the ``open`` handshake, the ladder.

A negotiating client does what Socket.IO's Engine.IO and ASP.NET Core SignalR do: it asks the
server which techniques it offers, starts on the one that always works, tries the better ones,
and moves between them *inside one session* without losing or repeating an event. This module
holds what that looks like on the wire and the client's bookkeeping, with no socket in sight;
:mod:`rtlab.net.negotiate` (the server) and :mod:`rtlab.net.auto_client` (the client) put it on
real connections.

**Taken from Engine.IO v4** (socketio/engine.io-protocol, ``v4-current.md``):

* the ``open`` packet: ``sid`` (the session), ``upgrades`` (what the client may probe),
  ``pingInterval`` and ``pingTimeout`` in milliseconds, ``maxPayload`` in bytes;
* one-character packet types: ``0`` open, ``1`` close, ``2`` ping, ``3`` pong, ``4`` message,
  ``5`` upgrade, ``6`` noop;
* start on HTTP long polling; probe WebSocket with ``2probe`` → ``3probe``; stop polling; send
  ``5`` on the new connection; the server flushes what the session still owes onto it;
* the heartbeat: the server pings every ``pingInterval``; a client that hears nothing for
  ``pingInterval + pingTimeout`` takes the connection as dead. Here ``pingTimeout`` equals
  ``pingInterval`` by default, so "two heartbeat intervals of silence" is the rule.

**Taken from SignalR** (dotnet/aspnetcore ``src/SignalR/docs/specs/TransportProtocols.md``):

* a ``negotiate`` request before any transport (``POST /negotiate``; GET works too here);
* the order of preference, best first: WebSockets → Server-Sent Events → Long Polling
  (:data:`LADDER`), and that an SSE client sends to the server with plain POSTs — here only
  the ``5`` of its upgrade, since rtlab's streams carry the server's events only;
* the idea of SignalR's stateful reconnect (``Sequence``/``Ack`` messages): a session that
  outlives its connection, resumed from what the client acknowledged.

**Simplified, on purpose:**

* the session's *outbound buffer* is the hub's replay log (:mod:`rtlab.hub`), and the client's
  cursor (``<epoch>-<seq>``) is its acknowledgement. Every transport asks "everything after my
  cursor", so a switch can overlap without a duplicate reaching the application and cannot
  leave a hole: that is where exactly-once-in-order comes from, not from the probe dance;
* Engine.IO answers a poll still parked during an upgrade with ``6`` (noop); here the client
  simply abandons that poll before it sends ``5`` (the cursor makes that safe);
* Engine.IO never goes back down: a broken WebSocket ends the session and the client
  reconnects, on polling again. rtlab's client falls back to long polling *inside* the
  session, and probes again later with exponential backoff and full jitter (:class:`Ladder`);
* SSE is an upgrade candidate too (SignalR's second rung), probed when WebSocket is refused:
  its probe is an ``event: probe`` the stream must deliver before the client commits to it,
  which is what catches a proxy that buffers a stream;
* the server pings only after a whole interval with nothing else to send (an event is as good a
  sign of life as a ping), and pongs over polling are implied by the next poll; binary packets,
  JSONP and ``maxPayload`` batching are left out (every event is one JSON message);
* a probe may take up to ``pingInterval + pingTimeout`` (at least 2 s) before it counts as
  refused: Engine.IO waits on the transport's own error instead.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "CLOSE", "LADDER", "MESSAGE", "NOOP", "OPEN", "PING", "PONG", "PROBE", "UPGRADE",
    "Ladder", "OpenPacket", "Switch", "decode_packet", "encode_packet",
]

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0", "1", "2", "3", "4", "5", "6"
PACKET_TYPES = (OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP)
PROBE = "probe"  # the payload of the probe ping (2probe) and its pong (3probe)

# Best first, as SignalR tries them; long polling is the floor, the one that always works.
LADDER = ("websocket", "sse", "long-polling")


def encode_packet(kind: str, data: str = "") -> str:
    """One Engine.IO-style packet: its type character, then its data (``"2probe"``, ``"4{...}"``)."""
    if kind not in PACKET_TYPES:
        raise ValueError(f"packet type must be one of {', '.join(PACKET_TYPES)}; got {kind!r:.20}")
    return kind + data


def decode_packet(text: str) -> tuple[str, str]:
    """``(type, data)`` of a packet, or ``ValueError`` naming what is wrong with it."""
    if not isinstance(text, str) or not text:
        raise ValueError("a packet is a non-empty string: a type character 0-6, then its data")
    if text[0] not in PACKET_TYPES:
        raise ValueError(f"unknown packet type {text[0]!r:.10}: expected one of 0-6")
    return text[0], text[1:]


@dataclass(frozen=True)
class OpenPacket:
    """The server's answer to ``negotiate``: Engine.IO's ``open`` packet, plus the stream's epoch.

    Args:
        sid: the session id: every request of this session carries it (``?sid=``).
        upgrades: the techniques the client may probe, best first.
        ping_interval_ms: the server's heartbeat period.
        ping_timeout_ms: how much longer than ``ping_interval_ms`` a client waits for a ping.
        max_payload: the largest message the server accepts, bytes.
        stream: the hub's epoch (see :mod:`rtlab.hub`), so the first cursor can name it.
    """

    sid: str
    upgrades: tuple[str, ...]
    ping_interval_ms: int
    ping_timeout_ms: int
    max_payload: int = 1_000_000
    stream: str = ""

    @property
    def broken_after_s(self) -> float:
        """Seconds of silence (no event, no ping) after which a connection counts as broken."""
        return (self.ping_interval_ms + self.ping_timeout_ms) / 1000

    def to_json(self) -> str:
        return json.dumps({"sid": self.sid, "upgrades": list(self.upgrades),
                           "pingInterval": self.ping_interval_ms, "pingTimeout": self.ping_timeout_ms,
                           "maxPayload": self.max_payload, "stream": self.stream})

    @classmethod
    def from_json(cls, text: str) -> OpenPacket:
        """Read an ``open`` packet's JSON, or ``ValueError`` naming the field that is wrong."""
        try:
            raw: Any = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"open packet: not JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError("open packet: expected a JSON object")
        sid, upgrades = raw.get("sid"), raw.get("upgrades", [])
        interval, timeout = raw.get("pingInterval"), raw.get("pingTimeout")
        if not isinstance(sid, str) or not sid:
            raise ValueError("open packet: 'sid' must be a non-empty string")
        if not isinstance(upgrades, list) or not all(u in LADDER for u in upgrades):
            raise ValueError(f"open packet: 'upgrades' must list some of {', '.join(LADDER)}")
        for name, value in (("pingInterval", interval), ("pingTimeout", timeout)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"open packet: {name!r} must be a positive number of milliseconds")
        return cls(sid, tuple(upgrades), interval, timeout, int(raw.get("maxPayload", 1_000_000)),
                   str(raw.get("stream", "")))


class Switch(NamedTuple):
    """One change of transport: when (``time.monotonic()``), from which, to which, and why."""

    time: float
    from_: str
    to: str
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"from": self.from_, "to": self.to, "why": self.why}


@dataclass
class Ladder:
    """Which better technique to probe next, and when: the client's memory of what failed.

    Each refusal or breakage of a rung puts it off for a random time in
    ``[0, min(cap, base · 2ⁿ)]`` (exponential backoff with full jitter, as
    :class:`rtlab.net.retry.Retry`), ``n`` its failures so far; a rung that worked and held
    starts again from ``n = 0``. Pure: the caller passes the clock in.

    Args:
        upgrades: the rungs above long polling, best first (from the ``open`` packet).
        base: seconds: the first backoff window.
        cap: seconds: the largest one.
    """

    upgrades: tuple[str, ...]
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    failures: dict[str, int] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)

    def next_probe(self, now: float) -> tuple[str | None, float]:
        """``(the best rung worth probing now, None)``, or ``(None, seconds until one is)``."""
        waits = []
        for name in self.upgrades:
            due = self.not_before.get(name, 0.0)
            if due <= now:
                return name, 0.0
            waits.append(due - now)
        return None, (min(waits) if waits else float("inf"))

    def failed(self, name: str, now: float) -> float:
        """``name`` was refused or broke: put it off; returns the seconds it is put off for."""
        n = self.failures.get(name, 0)
        self.failures[name] = n + 1
        delay = self.rng.uniform(0.0, min(self.cap, self.base * 2 ** min(n, 30)))
        self.not_before[name] = now + delay
        return delay

    def worked(self, name: str) -> None:
        """``name`` carried events and held: forget its failures."""
        self.failures.pop(name, None)
        self.not_before.pop(name, None)
