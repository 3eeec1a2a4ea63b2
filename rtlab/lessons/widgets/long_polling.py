"""02 long polling: one card per config watcher."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..i18n import t
from .refresher import hook, live


def config_watchers(clients: Any, server: Any = None, *, name: str = "config-watchers",
                    hz: float = 4.0) -> w.HBox:
    """One card per long-polling client: each config key → value (version), as that client heard it.

    A card also counts the changes its client received — out of how many the ``server``
    published, if given. A watcher that missed changes turns red: its values may be stale.
    The client's ``on_event`` only stores the change; the cards are redrawn by the refresher.
    """
    clients = list(clients)
    heard: list[dict[str, tuple[Any, Any]]] = [{} for _ in clients]

    def keep(state: dict[str, tuple[Any, Any]]) -> Callable[[Any], None]:
        def on_event(event: Any) -> None:  # on the client loop: store, never draw
            data = event.data
            if isinstance(data, dict) and "key" in data:
                state[str(data["key"])] = (data.get("value"), data.get("version", event.seq))
        return on_event

    for client, state in zip(clients, heard, strict=True):
        hook(client, "on_event", name, keep(state))

    cards = [w.HTML() for _ in clients]

    def card(client: Any, state: dict[str, tuple[Any, Any]], published: int | None) -> str:
        received = client.recorder.count
        behind = published is not None and received < published
        colour = "#c62828" if behind else "#2e7d32"
        kind = t("no cursor (wait=next)") if getattr(client, "naive", False) else f"since={client.last_seq}"
        rows = "".join(
            f"<tr><td style='padding-right:10px'>{html.escape(k)}</td>"
            f"<td style='font-family:monospace;text-align:right'>{html.escape(str(v))}</td>"
            f"<td style='color:#666;padding-left:8px'>v{html.escape(str(ver))}</td></tr>"
            for k, (v, ver) in sorted(state.items())) or f"<tr><td>{t('(no change heard yet)')}</td></tr>"
        out_of = "" if published is None else t(" of {published:,}", published=published)
        return (f"<div style='font-family:sans-serif;border:2px solid {colour};border-radius:6px;"
                f"padding:6px 12px;margin:2px;min-width:210px'><b>{html.escape(client.name)}</b>"
                f" <span style='color:#666'>· {html.escape(kind)}</span><table>{rows}</table>"
                f"<div style='color:{colour}'>"
                + t("received {received:,}{out_of} changes", received=received, out_of=out_of)
                + "</div></div>")

    def refresh() -> None:
        published = None  # what the server published, read on the server's own loop
        if server is not None and server.running:
            published = server.read(lambda s: s.hub.latest_seq if s.hub else 0)
        for view, client, state in zip(cards, clients, heard, strict=True):
            text = card(client, dict(state), published)
            if view.value != text:
                view.value = text

    live(name, refresh, hz)
    return w.HBox(cards, layout=w.Layout(flex_flow="row wrap"))


