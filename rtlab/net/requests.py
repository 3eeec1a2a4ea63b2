"""What every handler does with a request: read the client's cursor, and keep quiet about garbage.

* :func:`cursor_param` — ``?since=N`` (or ``Last-Event-ID``) as an int, or a ``400`` that
  says what a cursor is;
* a polling answer carries at most :data:`MAX_EVENTS_PER_ANSWER` events;
* :data:`HTTP_LOG` — the logger aiohttp reports our connections to, with malformed requests
  filtered out (the client gets its 400; the notebook gets no traceback).
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..hub import parse_cursor

__all__ = ["HTTP_LOG", "MAX_EVENTS_PER_ANSWER", "cursor_param"]

MAX_EVENTS_PER_ANSWER = 1_000  # a polling answer carries at most this many; the client asks again


def cursor_param(request: web.Request, name: str = "since", header: str | None = None) -> int | None:
    """The client's cursor from the query string (or a header, which wins), ``None`` if absent.

    A value that is not a cursor is the client's mistake: ``400`` with :func:`rtlab.hub.parse_cursor`'s
    message, which says what a cursor is.
    """
    raw = request.headers.get(header) if header else None
    what = f"{header} (or ?{name}=)" if header else name
    if raw is None:
        raw = request.query.get(name)
    if raw is None:
        return None
    raw = raw.strip()
    if raw == "" and header:
        return 0  # an EventSource that has seen no id sends an empty Last-Event-ID
    try:
        return parse_cursor(raw, what)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from None


class _QuietAboutBadRequests(logging.Filter):
    """Drop aiohttp's log record of a malformed request (a header too long, a broken request line).

    aiohttp answers those with a 400 and also logs them at ERROR with a traceback, which a
    notebook shows in whatever cell is running. The mistake is the client's and the answer
    says so; errors in rtlab's own handlers still get logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, HttpProcessingError)


HTTP_LOG = logging.getLogger("rtlab.http")  # what aiohttp logs about our servers' connections
HTTP_LOG.addFilter(_QuietAboutBadRequests())
