"""What the two pushing transports share: an event encoded once, however many connections send it."""

from __future__ import annotations

from typing import Any

from ..hub import Event
from .server import Server

__all__ = ["PushServer"]


class PushServer(Server):
    """A server that pushes each event down open connections (SSE, WebSocket).

    Every connection sends the same bytes for an event, so it is encoded once — the first
    connection to send it asks :meth:`wire_form`, the others get the cached result — and a
    broadcast to 1,000 clients encodes once, not 1,000 times.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._latest_wire: tuple[Event | None, Any] = (None, None)  # (event, its wire form)

    def encode(self, event: Event) -> Any:
        """An event as this transport puts it on the wire."""
        raise NotImplementedError

    def wire_form(self, event: Event) -> Any:
        """``encode(event)``, computed once per event."""
        if self._latest_wire[0] is not event:
            self._latest_wire = (event, self.encode(event))
        return self._latest_wire[1]
