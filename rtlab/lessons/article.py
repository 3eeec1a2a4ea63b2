"""The article's comparison table, as claims that measurements can confirm or refute.

The article this lab grew from sums the four techniques up in words ("short polling:
simple but wasteful and slow"; "WebSocket: full-duplex, the lowest latency"). Here each
of those words is a checkable statement about a :class:`~rtlab.lessons.experiments.Result`, and
:func:`regenerate` rebuilds the table with the measured figure beside the article's word
and a ✓ or ✗ — or a note where the measurement says something more precise than the word.

:func:`advise` is the article's "which one should I use?" advice as a small function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ARTICLE = {
    "short-polling": {"protocol": "HTTP requests on a timer", "realtime": "poor (up to one interval late)",
                      "resources": "high: most requests come back empty"},
    "long-polling": {"protocol": "HTTP request held open until news", "realtime": "good",
                     "resources": "medium: a request per event, a parked connection per client"},
    "sse": {"protocol": "one long HTTP response (text/event-stream)", "realtime": "good",
            "resources": "low: one connection, a few bytes per event"},
    "websocket": {"protocol": "upgraded TCP stream (RFC 6455), both ways",
                  "realtime": "best (lowest latency)",
                  "resources": "low: one connection, 2-byte frame headers"},
}


@dataclass(frozen=True)
class Verdict:
    transport: str
    aspect: str  # "realtime" or "resources"
    article: str  # the article's words
    measured: str  # the figures
    agrees: bool
    note: str = ""

    @property
    def mark(self) -> str:
        return "✓" if self.agrees else "✗"


def _p50(results: dict[str, Any], name: str) -> float:
    return results[name].summary().p50


def _checks() -> list[tuple[str, str, Callable[[dict[str, Any]], tuple[bool, str, str]]]]:
    def short_slow(r: dict[str, Any]) -> tuple[bool, str, str]:
        push = min(_p50(r, n) for n in ("long-polling", "sse", "websocket") if n in r)
        ratio = _p50(r, "short-polling") / push
        return ratio >= 10, f"p50 {ratio:.0f}× the best push technique's", ""

    def short_wasteful(r: dict[str, Any]) -> tuple[bool, str, str]:
        res = r["short-polling"]
        requests = res.server.requests
        empty_share = res.empty_responses / requests if requests else 0.0
        push_bytes = min(r[n].bytes_per_event for n in ("sse", "websocket") if n in r)
        ratio = res.bytes_per_event / push_bytes
        return empty_share >= 0.5 or ratio >= 2, (
            f"{empty_share:.0%} of polls empty; {ratio:.1f}× the bytes per event of push"), (
            "how wasteful depends on the interval against the event rate: with an event "
            "every poll, nothing is wasted")

    def long_good(r: dict[str, Any]) -> tuple[bool, str, str]:
        ratio = _p50(r, "long-polling") / _p50(r, "short-polling")
        measured = f"p50 {_p50(r, 'long-polling'):.2g} ms, {1 / ratio:.0f}× faster than short polling"
        return ratio <= 0.1, measured, ""

    def long_medium(r: dict[str, Any]) -> tuple[bool, str, str]:
        res = r["long-polling"]
        return 0.5 <= res.requests_per_event <= 2, (
            f"{res.requests_per_event:.2f} requests and {res.bytes_per_event:.0f} B per event"), (
            "a burst is cheaper: one answer carries every event since the cursor")

    def sse_good(r: dict[str, Any]) -> tuple[bool, str, str]:
        return _p50(r, "sse") <= 0.1 * _p50(r, "short-polling"), f"p50 {_p50(r, 'sse'):.2g} ms", ""

    def sse_light(r: dict[str, Any]) -> tuple[bool, str, str]:
        sse, lp = r["sse"], r.get("long-polling")
        ok = sse.requests_per_event < 0.2 and (lp is None or sse.bytes_per_event < lp.bytes_per_event)
        return ok, f"{sse.bytes_per_event:.0f} B and {sse.requests_per_event:.2f} requests per event", ""

    def ws_best(r: dict[str, Any]) -> tuple[bool, str, str]:
        best_other = min(_p50(r, n) for n in r if n != "websocket")
        ws = _p50(r, "websocket")
        note = ""
        if ws > best_other:
            note = ("on loopback WebSocket and SSE are both one write on an open socket: "
                    "their latencies are within noise of each other; 'lowest' is not what separates them")
        return ws <= 1.5 * best_other, f"p50 {ws:.2g} ms vs best other {best_other:.2g} ms", note

    def ws_low(r: dict[str, Any]) -> tuple[bool, str, str]:
        ws = r["websocket"]
        smallest = min(x.bytes_per_event for x in r.values())
        return ws.bytes_per_event <= 1.2 * smallest, f"{ws.bytes_per_event:.0f} B per event", ""

    return [
        ("short-polling", "realtime", short_slow), ("short-polling", "resources", short_wasteful),
        ("long-polling", "realtime", long_good), ("long-polling", "resources", long_medium),
        ("sse", "realtime", sse_good), ("sse", "resources", sse_light),
        ("websocket", "realtime", ws_best), ("websocket", "resources", ws_low),
    ]


def regenerate(results: dict[str, Any]) -> list[Verdict]:
    """Check each of the article's words against ``results``.

    ``results`` is what :func:`rtlab.lessons.experiments.compare` returns.
    """
    verdicts = []
    for transport, aspect, check in _checks():
        needed = {transport, "short-polling"} if aspect == "realtime" else {transport}
        if not needed <= results.keys():
            continue
        agrees, measured, note = check(results)
        verdicts.append(Verdict(transport, aspect, ARTICLE[transport][aspect], measured, agrees, note))
    return verdicts


def as_markdown(verdicts: list[Verdict]) -> str:
    """The regenerated table as Markdown, for ``IPython.display.Markdown``."""
    lines = ["| technique | protocol | aspect | the article says | measured | agrees? |",
             "|---|---|---|---|---|---|"]
    for v in verdicts:
        extra = f" — {v.note}" if v.note else ""
        lines.append(f"| {v.transport} | {ARTICLE[v.transport]['protocol']} | {v.aspect} | "
                     f"{v.article} | {v.measured}{extra} | {v.mark} |")
    return "\n".join(lines)


def advise(*, both_directions: bool, latency_budget_ms: float, clients: int,
           old_browsers_or_strict_proxies: bool = False, binary: bool = False) -> tuple[str, str]:
    """The article's advice: ``(technique, why)`` for the needs a learner states."""
    if both_directions or binary:
        if old_browsers_or_strict_proxies:
            return "long-polling", ("you need both directions but WebSocket may be blocked: long polling "
                                    "for server→client plus ordinary POSTs (what Socket.IO falls back to)")
        return "websocket", "full duplex on one connection, lowest overhead per message"
    if old_browsers_or_strict_proxies:
        return "long-polling", "plain request/response: passes every proxy and works in any browser"
    if latency_budget_ms >= 5_000 and clients <= 1_000:
        return "short-polling", (f"a {latency_budget_ms / 1000:g} s budget allows polling every "
                                 f"{latency_budget_ms / 1000:g} s: simplest, stateless, cacheable")
    return "sse", "server push over plain HTTP, automatic reconnect with Last-Event-ID, light on the server"
