"""06 · Over a real network: the experiments of notebook 06, each one function.

Every experiment runs real servers behind an emulated network path (:mod:`rtlab.net.path`)
and returns plain numbers; the notebook puts them beside the theory and asserts on them.

* :func:`rate_sweep` — long polling against SSE and WebSocket as events come closer together
  than one round trip (the article's 中 vs 高);
* :func:`upstream` — a client → server message: a WebSocket frame on the open connection
  against an HTTP POST (on a kept-alive connection, and on a new one);
* :func:`first_event` and :func:`reconnect` — what setting up a connection costs;
* :func:`saturate` — a stream faster than the link: its latency grows;
* :func:`table_rounds` and :func:`ordering` — the article's real-time ranking per profile,
  with ✓ / ✗ / ≈ decided against the spread between repeated rounds.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from .. import lab
from ..net import connect, serve, sse
from ..net.path_model import PROFILES, NetworkPath, resolve
from .experiments import Result, compare
from .feed import Feed
from .i18n import t
from .plots.base import display_name

__all__ = ["ORDER", "Ordering", "SSEWithPost", "first_event", "near_path_delay", "ordering",
           "ordering_markdown", "profile_markdown", "rate_sweep", "reconnect", "saturate", "table_rounds",
           "upstream"]

# The article's real-time column, slowest first: 短轮询 低 < 长轮询 中 < SSE 高 < WebSocket 极高.
ORDER = [("short-polling", "低"), ("long-polling", "中"), ("sse", "高"), ("websocket", "极高")]


def profile_markdown() -> str:
    """The named profiles as a Markdown table, with their sources (in the language in use)."""
    lines = [t("| profile | RTT | down / up kbit/s | loss per segment | source |"), "|---|---|---|---|---|"]
    for name, p in PROFILES.items():
        bw = f"{p.down_kbit:g} / {p.up_kbit:g}" if p.down_kbit or p.up_kbit else t("no cap")
        # The sources live in rtlab.net, which speaks no language; tests/test_zh_cn.py checks
        # that the catalogue has each of them.
        lines.append(f"| `{name}` | {p.rtt_ms:g} ms | {bw} | {p.loss:.0%} | {t(p.source)} |")
    return "\n".join(lines)


def _path(network: str | NetworkPath) -> NetworkPath:
    path = resolve(network)
    if path is None:
        raise ValueError("these experiments need a network path: 'loopback' has none")
    return path


def near_path_delay(ms: float, path_ms: float) -> bool:
    """``ms`` is the delay the path imposes (``path_ms``: a one-way delay, or one or two round
    trips), as a latency over an emulated path should be: no less (3 % below, for timer
    granularity) and at most 25 % more. What is above it is this machine's own work (the relay's
    loop, the server's write, the client's parse, threads taking turns at the GIL): 2-5 ms on a
    quiet 2-core machine, up to 15 ms (+18 %) with JupyterLab and a second test worker busy.

    Args:
        ms: a measured latency (a median, or one request's time), in ms.
        path_ms: what the path alone imposes on it, in ms.
    """
    return 0.97 * path_ms <= ms <= 1.25 * path_ms


def rate_sweep(network: str | NetworkPath, rates: list[float], *, seconds: float = 1.0,
               clients: int = 2, seed: int = 1, arrivals: str = "regular") -> dict[float, dict[str, Result]]:
    """Long polling, SSE and WebSocket at each event rate, on ``network``: one compare() per rate.

    Args:
        network: a profile's name (``"4g"``) or a :class:`NetworkPath`.
        rates: events per second, one experiment each.
        seconds: how long each experiment publishes (at least 5 events).
        clients: clients per technique.
        seed: seeds the path's draws (and the gaps, for Poisson arrivals).
        arrivals: ``"regular"`` (the default) puts exactly ``1/rate`` between events, so the
            one thing that changes from rate to rate is the gap against the round trip. With
            ``"poisson"`` a few random gaps decide a short run's median.
    """
    out = {}
    for rate in rates:
        events = max(5, round(rate * seconds))
        out[rate] = compare(["long-polling", "sse", "websocket"], clients=clients, events=events,
                            rate=rate, seed=seed, network=network, arrivals=arrivals)
    return out


class SSEWithPost(sse.Server):
    """An SSE server that also takes ``POST /messages``: SSE's way for a client to talk back."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.received_ns: list[int] = []  # when each POST's body had arrived, on the server

    def setup_routes(self, app: web.Application) -> None:
        super().setup_routes(app)
        app.router.add_post("/messages", self.handle_message)

    async def handle_message(self, request: web.Request) -> web.Response:
        await request.read()
        self.received_ns.append(time.monotonic_ns())
        return web.json_response({"ok": True})


def upstream(network: str | NetworkPath, *, messages: int = 4) -> dict[str, dict[str, float]]:
    """One small message client → server, three ways, on ``network``.

    Returns, per way, ``arrive_ms`` (send → the server has it, median), ``done_ms`` (send →
    the client knows it arrived: a POST's response; for WebSocket, the same as arrive, since
    no answer is needed) and ``bytes`` (both directions on the wire, per message). The ways
    are named in the language in use (in English ``"websocket frame"``, ``"POST, kept-alive
    connection"``, ``"POST, new connection"``): the notebook shows the names as they are.
    """
    path = _path(network)
    body = {"type": "answer", "choice": "B"}
    out: dict[str, dict[str, float]] = {}

    # WebSocket: a frame on the connection that is already open.
    stamps: list[int] = []
    server = serve("websocket", name="06-upstream-ws", network=path,
                   on_message=lambda _name, _msg: stamps.append(time.monotonic_ns()))
    client = connect("websocket", server.url, name="06-upstream-ws-client")
    try:
        client.send({"type": "hello"})
        def seen() -> int:  # the list belongs to the server's loop: look from there
            return server.read(lambda _: len(stamps))

        lab.wait_until(lambda: seen() == 1, 10)
        before, arrive = server.stats(), []
        for _ in range(messages):
            t0 = time.monotonic_ns()
            client.send(body)
            want = seen() + 1
            lab.wait_until(lambda want=want: seen() >= want, 10)
            arrive.append((server.read(lambda _: stamps[-1]) - t0) / 1e6)
        cost = server.stats().since(before)
        out[t("websocket frame")] = {"arrive_ms": statistics.median(arrive),
                                  "done_ms": statistics.median(arrive),
                                  "bytes": (cost.bytes_in + cost.bytes_out) / messages}
    finally:
        client.stop()
        server.stop()

    # SSE: a separate POST, on a kept-alive connection and on a new connection each time.
    server = SSEWithPost(name="06-upstream-sse", network=path).start()
    try:
        for way, fresh in ((t("POST, kept-alive connection"), False), (t("POST, new connection"), True)):
            out[way] = _posts(server, body, messages, fresh)
    finally:
        server.stop()
    return out


def _posts(server: SSEWithPost, body: dict[str, Any], messages: int, fresh: bool) -> dict[str, float]:
    """``messages`` POSTs on the client loop; the server's state is read from here, with read()."""
    url, loop = server.base_url + "/messages", lab.client_loop()

    async def open_session() -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=fresh))
        async with session.post(url, json=body) as resp:  # warm up: the first connection
            await resp.read()
        return session

    async def post_all(session: aiohttp.ClientSession) -> list[tuple[int, int]]:
        times = []
        for _ in range(messages):
            t0 = time.monotonic_ns()
            async with session.post(url, json=body) as resp:
                await resp.read()
            times.append((t0, time.monotonic_ns()))
        await session.close()
        return times

    session = loop.run(open_session(), 30)
    before, count = server.stats(), server.read(lambda s: len(s.received_ns))
    times = loop.run(post_all(session), 60)
    cost = server.stats().since(before)
    arrived = server.read(lambda s: s.received_ns[count:])
    return {"arrive_ms": statistics.median((a - t0) / 1e6 for (t0, _), a in zip(times, arrived, strict=True)),
            "done_ms": statistics.median((t1 - t0) / 1e6 for t0, t1 in times),
            "bytes": (cost.bytes_in + cost.bytes_out) / messages}


def _options(transport: str) -> dict[str, Any]:
    return {"interval": 0.2} if transport == "short-polling" else {}


def first_event(network: str | NetworkPath, transports: list[str] | None = None) -> dict[str, float]:
    """Milliseconds from starting a client on a fresh connection to its first event.

    The event is already waiting in the server's replay buffer, so what is measured is the
    set-up alone: the TCP handshake (+ TLS), the HTTP request (+ the Upgrade for WebSocket).
    """
    path = _path(network)
    out = {}
    for transport in transports or [name for name, _ in ORDER]:
        server = serve(transport, name=f"06-first-{transport}", network=path)
        try:
            server.publish("tick", {"i": 1})
            lab.wait_until(lambda s=server: s.read(lambda x: x.hub.latest_seq) == 1, 5)
            t0 = time.monotonic_ns()
            client = connect(transport, server.url, name=f"06-first-{transport}-client",
                             **_options(transport))
            try:
                client.wait_for(1, 20)
                out[transport] = (client.recorder.recv_ns[0] - t0) / 1e6
            finally:
                client.stop()
        finally:
            server.stop()
    return out


def reconnect(network: str | NetworkPath, *, retry_ms: int = 500) -> dict[str, float]:
    """Milliseconds from a server restart to the first event after it, for SSE and WebSocket.

    The server crashes and comes straight back; the event is published at once. SSE waits
    ``retry`` (announced by the server, here ``retry_ms``) before it reconnects; the WebSocket
    client its backoff (a random 0-50 ms for a first attempt, rtlab.net.retry); then each pays
    the set-up again.
    """
    path = _path(network)
    out = {}
    for transport in ("sse", "websocket"):
        extra = {"retry_ms": retry_ms} if transport == "sse" else {}
        server = serve(transport, name=f"06-reconnect-{transport}", network=path, **extra)
        client = connect(transport, server.url, name=f"06-reconnect-{transport}-client")
        try:
            lab.wait_until(lambda s=server: s.read(lambda x: x.hub.subscriber_count) == 1, 20)
            server.publish("tick", {"i": 1})
            client.wait_for(1, 20)
            t0 = time.monotonic_ns()
            server.restart()
            server.publish("tick", {"i": 2}, sent_ns=t0)
            client.wait_for(2, 20)
            out[transport] = (client.recorder.recv_ns[-1] - t0) / 1e6
        finally:
            client.stop()
            server.stop()
    return out


def saturate(network: str | NetworkPath, rates: list[float], *, size_bytes: int = 2000,
             count: int = 40) -> dict[float, list[float]]:
    """SSE events of ``size_bytes`` at each rate on ``network``: every event's latency, in order.

    Below the link's bandwidth the latencies stay flat; above it the link queues, and each
    event waits behind all the ones before it.
    """
    path = _path(network)
    out = {}
    for rate in rates:
        server = serve("sse", name="06-saturate", network=path)
        client = connect("sse", server.url, name="06-saturate-client")
        try:
            lab.wait_until(lambda s=server: s.read(lambda x: x.hub.subscriber_count) == 1, 20)
            items = (("blob", {"i": i, "pad": "x" * size_bytes}) for i in range(count))
            Feed(server, items, rate=rate, count=count, arrivals="regular").start().wait(count / rate + 10)
            client.wait_for(count, 60)
            out[rate] = client.recorder.latencies_ms()
        finally:
            client.stop()
            server.stop()
    return out


def table_rounds(profiles: list[str], rounds: int = 3, **options: Any) -> dict[str, list[dict[str, Result]]]:
    """``rounds`` compare() runs on each profile (options as :func:`~rtlab.lessons.experiments.compare`)."""
    return {p: [compare(network=p, seed=i + 1, **options) for i in range(rounds)] for p in profiles}


@dataclass(frozen=True)
class Ordering:
    """One step of the article's ranking (``slower`` 低 < ``faster`` 中, say) on one profile."""

    profile: str
    slower: str
    faster: str
    words: str  # "低 < 中"
    slower_p50s: tuple[float, ...]  # each round's median latency
    faster_p50s: tuple[float, ...]

    @property
    def slower_ms(self) -> float:
        return statistics.median(self.slower_p50s)

    @property
    def faster_ms(self) -> float:
        return statistics.median(self.faster_p50s)

    @property
    def ratio(self) -> float:
        return self.slower_ms / self.faster_ms if self.faster_ms else float("inf")

    @property
    def mark(self) -> str:
        """✓ every round of the slower one was slower than every round of the faster one; ✗ the
        other way round; ≈ the rounds overlap: the difference is within run-to-run noise."""
        if min(self.slower_p50s) > max(self.faster_p50s):
            return "✓"
        if max(self.slower_p50s) < min(self.faster_p50s):
            return "✗"
        return "≈"


def ordering(rounds_by_profile: dict[str, list[dict[str, Result]]]) -> list[Ordering]:
    """The ranking, step by step, per profile, with a verdict against the run-to-run noise.

    Each round gives each technique's median latency. A step holds (✓) only when the two
    techniques' medians do not overlap at all across rounds — the gap is larger than how much
    either moves from one round to the next; ✗ when they do not overlap the other way; ≈ when
    they overlap, and this lab cannot tell them apart on that network.
    """
    out = []
    for profile, rounds in rounds_by_profile.items():
        p50 = {t: tuple(r[t].summary().p50 for r in rounds) for t, _ in ORDER}
        for (slow, w1), (fast, w2) in zip(ORDER, ORDER[1:], strict=False):
            out.append(Ordering(profile, slow, fast, f"{w1} < {w2}", p50[slow], p50[fast]))
    return out


def _span(values: tuple[float, ...]) -> str:
    return f"{min(values):.3g}–{max(values):.3g}"


def ordering_markdown(orderings: list[Ordering]) -> str:
    """The verdicts as a Markdown table: medians over rounds, the ratio, each round's spread."""
    lines = [t("| network | the article says | slower: p50 (rounds) | faster: p50 (rounds) | by how much "
               "| verdict |"), "|---|---|---|---|---|---|"]
    for o in orderings:
        says = t("{slower} slower than {faster} ({words})", slower=display_name(o.slower),
                 faster=display_name(o.faster), words=o.words)
        lines.append(f"| `{o.profile}` | {says} | "
                     f"{o.slower_ms:.3g} ms ({_span(o.slower_p50s)}) | "
                     f"{o.faster_ms:.3g} ms ({_span(o.faster_p50s)}) | "
                     f"{o.slower_ms - o.faster_ms:+.3g} ms, {o.ratio:.2g}× | {o.mark} |")
    return "\n".join(lines)
