"""Measurements for notebook 08, the quiz at scale: the broker hop, time to the last player, frame sizes.

Small functions, so that the notebook's cells show *what* is measured and these show *how*.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections import defaultdict
from typing import Any

from .. import lab
from ..metrics import percentile
from ..net import connect, serve
from ..wire import protobuf
from ..wire.event import Event
from ..wire.websocket import deflate_sizes, frame_header_bytes
from .cluster import quiz_service
from .i18n import t

__all__ = ["broker_hop", "by_gateway", "exactly_once", "frame_sizes", "publish_and_time", "right_answer",
           "swarm_exactly_once", "swarm_publish_and_time"]


def broker_hop(broker_url: str, events: int = 300, rate: float = 200.0) -> dict[str, float]:
    """p50 push latency of one WebSocket client, with the in-memory hub and through the broker.

    Both servers run in this process; with ``broker=`` a publish goes to the broker and comes
    back through the server's follower (``XREAD``) before it is pushed. Returns the two p50s in
    ms and their difference, the hop.
    """
    p50 = {}
    for kind, options in (("memory", {}), ("broker", {"broker": broker_url})):
        server = serve("websocket", name=f"hop-{kind}", **options)
        start = server.read(lambda s: s.hub.latest_seq)  # a stream kept from an earlier run: skip it
        client = connect("websocket", server.url, name=f"hop-{kind}-client", since=start)
        lab.wait_until(lambda s=server: s.read(lambda s: s.hub.subscriber_count) == 1, 10)
        for i in range(events):
            server.publish("tick", {"i": i})
            time.sleep(1 / rate)
        client.wait_for(start + events, 20)
        p50[kind] = percentile(sorted(client.recorder.latencies_ms()), 50)
        client.stop()
        server.stop()
    return {"memory_p50_ms": p50["memory"], "broker_p50_ms": p50["broker"],
            "hop_ms": p50["broker"] - p50["memory"]}


def by_gateway(players: list[Any]) -> dict[str, list[Any]]:
    """The players grouped by the gateway URL they are connected to now."""
    groups: dict[str, list[Any]] = defaultdict(list)
    for player in players:
        groups[player.url].append(player)
    return dict(sorted(groups.items()))


def publish_and_time(publisher: Any, players: list[Any], type: str, data: Any,
                     timeout: float = 20) -> dict[str, float]:
    """Publish one event and wait until every player has it: ms from publish to the last one.

    Returns ``{"all": ms, "<gateway url>": ms, ...}`` — the last player overall and on each gateway.
    """
    sent_ns = time.monotonic_ns()
    publisher.publish(type, data, sent_ns)
    publisher.flush()
    seq = publisher.call(publisher.log.head())
    if not lab.wait_until(lambda: all(p.last_seq >= seq for p in players), timeout):
        behind = [p.name for p in players if p.last_seq < seq]
        raise TimeoutError(f"{len(behind)} players did not get seq {seq} within {timeout} s: {behind[:5]}")

    def arrival(player: Any) -> int:
        recorder = player.recorder
        index = recorder.seqs.index(seq, max(0, len(recorder.seqs) - 50))
        return recorder.recv_ns[index]

    times = {url: (max(arrival(p) for p in group) - sent_ns) / 1e6
             for url, group in by_gateway(players).items()}
    return {"all": max(times.values()), **times}


def exactly_once(players: list[Any]) -> tuple[bool, str]:
    """Whether every player has every seq from 1 to the latest exactly once, in order; and a summary."""
    latest = max(p.last_seq for p in players)
    bad = [p.name for p in players if p.recorder.seqs != list(range(1, latest + 1))]
    moved = sum(getattr(p, "moves", 0) > 0 for p in players)
    return not bad, t("{good}/{n} players have seqs 1..{latest} once each, in order; {moved} moved gateway",
                      good=len(players) - len(bad), n=len(players), latest=latest, moved=moved)


def frame_sizes(count: int = 70) -> dict[str, float]:
    """Mean bytes per server → client WebSocket frame for the quiz service's first ``count`` events:
    JSON text, ProtoBuf binary, and JSON with permessage-deflate (window kept across messages)."""
    events = [Event(seq, type_, data, time.monotonic_ns())
              for seq, (type_, data) in enumerate(itertools.islice(quiz_service(), count), 1)]
    json_payloads = [e.to_json().encode() for e in events]
    pb_payloads = [protobuf.encode_event(e) for e in events]
    _, deflated = deflate_sizes(json_payloads)

    def framed(sizes: list[int]) -> float:
        return statistics.mean(n + frame_header_bytes(n, masked=False) for n in sizes)

    return {"json": framed([len(p) for p in json_payloads]),
            "protobuf": framed([len(p) for p in pb_payloads]),
            "json+deflate": framed(deflated)}


# -- the same for a swarm of scripted players (rtlab.net.swarm) --------------------------------------
def swarm_publish_and_time(publisher: Any, swarm: Any, type: str, data: Any,
                           timeout: float = 30) -> dict[str, float]:
    """:func:`publish_and_time` for a :class:`rtlab.net.swarm.Swarm`: ms from the publish to the last
    player, ``{"all": ms, "<gateway url>": ms, ...}``."""
    sent_ns = time.monotonic_ns()
    publisher.publish(type, data, sent_ns)
    publisher.flush()
    seq = publisher.call(publisher.log.head())
    players = swarm.players
    if not lab.wait_until(lambda: all(p.last_seq >= seq for p in players), timeout):
        behind = [p.name for p in players if p.last_seq < seq]
        raise TimeoutError(f"{len(behind)} players did not get seq {seq} within {timeout} s: {behind[:5]}")
    times = {url: (max(p.arrivals.get(seq, sent_ns) for p in group) - sent_ns) / 1e6
             for url, group in swarm.by_gateway().items() if group}
    return {"all": max(times.values()), **times}


def swarm_exactly_once(swarm: Any) -> tuple[bool, str]:
    """Whether every player of the swarm has had every seq once, in order (no gap, no duplicate)."""
    players = swarm.players
    latest = max(p.last_seq for p in players)
    bad = [p.name for p in players
           if p.last_seq != latest or p.missed or p.duplicates or p.events != latest]
    moved = sum(p.moves > 0 for p in players)
    return not bad, t("{good}/{n} players have seqs 1..{latest} once each, in order; {moved} moved gateway",
                      good=len(players) - len(bad), n=len(players), latest=latest, moved=moved)


def right_answer(skill: float = 0.7) -> Any:
    """A scripted player's choice: the right one with probability ``skill``, else a guess."""
    from .scenarios import QUESTIONS

    answers = {text: answer for text, _, answer in QUESTIONS}

    def choose(question: dict[str, Any], rng: Any) -> int:
        right = answers.get(question.get("text"))
        if right is not None and rng.random() < skill:
            return right
        return rng.randrange(len(question["choices"]))
    return choose
