"""07's live view: each stream's events received against published, and the bytes a proxy holds."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..i18n import t
from .common import _table
from .refresher import live


def stream_progress(runs: Any, *, name: str = "middlebox-streams", hz: float = 4.0) -> w.HTML:
    """A live table for :class:`rtlab.lessons.middleboxes.StreamRuns`: what got through so far."""
    view = w.HTML(layout=w.Layout(min_width="420px"))

    def refresh() -> None:
        rows = [(label, t("{got} / {published} events, {held} B held by the path", got=got,
                          published=published, held=f"{held:,}"))
                for label, got, published, held in runs.progress()]
        view.value = _table(rows)

    live(name, refresh, hz)
    return view
