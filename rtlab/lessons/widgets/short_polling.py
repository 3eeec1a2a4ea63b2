"""01 short polling: the live scoreboard and the interval slider."""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as w

from ..i18n import t
from .refresher import live

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
            last_text = t("waiting for kickoff…")
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
            "<div>" + t("minute <b>{minute}</b> · last event: {last}", minute=html.escape(minute),
                        last=html.escape(last_text)) + "</div>"
            "<div style='color:#666;font-size:0.9em'>"
            + t("polling every {interval:.2f} s · measured {rate:.1f} polls/s · {state}",
                interval=client.interval, rate=rate, state=t("running") if client.running else t("stopped"))
            + "</div></div>")

    live(name, refresh, hz)
    return view


def interval_slider(client: Any, *, low: float = 0.05, high: float = 2.0) -> w.FloatSlider:
    """A slider that sets the running client's ``interval`` (seconds); the next poll uses it."""
    slider = w.FloatSlider(value=client.interval, min=low, max=high, step=0.05,
                           description=t("poll every (s)"), readout_format=".2f",
                           continuous_update=False, style={"description_width": "initial"})

    def on_change(change: dict[str, Any]) -> None:
        client.interval = float(change["new"])  # a plain float: the client loop reads it each poll

    slider.observe(on_change, names="value")
    return slider


