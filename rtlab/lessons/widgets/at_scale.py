"""Notebook 08's live view: each gateway, its players, and how far they have got."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..i18n import N_, t
from .refresher import live

_HEADINGS = (N_("gateway"), N_("state"), N_("pid"), N_("players"), N_("lowest seq"), N_("highest seq"))


def gateways(cluster: Any, players: list[Any], *, name: str = "gateways", hz: float = 4.0) -> w.HTML:
    """A live table: one row per gateway (up or down, its pid), how many players are on it now,
    and the lowest and highest seq those players have; then players moving between gateways.

    Reads only the players' own attributes (their ``url``, ``last_seq``, ``moves``) and the
    gateway processes' state: nothing on the path being timed.
    """
    view = w.HTML(layout=w.Layout(min_width="420px"))

    def refresh() -> None:
        rows = []
        for index, gateway in enumerate(cluster.gateways, 1):
            on_it = [p for p in players if p.url == gateway.url]
            seqs = [p.last_seq for p in on_it]
            state = t("up") if gateway.running else "<b style='color:#c0392b'>" + t("down") + "</b>"
            label = t("gateway {index}", index=index)
            rows.append(f"<tr><td>{label}</td><td>{state}</td><td>{gateway.pid}</td>"
                        f"<td style='text-align:right'>{len(on_it)}</td>"
                        f"<td style='text-align:right'>{min(seqs) if seqs else '–'}</td>"
                        f"<td style='text-align:right'>{max(seqs) if seqs else '–'}</td></tr>")
        moved = sum(p.moves > 0 for p in players)
        head = "<tr>" + "".join(f"<th>{t(h)}</th>" for h in _HEADINGS) + "</tr>"
        view.value = (f"<table style='font-family:monospace'>{head}{''.join(rows)}</table>"
                      "<div>" + t("{n} players; {moved} have moved gateway at least once · broker {url}",
                                  n=len(players), moved=moved, url=html.escape(str(cluster.broker_url)))
                      + "</div>")

    live(name, refresh, hz)
    return view
