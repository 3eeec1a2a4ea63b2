"""04 SSE: an answer growing token by token."""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as w

from ...metrics import summarize
from ..i18n import t
from .refresher import hook, live


class TokenStream(w.VBox):
    """An answer growing token by token, as a chat page shows it, with the client's counters.

    It listens to the client's ``token`` events (``{"index", "text"}``, see
    :func:`rtlab.lessons.scenarios.tokens`); a token with index 0 starts a new answer.
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

        def on_event(event: Any) -> None:  # on the client loop: store, never draw
            if event.type == "token":
                if event.data["index"] == 0:
                    self.parts, self.done = [], False
                    self._first_ns = time.monotonic_ns()
                self.parts.append(event.data["text"])
                self._last_ns = time.monotonic_ns()
            elif event.type == "done":
                self.done = True

        hook(client, "on_event", name, on_event)
        live(name, self.refresh, hz)

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
        cells = [(t("tokens"), f"{len(self.parts)}"), (t("rate"), rate),
                 (t("latency p50"), "–" if s.count == 0 else f"{s.p50:.3g} ms"),
                 (t("connections"), f"{rec.connections}"), (t("reconnects"), f"{rec.reconnects}"),
                 (t("missed"), f"{rec.missed}"), (t("duplicates"), f"{rec.duplicates}")]
        self.counts.value = " · ".join(
            f"{html.escape(k)} <b style='font-family:monospace'>{html.escape(v)}</b>" for k, v in cells)


def token_stream(client: Any, *, name: str = "token-stream", hz: float = 10.0) -> TokenStream:
    """A live view of the answer ``client`` is receiving, token by token, plus its counters."""
    return TokenStream(client, name=name, hz=hz)


