"""Building blocks every notebook uses: live counters, a live latency plot, a self-check."""

from __future__ import annotations

import html
import random
import time
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import ipywidgets as w

from ...metrics import Recorder, summarize
from ..i18n import t
from .refresher import live, refresher


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
            (t("events received"), f"{sum(r.count for r in recs):,}"),
            (t("requests"), f"{sum(r.requests for r in recs):,}"),
            (t("empty responses"), f"{sum(r.empty for r in recs):,}"),
            (t("connections opened"), f"{sum(r.connections for r in recs):,}"),
            (t("latency p50 (last 500)"), "–" if s.count == 0 else f"{s.p50:.3g} ms"),
        ]
        if server is not None and server.running:
            st = server.stats()
            rows += [(t("bytes client → server"), f"{st.bytes_in:,}"),
                     (t("bytes server → client"), f"{st.bytes_out:,}")]
        view.value = _table(rows)

    live(name, refresh, hz)
    return view


def latency_plot(recorders: Recorder | Iterable[Recorder], *, name: str = "latency-plot",
                 kind: str = "histogram", theory_uniform_ms: float | None = None,
                 hz: float = 2.0, width: int = 520) -> w.Image:
    """A live latency plot (an ``Image`` widget re-rendered at most ``hz`` times a second).

    Rendering a PNG costs ~25 ms, so it happens here, in the refresher thread — never on the
    client loop where latency is being measured — and only when new data arrived.
    """
    from .. import plots  # matplotlib only when a plot is asked for

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

    live(name, refresh, hz, draws=True)
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

    live(name, refresh, hz)
    return view


class SelfCheck(w.VBox):
    """A multiple-choice question that explains every answer, right or wrong, when picked.

    The options are shuffled with a seed taken from the question's text: the same order on
    every run and for every learner, but the right answer is not always in the same place.

    Args:
        question: the question.
        right: ``(text, why it is right)``.
        wrong: ``[(text, why it is wrong), ...]`` — each wrong option gets its own explanation.
        seed: overrides the seed derived from the question.
    """

    def __init__(self, question: str, right: tuple[str, str], wrong: Sequence[tuple[str, str]],
                 *, seed: int | None = None) -> None:
        options = [(right[0], True, right[1])] + [(text, False, why) for text, why in wrong]
        random.Random(zlib.crc32(question.encode()) if seed is None else seed).shuffle(options)
        self.question, self.options = question, options
        self.answer = next(i for i, (_, correct, _) in enumerate(options) if correct)
        self.buttons = w.RadioButtons(options=[text for text, _, _ in options], value=None,
                                      layout=w.Layout(width="auto"))
        self.feedback = w.HTML()
        self.buttons.observe(self._on_pick, names="value")
        super().__init__([w.HTML(f"<b>{html.escape(question)}</b>"), self.buttons, self.feedback])

    def _on_pick(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            return
        _, correct, why = self.options[self.buttons.index]
        if correct:
            self.feedback.value = f"<span style='color:#1a7f37'>✓ {t('Right.')}</span> {html.escape(why)}"
        else:
            self.feedback.value = (f"<span style='color:#b35900'>✗ {t('Not quite.')}</span> "
                                   f"{html.escape(why)} "
                                   + t("Try another answer."))


def self_check(question: str, right: tuple[str, str], wrong: Sequence[tuple[str, str]],
               *, seed: int | None = None) -> SelfCheck:
    """A self-check question: ``right=(text, why)``, ``wrong=[(text, why), ...]``, shuffled (seeded)."""
    return SelfCheck(question, right, wrong, seed=seed)





def sequence(client: Any, server: Any = None, *, name: str = "sequence", last_s: float = 4.0,
             hz: float = 2.0, for_s: float = 30.0, width: int = 460) -> w.Image:
    """A live sequence diagram of the last ``last_s`` seconds (client and server traced).

    Drawn by the refresher thread at most ``hz`` times a second, only when the trace grew, and
    not while a measurement runs: rendering costs ~30-50 ms of the GIL. After ``for_s`` seconds it
    keeps its last picture and stops (re-run the cell to watch again), so a forgotten view does
    not keep a core busy. Start the client and the server with ``trace=True``.
    """
    from .. import plots  # matplotlib only when a plot is asked for

    recorder = client.recorder
    if recorder.trace is None:
        raise ValueError("this client keeps no trace: connect(..., trace=True)")
    image = w.Image(format="png", layout=w.Layout(width=f"{width}px"))
    seen = [-1]
    until = time.monotonic() + for_s

    def refresh() -> None:
        if time.monotonic() > until:
            refresher.cancel(name)  # this was the last picture
        size = len(recorder.trace) + (len(server.trace) if getattr(server, "trace", None) else 0)
        if size == seen[0]:
            return
        seen[0] = size
        image.value = plots.figure_to_png(plots.sequence(client, server, last_s=last_s))

    live(name, refresh, hz, draws=True)
    return image
