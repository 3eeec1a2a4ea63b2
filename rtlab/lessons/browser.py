"""Browser-side clients: the same four techniques, run by the learner's own browser.

The Python clients measure the protocols; a browser adds what real users have:
``fetch``, ``EventSource`` and ``WebSocket``, their rules, and a proxy on the way. The
widget's JavaScript (``browser.js``, next to this file) runs in the page, connects to an
rtlab server through jupyter-server-proxy, and syncs what it received back to the kernel::

    browser = rtlab.browser.client(server)    # any of the four rtlab servers
    browser                                   # shows: status, events received, p50 latency
    browser.latencies_ms                      # plot with rtlab.plots, like a Python client's

What runs where:

* the server runs in the kernel, on 127.0.0.1 — the browser cannot reach it directly (on
  Binder or a hub the kernel is not even on the learner's machine);
* the Jupyter server forwards ``<base_url>proxy/<port>/...`` to it (jupyter-server-proxy),
  authenticated by the learner's Jupyter cookie — no token is switched off;
* latency is measured in the browser, with a clock offset to the kernel's clock estimated
  NTP-style from the server's ``GET /clock`` (see ``browser.js``).

Without a browser (nbval, a script) the widget simply receives nothing; without
jupyter-server-proxy it says so in one sentence. Neither raises in the kernel.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import anywidget
import traitlets as t

from ..net.server import Server
from .page import esm

__all__ = ["BrowserClient", "SCENARIO_EVENT_TYPES", "client", "proxy_url"]

# EventSource has no "every event" listener: a named event reaches only listeners of its
# name. These are the event types rtlab's scenarios publish; pass event_types= for others.
SCENARIO_EVENT_TYPES = ("message", "kickoff", "minute", "goal", "card", "full-time", "config",
                        "question", "result", "token", "done", "price", "tick")
_clients: dict[str, BrowserClient] = {}  # server name -> widget, so a re-run cell replaces it


def proxy_url(base_url: str, port: int, path: str) -> str:
    """The URL a page served at ``base_url`` uses for ``path`` on a local ``port``.

    ``proxy_url("/user/alice/", 8765, "/events") == "/user/alice/proxy/8765/events"``.
    The JavaScript builds the same URL from the page's own base URL.
    """
    return f"{base_url.rstrip('/')}/proxy/{port}{path}"


class BrowserClient(anywidget.AnyWidget):
    """A client of ``server`` running in the browser that displays this widget."""

    _esm = esm("browser.js")  # page.js (the page-wide budget, base URL) + the client

    # kernel -> browser: what to connect to, and how
    transport = t.Unicode().tag(sync=True)
    port = t.Int().tag(sync=True)
    path = t.Unicode().tag(sync=True)
    interval_ms = t.Int(500).tag(sync=True)  # short polling
    hold_s = t.Float(20.0).tag(sync=True)  # long polling: well under the proxy's 300 s timeout
    event_types = t.List(t.Unicode()).tag(sync=True)  # SSE: the named events to listen to
    go = t.Bool(False).tag(sync=True)  # WebSocket: the page's origin is allowed, connect
    # browser -> kernel: what happened
    origin = t.Unicode("").tag(sync=True)
    status = t.Unicode("waiting for a browser to display this widget").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    received = t.Int(0).tag(sync=True)
    last_event = t.Unicode("").tag(sync=True)
    latencies_ms = t.List(t.Float()).tag(sync=True)  # the latest 2000, measured in the browser
    clock_rtt_ms = t.Float(0.0).tag(sync=True)  # the clock offset is known to ± half of this

    def __init__(self, server: Server, *, interval: float = 0.5, hold: float = 20.0,
                 event_types: list[str] | None = None, **kwargs: Any) -> None:
        if not server.running:
            raise RuntimeError(f"{server!r} is not running: start it before its browser client")
        published = server.read(lambda s: list(s.hub.state) if s.hub else [])  # on its own loop
        types = set(event_types or SCENARIO_EVENT_TYPES) | set(published)
        # The port of server.url: the network path's, if the server has one (browser -> Jupyter's
        # proxy -> the path -> the server), so the page's latencies show the profile too.
        port = urlsplit(server.url).port or server.port
        super().__init__(transport=server.transport, port=port, path=server.path,
                         interval_ms=round(interval * 1000), hold_s=min(hold, 20.0),
                         event_types=sorted(types), **kwargs)
        self.server = server

    @t.observe("origin")
    def _allow_origin(self, change: dict[str, Any]) -> None:
        """The page reported its origin: allow exactly that one on the WebSocket server, then go.

        The browser sends ``Origin: <the Jupyter page's origin>`` with its handshake, and
        rtlab's WebSocket server refuses origins it does not know (cross-site WebSocket
        hijacking). Only the origin of the page that displays this widget is added.
        """
        origin = change["new"]
        if not origin or not hasattr(self.server, "origins"):
            return
        self.server.origins = (self.server.origins or set()) | {origin}
        self.go = True


def client(server: Server, **options: Any) -> BrowserClient:
    """A browser client of ``server``; calling it again for the same server replaces the widget."""
    old = _clients.pop(server.name, None)
    if old is not None:
        old.close()  # the page closes the old one's connections (initialize's cleanup)
    widget = _clients[server.name] = BrowserClient(server, **options)
    return widget
