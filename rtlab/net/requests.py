"""What every handler does with a request: read the client's cursor, and keep quiet about garbage.

* :func:`cursor_param` — ``?since=<epoch>-<seq>`` (or ``Last-Event-ID``) as ``(epoch, seq)``,
  or a ``400`` that says what a cursor is;
* a polling answer carries at most :data:`MAX_EVENTS_PER_ANSWER` events and
  :data:`MAX_ANSWER_BYTES` bytes of them;
* :data:`HTTP_LOG` — the logger aiohttp reports our connections to, with malformed requests
  filtered out (the client gets its 400; the notebook gets no traceback).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..hub import UNKNOWN_STREAM, Event, parse_token

__all__ = ["HTTP_LOG", "MAX_ANSWER_BYTES", "MAX_EVENTS_PER_ANSWER", "cursor_param", "json_answer"]

MAX_EVENTS_PER_ANSWER = 1_000  # a polling answer carries at most this many; the client asks again
# ... and at most this many bytes of event JSON (but always one event). 300 pollers that ask
# for a 10,000-event backlog of 2 kB events and never read took 1.1 GB before this bound; with
# it, each answer waiting in a send buffer is 256 kB at most, until write_timeout cuts it.
MAX_ANSWER_BYTES = 256 * 1024


def cursor_param(request: web.Request, name: str = "since",
                 header: str | None = None) -> tuple[str | None, int] | None:
    """The client's resume token from the query string (or a header, which wins), ``None`` if absent.

    Returns ``(epoch, seq)``; ``epoch`` is ``None`` for a bare ``?since=N``, which is taken as
    a seq of this stream, and :data:`rtlab.hub.UNKNOWN_STREAM` for a bare ``Last-Event-ID: N``
    (N > 0), which is then reset — the policy is in :mod:`rtlab.hub` ("Stream identity").
    A value that is not a token is the client's mistake: ``400`` with
    :func:`rtlab.hub.parse_token`'s message, which says what a cursor is.
    """
    raw = request.headers.get(header) if header else None
    from_header = raw is not None
    what = f"{header} (or ?{name}=)" if header else name
    if raw is None:
        raw = request.query.get(name)
    if raw is None:
        return None
    raw = raw.strip()
    if raw == "" and header:
        return None, 0  # an EventSource that has seen no id sends an empty Last-Event-ID
    try:
        stream, seq = parse_token(raw, what)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from None
    if from_header and stream is None and seq > 0:
        stream = UNKNOWN_STREAM  # an id this server never sent: every id it sends has the epoch
    return stream, seq


def json_answer(fields: dict[str, Any], *, state: str | None = None, events: list[Event] | None = None,
                headers: dict[str, str] | None = None) -> web.Response:
    """A polling answer, written from JSON already encoded at publish.

    ``fields`` (small: seq, stream, reset/gap notes) are encoded now; ``state`` is the JSON text
    of the state and each event's payload its text from publish (:meth:`rtlab.wire.event.Event.to_json`),
    so an answer of 1,000 events does not encode 1,000 payloads again.
    """
    parts = [json.dumps(fields, separators=(",", ":"), ensure_ascii=False)[:-1]]  # without the "}"
    if state is not None:
        parts.append(f',"state":{state}')
    if events is not None:
        parts.append(',"events":[' + ",".join(e.to_json() for e in events) + "]")
    return web.Response(text="".join(parts) + "}", content_type="application/json", headers=headers)


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
