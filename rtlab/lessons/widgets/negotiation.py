"""07's live view of a negotiating client: the technique it is on now, its switches, its events.

``view = transport_view(); display(view)``, then hand ``view.watch`` to
:func:`rtlab.lessons.negotiation.fall_back` (``on_client=view.watch``): the refresher copies
the client's state into the view five times a second while the fault plays out, so the learner
sees WebSocket turn into long polling and then into SSE as it happens.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..i18n import t
from .common import _table
from .refresher import live

__all__ = ["TransportView", "transport_view"]


class TransportView(w.HTML):
    """An HTML widget showing one negotiating client; :meth:`watch` points it at a client."""

    client: Any = None

    def watch(self, client: Any) -> None:
        """Show ``client`` (a :class:`rtlab.net.auto_client.AutoClient`) from now on."""
        self.client = client
        self.refresh()

    def refresh(self) -> None:
        client = self.client
        if client is None:
            self.value = html.escape(t("no client yet"))
            return
        switches = list(client.switches)
        last = switches[-1] if switches else None
        rows = [
            (t("on now"), client.transport),
            (t("switches"), f"{len(switches)}"),
            (t("last switch"), "–" if last is None else f"{last.from_} → {last.to}: {last.why}"[:80]),
            (t("events delivered"), f"{client.recorder.count:,}"),
            (t("missed"), f"{client.recorder.missed:,}"),
        ]
        self.value = _table(rows)


def transport_view(name: str = "negotiation-view", hz: float = 5.0) -> TransportView:
    """A live view of the client handed to its ``watch``; a re-run cell replaces the last one."""
    view = TransportView(layout=w.Layout(min_width="360px"))
    view.refresh()
    live(name, view.refresh, hz)
    return view
