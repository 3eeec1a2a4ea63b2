"""05 showdown: the live race, and the advisor."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ...metrics import Recorder, summarize
from ..i18n import t
from .refresher import live


class Race(w.VBox):
    """Events received per technique, live, while :func:`rtlab.lessons.experiments.compare` runs.

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
                labels[transport].value = "&nbsp;" + t("{received}/{total} events, {p50}", received=received,
                                                         total=bars[transport].max, p50=p50)

        live(self.name, refresh, 5)


def race(name: str = "race") -> Race:
    """A live race view for :func:`rtlab.lessons.experiments.compare` (``watch=view.attach``)."""
    return Race(name)


def advisor(results: dict[str, Any] | None = None) -> w.VBox:
    """"Which technique should I use?": the learner states their needs, gets the article's rule.

    The article's four rules (see :func:`rtlab.article.advise`); with ``results`` from
    :func:`rtlab.lessons.experiments.compare`, the advice comes with the measured evidence for the
    recommended technique, and the lab's objection where its measurements disagree with the rule.
    """
    from ..article import advise

    both = w.Checkbox(description=t("the client sends messages too (both directions)"), indent=False)
    compatible = w.Checkbox(description=t("simplest and most compatible: old clients, or proxies that cut "
                                          "long-lived requests"), indent=False,
                            layout=w.Layout(width="auto"))
    realtime = w.ToggleButtons(options=[(t("low: seconds are fine"), "low"), (t("medium"), "medium"),
                                        (t("high: as soon as possible"), "high")], value="high",
                               description=t("real-time"), style={"description_width": "initial"})
    answer = w.HTML()

    def update(*_: Any) -> None:
        advice = advise(both_directions=both.value, realtime=realtime.value,
                        compatibility=compatible.value, results=results)
        evidence = ""
        if results and advice.technique in results:
            r = results[advice.technique]
            s = r.summary()
            evidence = "<br><small>" + t(
                "Measured here: p50 {p50:.3g} ms, p99 {p99:.3g} ms, {requests:.2f} requests and "
                "{bytes:.0f} bytes per event.", p50=s.p50, p99=s.p99, requests=r.requests_per_event,
                bytes=r.bytes_per_event) + "</small>"
        note = ("<br><span style='color:#b35900'>" + t("Where the lab disagrees: {note}",
                                                        note=html.escape(advice.lab_note))
                + "</span>" if advice.lab_note else "")
        answer.value = t("<b>Use {technique}</b> — the article's rule <b>{rule}</b>: {why}",
                         technique=html.escape(advice.technique), rule=html.escape(advice.rule),
                         why=html.escape(advice.why)) + evidence + note

    for control in (both, compatible, realtime):
        control.observe(update, names="value")
    update()
    return w.VBox([both, compatible, realtime, answer])
