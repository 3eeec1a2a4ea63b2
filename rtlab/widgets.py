"""Live widgets: what the learner watches while events flow.

Rule one of live widgets here: **nothing is drawn on the path being timed**. A client's
``on_event`` only stores data; one background thread, the :class:`Refresher`, wakes a
few times a second and copies what changed into widget traits (``label.value = ...``,
``image.value = png``). Setting traits from a background thread is supported by
ipywidgets and renders live in JupyterLab; ``Output`` widgets driven from background
tasks are not reliable (see the field notes), so they are not used for live views.

Every live view is registered under a name; creating it again (a re-run cell) replaces
the old one, and everything stops at interpreter exit.
"""

from __future__ import annotations

import atexit
import html
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import ipywidgets as w

from .measure import Recorder, summarize


class Refresher:
    """One daemon thread that calls registered refresh functions, each at its own rate."""

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[Callable[[], Any], float, list[float]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def every(self, name: str, refresh: Callable[[], Any], hz: float = 4.0) -> None:
        """Call ``refresh()`` about ``hz`` times a second until :meth:`cancel` (replaces ``name``)."""
        with self._lock:
            self._jobs[name] = (refresh, 1.0 / hz, [0.0])
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._main, name="rtlab-widgets",
                                                daemon=True)
                self._thread.start()

    def cancel(self, name: str) -> None:
        with self._lock:
            self._jobs.pop(name, None)

    def _main(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            with self._lock:
                due = [(n, job) for n, job in self._jobs.items() if now - job[2][0] >= job[1]]
            for name, (refresh, _, last) in due:
                last[0] = now
                try:
                    refresh()
                except Exception as exc:  # noqa: BLE001 - a broken view must not stop the others
                    self.cancel(name)
                    print(f"rtlab: live view {name!r} stopped: {exc!r}")

    def stop(self) -> None:
        with self._lock:
            self._jobs.clear()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._jobs)


refresher = Refresher()
atexit.register(refresher.stop)


def stop_live_views() -> None:
    """Stop every live view (the widgets keep their last value)."""
    for name in refresher.names:
        refresher.cancel(name)


# -- building blocks ----------------------------------------------------------------------------
def _table(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><td style='padding:0 12px 0 0'>{html.escape(k)}</td>"
        f"<td style='text-align:right;font-family:monospace'>{html.escape(v)}</td></tr>"
        for k, v in rows)
    return f"<table>{cells}</table>"


def counters(recorders: Recorder | Iterable[Recorder], server: Any = None, *,
             name: str = "counters", hz: float = 4.0) -> w.HTML:
    """A live table of what the clients received and spent (and the server's bytes, if given).

    Server byte counts are read from the server's own loop, a cheap call a few times a second.
    """
    recs = [recorders] if isinstance(recorders, Recorder) else list(recorders)
    view = w.HTML(layout=w.Layout(min_width="260px"))

    def refresh() -> None:
        s = summarize(x for r in recs for x in r.latencies_ms(last=500))
        rows = [
            ("events received", f"{sum(r.count for r in recs):,}"),
            ("requests", f"{sum(r.requests for r in recs):,}"),
            ("empty responses", f"{sum(r.empty for r in recs):,}"),
            ("connections opened", f"{sum(r.connections for r in recs):,}"),
            ("latency p50 (last 500)", "–" if s.count == 0 else f"{s.p50:.3g} ms"),
        ]
        if server is not None and server.running:
            st = server.stats()
            rows += [("bytes client → server", f"{st.bytes_in:,}"),
                     ("bytes server → client", f"{st.bytes_out:,}")]
        view.value = _table(rows)

    refresh()
    refresher.every(name, refresh, hz)
    return view


def latency_plot(recorders: Recorder | Iterable[Recorder], *, name: str = "latency-plot",
                 kind: str = "histogram", theory_uniform_ms: float | None = None,
                 hz: float = 2.0, width: int = 520) -> w.Image:
    """A live latency plot (an ``Image`` widget re-rendered at most ``hz`` times a second).

    Rendering a PNG costs ~25 ms, so it happens here, in the refresher thread — never on the
    client loop where latency is being measured — and only when new data arrived.
    """
    from . import plots  # matplotlib only when a plot is asked for

    recs = [recorders] if isinstance(recorders, Recorder) else list(recorders)
    image = w.Image(format="png", layout=w.Layout(width=f"{width}px"))
    seen = [-1]

    def refresh() -> None:
        count = sum(r.count for r in recs)
        if count == seen[0]:
            return
        seen[0] = count
        latencies = [x for r in recs for x in r.latencies_ms()]
        if kind == "cdf":
            fig = plots.latency_cdf({recs[0].transport or "latency": latencies})
        else:
            fig = plots.latency_histogram(latencies, theory_uniform_ms=theory_uniform_ms)
        image.value = plots.figure_to_png(fig)

    refresh()
    refresher.every(name, refresh, hz)
    return image


def ticking_counter(name: str = "env-check", hz: float = 5.0) -> w.HTML:
    """A counter that ticks from a background thread: if it moves, live widgets work here."""
    view = w.HTML()
    start = time.monotonic()
    ticks = [0]

    def refresh() -> None:
        ticks[0] += 1
        view.value = (f"<b style='font-size:1.4em'>{ticks[0]}</b> ticks from a background "
                      f"thread in {time.monotonic() - start:.1f} s")

    refresh()
    refresher.every(name, refresh, hz)
    return view


def self_check(question: str, choices: Sequence[str], answer: int, explanation: str = "") -> w.VBox:
    """A multiple-choice question with immediate feedback when the learner picks an answer."""
    buttons = w.RadioButtons(options=list(choices), value=None, layout=w.Layout(width="auto"))
    feedback = w.HTML()

    def on_pick(change: dict[str, Any]) -> None:
        if change["new"] is None:
            return
        if buttons.index == answer:
            feedback.value = f"<span style='color:#1a7f37'>✓ Right.</span> {html.escape(explanation)}"
        else:
            feedback.value = "<span style='color:#b35900'>✗ Not quite — think again.</span>"

    buttons.observe(on_pick, names="value")
    return w.VBox([w.HTML(f"<b>{html.escape(question)}</b>"), buttons, feedback])


# -- per-notebook live views (scoreboard, config watcher, quiz, token stream) go below ----------
# --- 01 short polling ---
_MARKS = {"kickoff": "▶", "goal": "⚽", "card": "🟨", "full-time": "⏹"}


def _latest(state: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The most recent (type, payload) in a football state: the one with the highest minute."""
    order = {"kickoff": 0, "minute": 1, "card": 2, "goal": 3, "full-time": 4}  # ties: later wins
    items = [(t, d) for t, d in state.items() if isinstance(d, dict) and "minute" in d]
    if not items:
        return None
    return max(items, key=lambda item: (item[1]["minute"], order.get(item[0], 1)))


def scoreboard(client: Any, *, name: str = "scoreboard", hz: float = 4.0) -> w.HTML:
    """A live football scoreboard drawn from ``client.state`` — only what the last poll returned.

    It shows the teams, the score, the minute and the last notable event (kickoff, goal,
    card, full time), and below it how often the client really polled in the last 2 seconds.
    """
    view = w.HTML(layout=w.Layout(min_width="300px"))
    polls: list[tuple[float, int]] = []  # (time, requests so far), to measure the real poll rate

    def refresh() -> None:
        state = dict(client.state)  # a copy: the client loop may replace it meanwhile
        kickoff = state.get("kickoff", {})
        home, away = kickoff.get("home", "Home"), kickoff.get("away", "Away")
        latest = _latest(state)
        score = latest[1].get("score", {}) if latest else {}
        minute = "FT" if "full-time" in state else (f"{latest[1]['minute']}'" if latest else "–")
        notable = [(t, d) for t, d in state.items() if t != "minute" and isinstance(d, dict)]
        last = _latest(dict(notable))
        if last is None:
            last_text = "waiting for kickoff…"
        else:
            kind, data = last
            who = f" — {data['team']}" if "team" in data else ""
            colour = f" ({data['colour']})" if "colour" in data else ""
            last_text = f"{_MARKS.get(kind, '•')} {data['minute']}' {kind}{who}{colour}"
        now = time.monotonic()
        polls.append((now, client.recorder.requests))
        while len(polls) > 2 and now - polls[0][0] > 2.0:
            polls.pop(0)
        span = polls[-1][0] - polls[0][0]
        rate = (polls[-1][1] - polls[0][1]) / span if span > 0 else 0.0
        view.value = (
            "<div style='font-family:sans-serif;border:1px solid #888;border-radius:6px;"
            "padding:8px 14px;display:inline-block'>"
            f"<div style='font-size:1.5em'><b>{html.escape(home)}</b> "
            f"<span style='padding:0 10px;font-variant-numeric:tabular-nums'>{score.get(home, 0)} – "
            f"{score.get(away, 0)}</span> "
            f"<b>{html.escape(away)}</b></div>"
            f"<div>minute <b>{html.escape(minute)}</b> · last event: {html.escape(last_text)}</div>"
            f"<div style='color:#666;font-size:0.9em'>polling every {client.interval:.2f} s · "
            f"measured {rate:.1f} polls/s · {'running' if client.running else 'stopped'}</div></div>")

    refresh()
    refresher.every(name, refresh, hz)
    return view


def interval_slider(client: Any, *, low: float = 0.05, high: float = 2.0) -> w.FloatSlider:
    """A slider that sets the running client's ``interval`` (seconds); the next poll uses it."""
    slider = w.FloatSlider(value=client.interval, min=low, max=high, step=0.05,
                           description="poll every (s)", readout_format=".2f",
                           continuous_update=False, style={"description_width": "initial"})

    def on_change(change: dict[str, Any]) -> None:
        client.interval = float(change["new"])  # a plain float: the client loop reads it each poll

    slider.observe(on_change, names="value")
    return slider


# --- 02 long polling ---
def config_watchers(clients: Any, server: Any = None, *, name: str = "config-watchers",
                    hz: float = 4.0) -> w.HBox:
    """One card per long-polling client: each config key → value (version), as that client heard it.

    A card also counts the changes its client received — out of how many the ``server``
    published, if given. A watcher that missed changes turns red: its values may be stale.
    The client's ``on_event`` only stores the change; the cards are redrawn by the refresher.
    """
    clients = list(clients)
    heard: list[dict[str, tuple[Any, Any]]] = [{} for _ in clients]

    def keep(state: dict[str, tuple[Any, Any]], chained: Any) -> Callable[[Any], None]:
        def on_event(event: Any) -> None:
            data = event.data
            if isinstance(data, dict) and "key" in data:
                state[str(data["key"])] = (data.get("value"), data.get("version", event.seq))
            if chained is not None:
                chained(event)
        on_event.rtlab_config_store = True  # type: ignore[attr-defined]
        return on_event

    for client, state in zip(clients, heard, strict=True):
        chained = client.on_event
        if getattr(chained, "rtlab_config_store", False):
            chained = None  # a re-run cell: replace our old hook instead of stacking a new one
        client.on_event = keep(state, chained)

    cards = [w.HTML() for _ in clients]

    def card(client: Any, state: dict[str, tuple[Any, Any]]) -> str:
        published = server.hub.latest_seq if server is not None and server.hub is not None else None
        received = client.recorder.count
        behind = published is not None and received < published
        colour = "#c62828" if behind else "#2e7d32"
        kind = "no cursor (wait=next)" if getattr(client, "naive", False) else f"since={client.last_seq}"
        rows = "".join(
            f"<tr><td style='padding-right:10px'>{html.escape(k)}</td>"
            f"<td style='font-family:monospace;text-align:right'>{html.escape(str(v))}</td>"
            f"<td style='color:#666;padding-left:8px'>v{html.escape(str(ver))}</td></tr>"
            for k, (v, ver) in sorted(state.items())) or "<tr><td>(no change heard yet)</td></tr>"
        out_of = "" if published is None else f" of {published}"
        return (f"<div style='font-family:sans-serif;border:2px solid {colour};border-radius:6px;"
                f"padding:6px 12px;margin:2px;min-width:210px'><b>{html.escape(client.name)}</b>"
                f" <span style='color:#666'>· {html.escape(kind)}</span><table>{rows}</table>"
                f"<div style='color:{colour}'>received {received:,}{out_of} changes</div></div>")

    def refresh() -> None:
        for view, client, state in zip(cards, clients, heard, strict=True):
            text = card(client, dict(state))
            if view.value != text:
                view.value = text

    refresh()
    refresher.every(name, refresh, hz)
    return w.HBox(cards, layout=w.Layout(flex_flow="row wrap"))


# --- 03 websocket ---
class QuizView(w.VBox):
    """The live quiz, as one player sees it: the question, answer buttons, live tally, result.

    Events from the server (``question``, ``tally``, ``result``, see
    :class:`rtlab.scenarios.QuizHost`) are stored by the client's ``on_event``; the server's
    replies to this player (``ack``) by its ``on_message``; the refresher draws both. A
    button click sends ``{"type": "answer", ...}`` up the same WebSocket.
    """

    def __init__(self, client: Any, *, name: str = "quiz", hz: float = 8.0) -> None:
        self.client = client
        self.question: dict[str, Any] | None = None
        self.tally: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.reply: dict[str, Any] | None = None
        self.chosen: int | None = None
        self._version = 0  # bumped on every change; the refresher draws only when it moved
        self._drawn = -1
        self.title = w.HTML()
        self.buttons = [w.Button(layout=w.Layout(width="auto")) for _ in range(4)]
        for index, button in enumerate(self.buttons):
            button.on_click(lambda _, i=index: self.answer(i))
        self.bars = w.HTML()
        self.status = w.HTML()
        super().__init__([self.title, w.HBox(self.buttons), self.bars, self.status])
        previous_event, previous_message = client.on_event, client.on_message

        def on_event(event: Any) -> None:  # on the client loop: store, never draw
            if event.type == "question":
                self.question, self.tally, self.result, self.chosen = event.data, None, None, None
                self.reply = None
            elif event.type == "tally":
                self.tally = event.data
            elif event.type == "result":
                self.result = event.data
            self._version += 1
            if previous_event is not None:
                previous_event(event)

        def on_message(message: dict[str, Any]) -> None:
            self.reply = message
            if message.get("type") == "ack" and message.get("accepted"):
                self.chosen = message["choice"]  # also when the answer was sent from code
            self._version += 1
            if previous_message is not None:
                previous_message(message)

        client.on_event, client.on_message = on_event, on_message
        self.refresh()
        refresher.every(name, self.refresh, hz)

    def answer(self, choice: int) -> None:
        """What a button does: send this player's answer to the server."""
        if self.question is None:
            return
        self.chosen = choice
        self._version += 1
        try:
            self.client.send({"type": "answer", "data": {"question": self.question["id"], "choice": choice}})
        except Exception as exc:  # noqa: BLE001 - a click must not raise into the widget log
            self.reply = {"type": "error", "error": f"could not send: {exc!r}"}

    def refresh(self) -> None:
        if self._drawn == self._version:
            return
        self._drawn = self._version
        q, result = self.question, self.result
        if q is None:
            self.title.value = "<i>Waiting for the host to ask a question…</i>"
            for button in self.buttons:
                button.layout.display = "none"
            return
        self.title.value = f"<b>Question {q['id']}.</b> {html.escape(q['text'])}"
        for index, button in enumerate(self.buttons):
            shown = index < len(q["choices"])
            button.layout.display = None if shown else "none"
            button.description = q["choices"][index] if shown else ""
            button.disabled = self.chosen is not None or result is not None
            style = ""
            if result is not None and index == result["answer"]:
                style = "success"
            elif result is not None and index == self.chosen:
                style = "danger"
            elif index == self.chosen:
                style = "info"
            button.button_style = style
        counts = (result or self.tally or {}).get("counts") or [0] * len(q["choices"])
        most = max(max(counts), 1)
        rows = "".join(
            f"<tr><td style='padding-right:8px'>{html.escape(choice)}</td><td style='width:220px'>"
            f"<div style='background:#4c78a8;height:12px;width:{100 * n / most:.0f}%'></div></td>"
            f"<td style='padding-left:6px;font-family:monospace'>{n}</td></tr>"
            for choice, n in zip(q["choices"], counts, strict=False))
        self.bars.value = f"<table>{rows}</table>"
        parts = []
        if self.reply is not None:
            if self.reply.get("type") == "ack":
                parts.append("server: answer accepted" if self.reply.get("accepted")
                             else f"server: not counted ({html.escape(str(self.reply.get('reason')))})")
            else:
                parts.append(html.escape(str(self.reply.get("error", self.reply))))
        if result is not None:
            you = "✓ you were right" if self.client.name in result["right"] else "✗ not this time"
            board = " · ".join(f"{html.escape(p)} {s}" for p, s in result["leaderboard"][:6])
            parts.append(f"<b>{len(result['right'])}/{result['answered']} right</b> — {you}<br>"
                         f"leaderboard: {board}")
        rec = self.client.recorder
        s = summarize(rec.latencies_ms(last=200))
        parts.append(f"<span style='color:#666'>events received {rec.count} · latency p50 "
                     f"{'–' if s.count == 0 else f'{s.p50:.3g} ms'} · connections {rec.connections}</span>")
        self.status.value = "<br>".join(parts)


def quiz(client: Any, *, name: str = "quiz", hz: float = 8.0) -> QuizView:
    """The live quiz for the learner's WebSocket ``client``: click a choice to answer."""
    return QuizView(client, name=name, hz=hz)


# --- 04 sse ---
class TokenStream(w.VBox):
    """An answer growing token by token, as a chat page shows it, with the client's counters.

    It listens to the client's ``token`` events (``{"index", "text"}``, see
    :func:`rtlab.scenarios.tokens`); a token with index 0 starts a new answer.
    :attr:`text` is the answer as reassembled so far, :attr:`done` says a ``done`` event came.
    """

    def __init__(self, client: Any, *, name: str = "token-stream", hz: float = 10.0) -> None:
        self.answer = w.HTML(layout=w.Layout(min_height="7em", width="100%"))
        self.counts = w.HTML()
        super().__init__([self.answer, self.counts], layout=w.Layout(width="100%"))
        self.client = client
        self.parts: list[str] = []
        self.done = False
        self._first_ns = self._last_ns = 0
        previous = client.on_event

        def on_event(event: Any) -> None:  # on the client loop: store, never draw
            if event.type == "token":
                if event.data["index"] == 0:
                    self.parts, self.done = [], False
                    self._first_ns = time.monotonic_ns()
                self.parts.append(event.data["text"])
                self._last_ns = time.monotonic_ns()
            elif event.type == "done":
                self.done = True
            if previous is not None:
                previous(event)

        client.on_event = on_event
        self.refresh()
        refresher.every(name, self.refresh, hz)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def refresh(self) -> None:
        cursor = "" if self.done else "<span style='color:#888'>▌</span>"
        self.answer.value = (
            "<div style='white-space:pre-wrap;font-family:sans-serif;border:1px solid #ccc;"
            f"border-radius:6px;padding:8px;min-height:6em'>{html.escape(self.text)}{cursor}</div>")
        rec = self.client.recorder
        seconds = (self._last_ns - self._first_ns) / 1e9
        rate = f"{(len(self.parts) - 1) / seconds:.0f}/s" if seconds > 0 else "–"
        s = summarize(rec.latencies_ms(last=500))
        cells = [("tokens", f"{len(self.parts)}"), ("rate", rate),
                 ("latency p50", "–" if s.count == 0 else f"{s.p50:.3g} ms"),
                 ("connections", f"{rec.connections}"), ("reconnects", f"{rec.reconnects}"),
                 ("missed", f"{rec.missed}"), ("duplicates", f"{rec.duplicates}")]
        self.counts.value = " · ".join(
            f"{html.escape(k)} <b style='font-family:monospace'>{html.escape(v)}</b>" for k, v in cells)


def token_stream(client: Any, *, name: str = "token-stream", hz: float = 10.0) -> TokenStream:
    """A live view of the answer ``client`` is receiving, token by token, plus its counters."""
    return TokenStream(client, name=name, hz=hz)


# --- 05 showdown ---
class Race(w.VBox):
    """Events received per technique, live, while :func:`rtlab.experiments.compare` runs.

    Display it, then pass ``watch=race.attach`` to ``compare``: the bars fill as events
    arrive, with each technique's running median latency beside them.
    """

    def __init__(self, name: str = "race") -> None:
        super().__init__([w.HTML("<i>waiting for the experiment to start…</i>")])
        self.name = name

    def attach(self, recorders: dict[str, list[Recorder]], events: int) -> None:
        bars, labels = {}, {}
        rows = []
        for transport, recs in recorders.items():
            bars[transport] = w.IntProgress(value=0, min=0, max=max(1, events * len(recs)),
                                            layout=w.Layout(width="260px"))
            labels[transport] = w.HTML()
            rows.append(w.HBox([w.HTML(f"<code>{html.escape(transport):<14}</code>",
                                       layout=w.Layout(width="130px")),
                                bars[transport], labels[transport]]))
        self.children = rows

        def refresh() -> None:
            for transport, recs in recorders.items():
                received = sum(r.count for r in recs)
                bars[transport].value = min(received, bars[transport].max)
                s = summarize(x for r in recs for x in r.latencies_ms(last=200))
                p50 = "–" if s.count == 0 else f"p50 {s.p50:.3g} ms"
                labels[transport].value = f"&nbsp;{received}/{bars[transport].max} events, {p50}"

        refresh()
        refresher.every(self.name, refresh, hz=5)


def race(name: str = "race") -> Race:
    """A live race view for :func:`rtlab.experiments.compare` (``watch=view.attach``)."""
    return Race(name)


def advisor(results: dict[str, Any] | None = None) -> w.VBox:
    """"Which technique should I use?": the learner states their needs, gets the article's advice.

    With ``results`` from :func:`rtlab.experiments.compare`, the advice comes with the
    measured evidence for the recommended technique.
    """
    from .article import advise

    both = w.Checkbox(description="the client sends messages too (both directions)", indent=False)
    old = w.Checkbox(description="old browsers or proxies that break long-lived connections",
                     indent=False)
    budget = w.FloatLogSlider(value=1000, base=10, min=0, max=4, description="latency budget ms",
                              style={"description_width": "initial"})
    clients = w.IntSlider(value=100, min=1, max=10_000, description="clients",
                          style={"description_width": "initial"})
    answer = w.HTML()

    def update(*_: Any) -> None:
        name, why = advise(both_directions=both.value, latency_budget_ms=budget.value,
                           clients=clients.value, old_browsers_or_strict_proxies=old.value)
        evidence = ""
        if results and name in results:
            s = results[name].summary()
            evidence = (f"<br><small>Measured here: p50 {s.p50:.3g} ms, p99 {s.p99:.3g} ms, "
                        f"{results[name].requests_per_event:.2f} requests and "
                        f"{results[name].bytes_per_event:.0f} bytes per event.</small>")
            if s.p99 > budget.value:
                evidence += (f"<br><small style='color:#b35900'>Its measured p99 is over your "
                             f"{budget.value:.0f} ms budget.</small>")
        answer.value = f"<b>Use {html.escape(name)}</b>: {html.escape(why)}{evidence}"

    for control in (both, old, budget, clients):
        control.observe(update, names="value")
    update()
    return w.VBox([both, old, budget, clients, answer])
