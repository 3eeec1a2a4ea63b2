"""05 showdown: the live race, and the advisor."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ...metrics import Recorder, summarize
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
                labels[transport].value = f"&nbsp;{received}/{bars[transport].max} events, {p50}"

        live(self.name, refresh, 5)


def race(name: str = "race") -> Race:
    """A live race view for :func:`rtlab.lessons.experiments.compare` (``watch=view.attach``)."""
    return Race(name)


def advisor(results: dict[str, Any] | None = None) -> w.VBox:
    """"Which technique should I use?": the learner states their needs, gets the article's advice.

    With ``results`` from :func:`rtlab.lessons.experiments.compare`, the advice comes with the
    measured evidence for the recommended technique.
    """
    from ..article import advise

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
