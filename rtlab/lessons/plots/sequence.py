"""Sequence diagrams drawn from what was measured: client and server lanes, time running down.

The article explains each technique with such a picture; here every arrow is a real request,
response, event, frame or keep-alive, placed at the time it was traced (:mod:`rtlab.trace`):

* client → server: a request (``GET /poll?since=3``), a WebSocket message, a pong;
* server → client: a response (``204 after 5.0 s hold``), a pushed event, a keep-alive
  comment, a ping;
* on the server lane: a dot where each event was **published**, and a dotted line down to
  the moment it **left** (for polling, the answer that carried it) — how long it waited;
  a bar where a request was **held** (a parked long poll);
* grey dashed: a TCP connection being set up; a cross on the client lane: a reconnect.

On loopback a message takes microseconds, so arrows are flat; over a slow network
(:mod:`rtlab.net.path`, if present) they slant by the one-way delay.

:func:`sequence_items` builds the diagram's items from the marks (pure, and what the tests
check); :func:`sequence` draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ...trace import Mark
from ..i18n import t
from .base import colour, display_name, new_figure

__all__ = ["Arrow", "Diagram", "Dot", "Hold", "sequence", "sequence_items", "sequences"]

POLLING = ("short-polling", "long-polling")
UP, DOWN = "client→server", "server→client"
CLIENT_X, SERVER_X = 0.0, 1.0
SHOWN_HOLD_NS = 20_000_000  # a request held longer than 20 ms gets a bar with its duration


@dataclass(frozen=True)
class Arrow:
    """One message: from one lane at ``start_ns`` to the other at ``end_ns``."""

    direction: str  # UP or DOWN
    start_ns: int
    end_ns: int
    kind: str  # request, response, event, comment, ping, pong, send, connect
    label: str


@dataclass(frozen=True)
class Hold:
    """A request held on the server lane from ``start_ns`` to ``end_ns``."""

    start_ns: int
    end_ns: int
    label: str


@dataclass(frozen=True)
class Dot:
    """A moment on one lane: an event published (and when it left), a reconnect."""

    lane: str  # "server" or "client"
    t_ns: int
    kind: str  # publish, reconnect
    label: str
    left_ns: int | None = None  # for a publish: when the event left the server


@dataclass
class Diagram:
    """Everything :func:`sequence` draws, and what it left out."""

    transport: str
    t0_ns: int
    t1_ns: int
    arrows: list[Arrow] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)
    sampled: int = 1  # 1: every event arrow drawn; k: one in k (too many for the picture)


def _in_window(m: Mark, t0: int, t1: int) -> bool:
    return t0 <= m.t_ns <= t1


def sequence_items(client_marks: Sequence[Mark], server_marks: Sequence[Mark] = (), *,
                   transport: str, client: str | None = None, t0_ns: int | None = None,
                   t1_ns: int | None = None, max_event_arrows: int = 60) -> Diagram:
    """The diagram's items, from one client's marks and (optionally) the server's.

    Args:
        client_marks: the client's trace (``client.recorder.trace.marks()``).
        server_marks: the server's trace; only marks of ``client`` (its name) and publishes
            are used. Without it, a request is drawn arriving when it was sent (on one machine
            the one-way time is then unknown) and events leaving when they were published.
            With it, a request the server has not seen yet (on its way when the traces were
            read) is left out: drawn at once, it would look like a zero-time trip.
        transport: the technique, which decides whether events travel inside responses
            (polling) or as arrows of their own (SSE, WebSocket).
        client: the client's name, to pick its requests out of the server's trace.
        t0_ns, t1_ns: the window of time to show (default: the client's whole trace).
        max_event_arrows: more event arrows than this are sampled (one in k), and the
            diagram says so.
    """
    c_marks = sorted(client_marks, key=lambda m: m.t_ns)
    if not c_marks:
        start = t0_ns or 0
        return Diagram(transport, start, t1_ns or start)
    t0 = c_marks[0].t_ns if t0_ns is None else t0_ns
    t1 = c_marks[-1].t_ns if t1_ns is None else t1_ns
    d = Diagram(transport, t0, t1)
    s_marks = sorted((m for m in server_marks if m.kind == "publish" or client is None
                      or m.client == client), key=lambda m: m.t_ns)
    arrives = [m for m in s_marks if m.kind == "arrive"]
    answers = [m for m in s_marks if m.kind == "answer"]
    published = {m.seq: m for m in s_marks if m.kind == "publish" and m.seq is not None}

    # Requests and their answers, paired in order (a client has one request out at a time,
    # except a WebSocket or a stream, which make exactly one each).
    requests = [m for m in c_marks if m.kind == "request"]
    responses = [m for m in c_marks if m.kind == "response"]
    answer_left: list[tuple[int, int]] = []  # (client receive time, server departure time)
    a_i = r_i = 0
    for request in requests:
        while a_i < len(arrives) and arrives[a_i].t_ns < request.t_ns:
            a_i += 1
        arrive = arrives[a_i] if a_i < len(arrives) else None
        while r_i < len(responses) and responses[r_i].t_ns < request.t_ns:
            r_i += 1
        response = responses[r_i] if r_i < len(responses) else None
        if arrive is None and response is None and arrives:
            continue  # still on its way when the traces were read: it has not arrived, at once or at all
        arrive_ns = arrive.t_ns if arrive is not None and (response is None or arrive.t_ns <= response.t_ns) \
            else request.t_ns
        answer = next((a for a in answers if arrive_ns <= a.t_ns and (response is None
                                                                       or a.t_ns <= response.t_ns)), None)
        if _in_window(request, t0, t1) or (response is not None and _in_window(response, t0, t1)):
            d.arrows.append(Arrow(UP, request.t_ns, arrive_ns, "request", request.label))
        if response is None:
            continue
        left_ns = answer.t_ns if answer is not None else response.t_ns
        answer_left.append((response.t_ns, left_ns))
        if left_ns - arrive_ns >= SHOWN_HOLD_NS and left_ns >= t0 and arrive_ns <= t1:
            d.holds.append(Hold(arrive_ns, left_ns, t("held {s:.2g} s", s=(left_ns - arrive_ns) / 1e9)))
        if _in_window(response, t0, t1):
            d.arrows.append(Arrow(DOWN, left_ns, response.t_ns, "response", response.label))
        r_i += 1

    # Events: inside a response (polling), or an arrow each (push).
    events = [m for m in c_marks if m.kind == "event" and _in_window(m, t0, t1)]
    push = transport not in POLLING
    if push and len(events) > max_event_arrows:
        d.sampled = -(-len(events) // max_event_arrows)  # ceil
    for index, event in enumerate(events):
        pub = published.get(event.seq)
        if push:
            left = pub.t_ns if pub is not None else event.t_ns
            if index % d.sampled == 0:
                d.arrows.append(Arrow(DOWN, left, event.t_ns, "event", event.label))
        else:  # it left with the answer that reached the client when the event did
            left = next((s for r, s in answer_left if r >= event.t_ns - 1_000_000), event.t_ns)
        if pub is not None:
            d.dots.append(Dot("server", pub.t_ns, "publish", f"publish #{event.seq}", left))

    for m in c_marks:
        if not _in_window(m, t0, t1):
            continue
        if m.kind in ("comment", "ping"):
            d.arrows.append(Arrow(DOWN, m.t_ns, m.t_ns, m.kind, m.label or m.kind))
        elif m.kind in ("pong", "send"):
            d.arrows.append(Arrow(UP, m.t_ns, m.t_ns, m.kind, m.label or m.kind))
        elif m.kind == "connect":
            end = m.until_ns if m.until_ns is not None else m.t_ns
            d.arrows.append(Arrow(UP, m.t_ns, (m.t_ns + end) // 2, "connect", "SYN"))
            d.arrows.append(Arrow(DOWN, (m.t_ns + end) // 2, end, "connect", "SYN-ACK"))
        elif m.kind == "reconnect":
            d.dots.append(Dot("client", m.t_ns, "reconnect", m.label or "reconnect"))
    for items in (d.arrows, d.holds, d.dots):
        items.sort(key=lambda item: getattr(item, "start_ns", getattr(item, "t_ns", 0)))
    return d


_STYLE = {  # kind -> (colour, line style, line width)
    "request": ("#333333", "-", 1.2), "response": ("#333333", "-", 1.2),
    "send": ("#0072B2", "-", 1.2), "pong": ("#999999", ":", 1.0), "ping": ("#999999", ":", 1.0),
    "comment": ("#999999", ":", 1.0), "connect": ("#999999", "--", 1.0),
}


MIN_SLANT = 0.012  # of the time span: the shortest an arrow is drawn (see _draw)


def _drawn_times(arrow: Arrow, slant_ns: int) -> tuple[int, int]:
    """Where an arrow is drawn. On loopback a message takes microseconds, so a request and the
    answer right after it would lie on one flat line. Each arrow is drawn at least ``slant_ns``
    long, keeping the end the learner reads at its real time: a request is *sent* when drawn,
    a response or event *received* when drawn (an event starts at its real publish time)."""
    if arrow.end_ns - arrow.start_ns >= slant_ns:
        return arrow.start_ns, arrow.end_ns
    if arrow.kind in ("request", "send", "pong") or (arrow.kind == "connect" and arrow.direction == UP):
        return arrow.start_ns, arrow.start_ns + slant_ns
    if arrow.kind == "event":
        return arrow.start_ns, arrow.start_ns + slant_ns
    return arrow.end_ns - slant_ns, arrow.end_ns


def _draw(ax: Axes, d: Diagram, *, labels: int = 26, footnote: bool = True) -> str:
    span = max(d.t1_ns - d.t0_ns, 1)
    slant_ns = int(span * MIN_SLANT)

    def y(t: int) -> float:
        return (t - d.t0_ns) / 1e9

    ax.set_xlim(-0.25, 1.45)
    ax.set_ylim(span / 1e9 * 1.03, -span / 1e9 * 0.03)  # time runs down, as in the article
    for x, name in ((CLIENT_X, t("client")), (SERVER_X, t("server"))):
        ax.axvline(x, color="#bbbbbb", lw=2, zorder=0)
        ax.text(x, 1.0, name, ha="center", va="bottom", fontsize=9, weight="bold",
                transform=ax.get_xaxis_transform())
    for hold in d.holds:
        ax.add_patch(_bar(SERVER_X, y(hold.start_ns), y(hold.end_ns)))
        ax.text(SERVER_X + 0.05, (y(hold.start_ns) + y(hold.end_ns)) / 2, hold.label, fontsize=7,
                va="center", color="#2a7ab0")
    event_colour = colour(d.transport)
    labelled: dict[str, list[float]] = {UP: [], DOWN: []}
    min_gap = span / 1e9 / max(labels, 1)
    thinned = 0
    for arrow in d.arrows:
        start_x, end_x = (CLIENT_X, SERVER_X) if arrow.direction == UP else (SERVER_X, CLIENT_X)
        col, ls, lw = _STYLE.get(arrow.kind, (event_colour, "-", 1.0))
        start, end = _drawn_times(arrow, slant_ns)
        ax.annotate("", xy=(end_x, y(end)), xytext=(start_x, y(start)),
                    arrowprops={"arrowstyle": "-|>", "color": col, "lw": lw, "ls": ls,
                                "shrinkA": 0, "shrinkB": 0})
        if not arrow.label:
            continue
        # Requests are labelled near the client, answers near the server: the two columns
        # keep a request and the answer right after it from covering each other.
        at = 0.3 if arrow.direction == UP else 0.7
        mid = y(start) + (y(end) - y(start)) * (at if arrow.direction == UP else 1 - at)
        if all(abs(mid - other) >= min_gap for other in labelled[arrow.direction]):
            labelled[arrow.direction].append(mid)
            ax.text(at, mid, arrow.label[:34], ha="center", va="center", fontsize=6.5, color=col,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85})
        else:
            thinned += 1
    for dot in d.dots:
        if dot.kind == "publish":
            ax.plot([SERVER_X], [y(dot.t_ns)], "o", ms=4, color=event_colour, zorder=3)
            if dot.left_ns is not None and dot.left_ns - dot.t_ns > slant_ns / 4:
                ax.plot([SERVER_X + 0.025] * 2, [y(dot.t_ns), y(dot.left_ns)], ":", color=event_colour,
                        lw=1.2)
        else:
            ax.plot([CLIENT_X], [y(dot.t_ns)], "x", ms=7, color="#D55E00", zorder=3)
            ax.text(CLIENT_X - 0.04, y(dot.t_ns), dot.label[:24], ha="right", va="center", fontsize=6.5,
                    color="#D55E00")
    ax.set_xticks([])
    ax.set_ylabel(t("time (s) ↓"))
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    note = [t("arrows drawn ≥ {ms:.0f} ms long; real times at their labelled end", ms=slant_ns / 1e6)]
    if d.sampled != 1:
        note.append(t("1 in {n} event arrows drawn", n=d.sampled))
    if thinned:
        note.append(t("{n} labels left out", n=thinned))
    if footnote:
        ax.text(0.5, -0.01, "; ".join(note), transform=ax.transAxes, ha="center", va="top",
                fontsize=6.5, color="#666666", wrap=True)
    return note[0]


def _bar(x: float, y0: float, y1: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.03, y0), 0.06, y1 - y0, color="#56B4E9", alpha=0.35, zorder=1)


def _marks_of(source: Any) -> tuple[list[Mark], str, str | None]:
    """(client marks, transport, client name) from a client, a Recorder or a Result."""
    recorder = getattr(source, "recorder", None) or source
    if hasattr(source, "recorders"):  # an experiments.Result: its first client
        recorder = source.recorders[0]
    trace = getattr(recorder, "trace", None)
    if trace is None:
        raise ValueError("nothing traced: start the client (or the experiment) with trace=True")
    return trace.marks(), recorder.transport, recorder.name


def _server_marks(source: Any, server: Any) -> list[Mark]:
    trace = getattr(server, "trace", None) if server is not None else getattr(source, "server_trace", None)
    return trace.marks() if trace is not None else []


def sequence(source: Any, server: Any = None, *, last_s: float | None = None,
             ax: Axes | None = None, title: str | None = None, max_event_arrows: int = 60,
             footnote: bool = True) -> Figure:
    """A measured sequence diagram of one client (and its server).

    Args:
        source: a client started with ``trace=True``, its Recorder, or a
            :class:`~rtlab.lessons.experiments.Result` of an experiment run with ``trace=True``.
        server: the server (started with ``trace=True``), for arrival times, holds and publishes.
        last_s: show only the last ``last_s`` seconds.
        ax: draw into these axes (a grid of diagrams); a new figure otherwise.
        title: the title; by default it says what the picture shows.
        max_event_arrows: sample event arrows beyond this many (and say so).
        footnote: say under the diagram how arrows are drawn and what was left out.
    """
    marks, transport, name = _marks_of(source)
    t1 = max((m.t_ns for m in marks), default=0)
    t0 = None if last_s is None else t1 - int(last_s * 1e9)
    d = sequence_items(marks, _server_marks(source, server), transport=transport, client=name,
                       t0_ns=t0, t1_ns=t1 if marks else None, max_event_arrows=max_event_arrows)
    fig: Figure
    if ax is None:
        fig = new_figure(5.2, 6.0)
        ax = fig.add_subplot()
    else:
        fig = ax.figure  # type: ignore[assignment]
    _draw(ax, d, footnote=footnote)
    requests = sum(a.kind == "request" for a in d.arrows)
    events = sum(dot.kind == "publish" for dot in d.dots)
    ax.set_title(title or t("{name}: {requests} request(s), {events} event(s) in {span:.2g} s",
                            name=display_name(transport), requests=requests, events=events,
                            span=(d.t1_ns - d.t0_ns) / 1e9), fontsize=9, pad=16)
    return fig


def sequences(pairs: Mapping[str, tuple[Any, Any]], *, last_s: float | None = None) -> Figure:
    """Several diagrams side by side (the showdown): ``{"sse": (client, server), ...}``."""
    fig = new_figure(3.6 * len(pairs), 6.4)
    axes = fig.subplots(1, len(pairs), sharey=False, squeeze=False)[0]
    for ax, (name, (source, server)) in zip(axes, pairs.items(), strict=True):
        sequence(source, server, last_s=last_s, ax=ax, title=display_name(name), footnote=False)
        ax.title.set_color(colour(name))
    fig.suptitle(t("The same events, four ways: requests and answers (black), events (colour), "
                   "publish → leave (dotted), held requests (bars)"), fontsize=10)
    fig.text(0.5, 0.005, t("Arrows are drawn at least ~1 % of the time span long, so a request and its "
                           "answer can be told apart; the labelled end of each is at its real time."),
             ha="center", va="bottom", fontsize=7.5, color="#666666")
    return fig
