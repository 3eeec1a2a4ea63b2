"""The browser's six, shown in the learner's own browser (notebook 07).

Over HTTP/1.1 a browser opens at most 6 connections per origin (Chromium:
``g_max_sockets_per_group``; MDN's EventSource page warns about it), and through the Jupyter
proxy the kernel's servers share JupyterLab's origin. :class:`SixDemo` (JavaScript in
``six.js``) opens EventSources to a kernel SSE server one by one until one neither opens nor
fails, then tries JupyterLab's own ``GET /api/status`` and a WebSocket while the pool is
full, closes everything, and checks the REST call works again. The page reports what it saw
in :attr:`SixDemo.result`; :func:`six_verdict` turns that into a claim.

Bounded whatever happens: the page closes every stream after 15 s by a timer of its own (not
the kernel's: a restarted or busy kernel cannot keep them open), and at once when the widget
goes (a re-run cell replaces it; a closed notebook removes it). Headless nothing runs, and
the verdict says ≈ and why.
"""

from __future__ import annotations

import html
from typing import Any

import anywidget
import ipywidgets as w
import traitlets

from ...net.sse import SSEServer
from ..exercises.claims import claim
from ..i18n import N_, t
from ..i18n import gettext as _
from ..page import esm

__all__ = ["SixDemo", "six_demo", "six_verdict"]

_demo: list[SixDemo] = []  # the one on show: a re-run cell closes the old one first


class SixDemo(anywidget.AnyWidget):
    """Opens EventSources until the browser's pool is full; see the module's docstring."""

    _esm = esm("six.js")
    port = traitlets.Int().tag(sync=True)
    path = traitlets.Unicode("/events").tag(sync=True)
    # browser -> kernel: phase, opened_ms, stalled_index, stalled_outcome, stalled_error_fired,
    # rest_while_full, websocket_while_full, rest_after, others, done, error
    result = traitlets.Dict().tag(sync=True)

    def __init__(self, server: SSEServer, **kwargs: Any) -> None:
        super().__init__(port=server.port, path=server.path, **kwargs)
        self.server = server


def six_demo() -> SixDemo:
    """Start (or restart) the demo: an SSE server of its own and the widget that fills the pool."""
    while _demo:
        _demo.pop().close()  # the page closes its streams (six.js's cleanup)
    # keepalive: a comment every 5 s keeps the proxy's and Chromium's view of the stream alive
    server = SSEServer(name="six-demo", keepalive=5.0).start()
    demo = SixDemo(server)
    _demo.append(demo)
    return demo


def _holds(result: dict[str, Any]) -> tuple[bool, str]:
    """What the page saw, checked against what the notebook says: (it holds, the numbers)."""
    opened = len(result.get("opened_ms") or [])
    stalled = (result.get("stalled_outcome") == "stalled" and not result.get("stalled_error_fired"))
    measured = t("{opened} opened (plus {others} held by rtlab clients), stream #{n}: {outcome}, "
                  "error fired: {error}; GET /api/status while full: {rest}; WebSocket: {ws}; "
                  "GET /api/status after: {after}",
                  opened=opened, others=result.get("others", 0), n=result.get("stalled_index"),
                  outcome=result.get("stalled_outcome"), error=bool(result.get("stalled_error_fired")),
                  rest=result.get("rest_while_full"), ws=result.get("websocket_while_full"),
                  after=result.get("rest_after"))
    holds = (stalled and 1 <= opened <= 6 and result.get("stalled_index") == opened + 1
             and result.get("rest_while_full") == "stalled"
             and str(result.get("websocket_while_full", "")).startswith("open")
             and str(result.get("rest_after", "")).startswith("ok"))
    return holds, measured


STATEMENT = N_("with the browser's connections to this origin in use, the next EventSource neither "
             "opened nor failed, JupyterLab's own REST call stalled while a WebSocket opened, and "
             "after closing them JupyterLab answered again")


def six_verdict(demo: SixDemo) -> w.HTML:
    """The claim about what the page saw: ✓/✗ once the page has reported; ≈ until then.

    The kernel cannot wait for the page inside a cell: the page's reports reach the kernel
    between cells. So the verdict is a line that fills in when the report arrives (and a
    re-run of this cell after the demo checks it at once).
    """
    line = w.HTML()
    line.add_class("rtlab-six-verdict")

    def show(_change: Any = None) -> None:
        result = demo.result
        if not result.get("done"):
            line.value = "≈ " + _("the browser's six needs a browser: the demo runs in the page that "
                                  "displays the widget above. Headless (nbval, a script) no page "
                                  "runs it, so nothing is claimed; in JupyterLab this line turns "
                                  "into the verdict a few seconds after the demo starts.")
            return
        holds, measured = _holds(result)
        mark = "✓" if holds else "✗"
        line.value = html.escape(f"{mark} {_(STATEMENT)} ({measured})")

    if demo.result.get("done"):  # the page has reported already (this cell re-run): claim it now
        claim(_(STATEMENT), *_holds(demo.result))
    demo.observe(show, "result")
    show()
    return line
