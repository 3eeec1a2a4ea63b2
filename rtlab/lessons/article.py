"""The article's comparison table, quoted as written, and checked against measurements.

The article this lab grew from ends with a summary table that rates each technique's
real-time-ness (实时性) and resource use (资源消耗) with one word each:

============  ==========  ==========
technique      实时性       资源消耗
============  ==========  ==========
短轮询 short    低 low       高 high
长轮询 long     中 medium    中 medium
SSE            高 high      低 low
WebSocket      极高 very high  低 low
============  ==========  ==========

Those words are an ordering, so that is what :func:`regenerate` checks: 低 < 中 < 高 < 极高
says each technique delivers sooner than the one before it; 高 > 中 > 低 says each costs less
per event. Every row gets one of three marks:

* ``✓`` the measurement agrees with the word;
* ``✗`` it contradicts it;
* ``≈`` this measurement **cannot separate** the two techniques the word ranks — for latency
  on loopback, the per-client medians of the two overlap (the difference between the
  techniques is smaller than the spread between clients of one technique), or the medians
  are less than :data:`SEPARATES` apart. The row says which, with the figures.

:func:`advise` is the article's selection advice (选择建议), its four rules quoted, with a
note wherever the lab's own measurements disagree with a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any

from .i18n import current, t

GLOSS = {"低": "low", "中": "medium", "高": "high", "极高": "very high"}
REALTIME_ORDER = ["低", "中", "高", "极高"]  # 实时性: from least to most real-time
RESOURCES_ORDER = ["低", "中", "高"]  # 资源消耗: from least to most resource use

ARTICLE: dict[str, dict[str, str]] = {
    "short-polling": {"name_zh": "短轮询", "protocol": "HTTP requests on a timer",
                      "realtime": "低", "resources": "高"},
    "long-polling": {"name_zh": "长轮询", "protocol": "HTTP request held open until news",
                     "realtime": "中", "resources": "中"},
    "sse": {"name_zh": "SSE", "protocol": "one long HTTP response (text/event-stream)",
            "realtime": "高", "resources": "低"},
    "websocket": {"name_zh": "WebSocket", "protocol": "upgraded TCP stream (RFC 6455), both ways",
                  "realtime": "极高", "resources": "低"},
}
ORDER = list(ARTICLE)  # the article's order, which is also its real-time order

# The article's selection advice (选择建议), in its order: (the need, quoted; gloss; technique).
RULES: list[tuple[str, str, str]] = [
    ("简单兼容性", "simplicity and compatibility", "short-polling"),
    ("中等实时性", "medium real-time", "long-polling"),
    ("只需服务器推送", "server push only", "sse"),
    ("全双工实时交互", "full-duplex real-time interaction", "websocket"),
]

SEPARATES = 1.5  # medians closer than this factor are not called different, whatever the spread
CHEAPER = 1.3  # a cost must be this factor lower to count as a lower rating (counters are exact)
MARKS = {"agrees": "✓", "contradicts": "✗", "cannot-separate": "≈"}


def quoted(word: str) -> str:
    """``低 (low)``: the article's word verbatim, with its English gloss (in zh-CN: ``低``)."""
    return word if current() == "zh-CN" else f"{word} ({GLOSS[word]})"


@dataclass(frozen=True)
class Verdict:
    """One cell of the article's table against the measurements.

    Args:
        transport: the technique.
        aspect: ``"realtime"`` (实时性) or ``"resources"`` (资源消耗).
        word: the article's rating, verbatim (``"中"``).
        reading: what the lab reads the word as — the testable statement.
        measured: the figures the verdict was made from.
        verdict: ``"agrees"``, ``"contradicts"`` or ``"cannot-separate"``.
        why: for ≈ and ✗, why (with figures); may be empty for ✓.
    """

    transport: str
    aspect: str
    word: str
    reading: str
    measured: str
    verdict: str
    why: str = ""

    @property
    def mark(self) -> str:
        return MARKS[self.verdict]

    @property
    def agrees(self) -> bool:
        return self.verdict == "agrees"

    @property
    def article(self) -> str:
        """The article's word as quoted in tables: ``中 (medium)``."""
        return quoted(self.word)


def _client_medians(result: Any) -> list[float]:
    """Each client's median latency: independent connections, so their spread is the noise."""
    return [median(lat) for rec in result.recorders if (lat := rec.latencies_ms())]


def _fmt(ms: float) -> str:
    return f"{ms:.2g} ms" if ms < 10 else f"{ms:.0f} ms"


def sooner(results: dict[str, Any], fast: str, slow: str) -> tuple[str, str]:
    """Does ``fast`` deliver sooner than ``slow``? ``(verdict, why)`` with the figures.

    Separated only when the medians are at least :data:`SEPARATES` apart **and** the
    per-client medians of the two do not overlap; otherwise ≈, saying which test failed.
    """
    a, b = _client_medians(results[fast]), _client_medians(results[slow])
    ma, mb = results[fast].summary().p50, results[slow].summary().p50
    names = f"{fast} {_fmt(ma)} vs {slow} {_fmt(mb)}"
    if len(a) < 3 or len(b) < 3:
        return "cannot-separate", t("{names}: fewer than 3 clients each, too few to know the spread",
                                    names=names)
    overlap = max(a) >= min(b) and max(b) >= min(a)
    ratio = max(ma, mb) / max(min(ma, mb), 1e-9)
    if overlap or ratio < SEPARATES:
        reason = (t("per-client medians overlap ({fast} {a}, {slow} {b})", fast=fast, slow=slow,
                    a=f"{_fmt(min(a))}–{_fmt(max(a))}", b=f"{_fmt(min(b))}–{_fmt(max(b))}") if overlap else
                  t("medians only {ratio:.2f}× apart (less than {limit:g}×)", ratio=ratio, limit=SEPARATES))
        return "cannot-separate", f"{names}: {reason}"
    if ma < mb:
        return "agrees", t("{names}: {ratio:.0f}× sooner, per-client medians apart", names=names, ratio=ratio)
    return "contradicts", t("{names}: {slow} was {ratio:.1f}× sooner, per-client medians apart",
                            names=names, slow=slow, ratio=ratio)


def cheaper(results: dict[str, Any], cheap: str, dear: str) -> tuple[str, str]:
    """Does ``cheap`` cost less per event than ``dear`` (bytes, both ways, headers included)?"""
    c, d = results[cheap].bytes_per_event, results[dear].bytes_per_event
    names = t("{cheap} {c:.0f} B vs {dear} {d:.0f} B per event", cheap=cheap, c=c, dear=dear, d=d)
    if d >= CHEAPER * c:
        return "agrees", names
    if c >= CHEAPER * d:
        return "contradicts", t("{names}: {dear} is the cheaper one", names=names, dear=dear)
    return "cannot-separate", t("{names}: within {limit:g}× of each other, the same rating",
                                names=names, limit=CHEAPER)


def _combine(parts: list[tuple[str, str]]) -> tuple[str, str]:
    """One verdict from several comparisons: any ✗ makes it ✗, else any ≈ makes it ≈, else ✓."""
    kinds = {v for v, _ in parts}
    verdict = next((k for k in ("contradicts", "cannot-separate") if k in kinds), "agrees")
    return verdict, "; ".join(why for _, why in parts)


def _realtime(results: dict[str, Any], transport: str) -> Verdict | None:
    """The 实时性 word of ``transport`` against every technique ranked next to it."""
    rank = REALTIME_ORDER.index(ARTICLE[transport]["realtime"])
    present = [n for n in ORDER if n in results]
    parts = []
    for other in present:
        if other == transport:
            continue
        other_rank = REALTIME_ORDER.index(ARTICLE[other]["realtime"])
        if abs(other_rank - rank) != 1:
            continue  # only the neighbours: 低 vs 中, 中 vs 高, 高 vs 极高
        parts.append(sooner(results, transport, other) if rank > other_rank
                     else sooner(results, other, transport))
    if not parts:
        return None
    word = ARTICLE[transport]["realtime"]
    neighbours = [n for n in present if n != transport
                  and abs(REALTIME_ORDER.index(ARTICLE[n]["realtime"]) - rank) == 1]
    reading = ", ".join(
        (t("sooner than {other}", other=other) if REALTIME_ORDER.index(ARTICLE[other]["realtime"]) < rank
         else t("later than {other}", other=other))
        for other in neighbours)
    verdict, why = _combine(parts)
    s = results[transport].summary()
    measured = f"p50 {_fmt(s.p50)}, p99 {_fmt(s.p99)}"
    return Verdict(transport, "realtime", word, reading, measured, verdict, why)


def _resources(results: dict[str, Any], transport: str) -> Verdict | None:
    """The 资源消耗 word of ``transport`` against the techniques rated next to it."""
    word = ARTICLE[transport]["resources"]
    rank = RESOURCES_ORDER.index(word)
    present = [t for t in ORDER if t in results and t != transport]
    parts, against = [], []
    for other in present:
        other_rank = RESOURCES_ORDER.index(ARTICLE[other]["resources"])
        if abs(other_rank - rank) != 1:
            continue
        against.append(t("costs more than {other}", other=other) if rank > other_rank
                       else t("costs less than {other}", other=other))
        parts.append(cheaper(results, other, transport) if rank > other_rank
                     else cheaper(results, transport, other))
    if not parts:
        return None
    r = results[transport]
    measured = t("{bytes:.0f} B and {requests:.2f} requests per event", bytes=r.bytes_per_event,
                 requests=r.requests_per_event)
    if transport == "short-polling" and r.server.requests:
        measured += t("; {share:.0%} of polls empty", share=r.empty_responses / r.server.requests)
    verdict, why = _combine(parts)
    reading = ", ".join(against) + t(" (bytes per event)")
    return Verdict(transport, "resources", word, reading, measured, verdict, why)


def regenerate(results: dict[str, Any]) -> list[Verdict]:
    """Check each of the article's words against ``results`` (from :func:`rtlab.compare`).

    Returns one :class:`Verdict` per technique and aspect that ``results`` can test, in the
    article's order.
    """
    verdicts = []
    for transport in ORDER:
        if transport not in results:
            continue
        for check in (_realtime, _resources):
            v = check(results, transport)
            if v is not None:
                verdicts.append(v)
    return verdicts


def as_markdown(verdicts: list[Verdict]) -> str:
    """The regenerated table as Markdown, for ``IPython.display.Markdown``."""
    aspect = {"realtime": t("实时性 (real-time-ness)"), "resources": t("资源消耗 (resource use)")}
    lines = [t("| technique | aspect | the article says | the lab reads it as | measured | verdict |"),
             "|---|---|---|---|---|---|"]
    for v in verdicts:
        why = f" — {v.why}" if v.why and not v.agrees else ""
        lines.append(f"| {ARTICLE[v.transport]['name_zh']} {v.transport} | {aspect[v.aspect]} | "
                     f"**{v.article}** | {v.reading} | {v.measured}{why} | {v.mark} |")
    return "\n".join(lines)


def tally(verdicts: list[Verdict]) -> str:
    """``"5 ✓, 3 ≈, 0 ✗ of 8"``."""
    counts = {m: sum(v.mark == m for v in verdicts) for m in MARKS.values()}
    return t("{agree} ✓, {near} ≈, {contra} ✗ of {n}", agree=counts["✓"], near=counts["≈"],
             contra=counts["✗"], n=len(verdicts))


@dataclass(frozen=True)
class Advice:
    """What :func:`advise` recommends, by which of the article's rules, and what the lab says.

    Args:
        technique: the recommended technique.
        rule: the article's rule that applies, quoted (``"中等实时性 (medium real-time) → 长轮询"``).
        why: why this rule applies to the needs given.
        lab_note: where this lab's measurements disagree with the rule ("" if they do not).
    """

    technique: str
    rule: str
    why: str
    lab_note: str = ""

    def __iter__(self):  # type: ignore[no-untyped-def]
        """``name, why = advise(...)`` keeps working."""
        return iter((self.technique, self.why))


def _rule(technique: str) -> str:
    need, gloss, _ = next(r for r in RULES if r[2] == technique)
    if current() == "zh-CN":
        return f"{need} → {ARTICLE[technique]['name_zh']}"
    return f"{need} ({gloss}) → {ARTICLE[technique]['name_zh']}"


def _p50(results: dict[str, Any] | None, name: str) -> str:
    """The measured median of ``name``, or what notebook 05 typically measures."""
    if results and name in results:
        return _fmt(results[name].summary().p50)
    return t("hundreds of ms") if name == "short-polling" else t("about 10 ms")


def advise(*, both_directions: bool = False, realtime: str = "high", compatibility: bool = False,
           results: dict[str, Any] | None = None) -> Advice:
    """The article's selection advice for the needs stated, with the lab's objections.

    Args:
        both_directions: the client sends messages too, on the same channel (全双工).
        realtime: how real-time the updates must be: ``"low"`` (seconds are fine),
            ``"medium"`` or ``"high"``.
        compatibility: the simplest, most compatible option is wanted (old clients, strict
            proxies that cut long-lived connections).
        results: optional :func:`rtlab.compare` results, to quote the lab's figures in the note.

    The article's four rules, in its order: 简单兼容性 → 短轮询, 中等实时性 → 长轮询,
    只需服务器推送 → SSE, 全双工实时交互 → WebSocket. Both directions wins (nothing else can
    carry the client's messages on the same connection), then compatibility, then the
    real-time level: "low" counts as simple-and-compatible, "medium" as long polling,
    "high" as server push only.
    """
    if realtime not in ("low", "medium", "high"):
        raise ValueError(f'realtime must be "low", "medium" or "high"; got {realtime!r}')
    if both_directions:
        note = ""
        if compatibility:
            note = t("where WebSocket is blocked, Socket.IO and SignalR fall back to long polling "
                     "plus ordinary POSTs: the lab's long polling delivered in {lp} (p50) on loopback",
                     lp=_p50(results, "long-polling"))
        return Advice("websocket", _rule("websocket"),
                      t("the client sends too: only WebSocket carries both directions on one connection"),
                      note)
    if compatibility or realtime == "low":
        why = (t("plain requests and answers on a timer: nothing held open, nothing a proxy can cut")
               if compatibility else t("updates may be seconds late: poll at that interval, simplest of all"))
        note = t("long polling is plain HTTP request/response too, as compatible unless a proxy cuts "
                 "held requests; in notebook 05 it delivered in {lp} against short polling's {sp}, with "
                 "fewer requests", lp=_p50(results, "long-polling"), sp=_p50(results, "short-polling"))
        return Advice("short-polling", _rule("short-polling"), why, note)
    if realtime == "medium":
        note = t("the lab does not find long polling 'medium': on loopback its median latency "
                 "({lp}) cannot be separated from SSE's ({sse}); what it pays is a request and its headers "
                 "per event. The lab would take SSE unless the infrastructure only does request/response "
                 "(over a real network, each event's new request adds a round trip)",
                 lp=_p50(results, "long-polling"), sse=_p50(results, "sse"))
        return Advice("long-polling", _rule("long-polling"),
                      t("near real time over plain request/response, as config centres did it"), note)
    note = t("'SSE 高, WebSocket 极高' is not separated on loopback: their medians ({sse} vs {ws}) are "
             "within noise", sse=_p50(results, "sse"), ws=_p50(results, "websocket"))
    return Advice("sse", _rule("sse"),
                  t("only the server speaks: one long HTTP response, automatic reconnect with "
                    "Last-Event-ID"), note)
