"""Server-Sent Events: one long HTTP response that the server keeps writing events into.

The format is plain text, defined by the WHATWG HTML standard, §9.2
(https://html.spec.whatwg.org/multipage/server-sent-events.html)::

    HTTP/1.1 200 OK
    Content-Type: text/event-stream
    Cache-Control: no-cache

    retry: 1000                  <- reconnect after 1 s if the connection drops

    id: 7                        <- the browser remembers this and sends it back
    event: token                 <-    as the Last-Event-ID header when it reconnects
    data: {"text": "Hel"}        <- the payload; several data: lines are joined with \\n

    : keep-alive                 <- a comment, ignored by clients; keeps proxies from closing

A blank line ends each event. Browsers read this with ``new EventSource(url)``; LLM chat
pages stream their answers token by token this way. It is one-way (server to client),
text only, rides on ordinary HTTP (proxies, auth, compression rules all apply), and the
reconnect-and-resume logic is built into the client.

This module is the format alone — :func:`encode_event` writes it, :class:`SSEParser` reads it
as a browser does — with no socket in sight; :mod:`rtlab.net.sse` puts it on the wire.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass

from .event import Event

__all__ = ["DEFAULT_RETRY_MS", "SSEMessage", "SSEParser", "encode_comment", "encode_event",
           "encode_rtlab_event"]

DEFAULT_RETRY_MS = 1000  # what rtlab's servers announce with retry: (a browser's own default is 3000)


# -- the wire format --------------------------------------------------------------------------
def encode_event(data: str, *, id: str | int | None = None, event: str | None = None,
                 retry: int | None = None) -> bytes:
    """One event in ``text/event-stream`` format, ready to write to the response.

    A payload with line breaks becomes several ``data:`` lines: the client joins them back
    with ``\\n``. ``id`` and ``event`` are single-line by definition, so a line break in
    them is an error, not something to escape.
    """
    lines = []
    if retry is not None:
        lines.append(f"retry: {int(retry)}")
    if id is not None:
        if any(c in str(id) for c in "\r\n\0"):
            raise ValueError("an SSE id cannot contain CR, LF or NUL")
        lines.append(f"id: {id}")
    if event is not None:
        if any(c in event for c in "\r\n"):
            raise ValueError("an SSE event type cannot contain CR or LF")
        lines.append(f"event: {event}")
    for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        lines.append(f"data: {line}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")  # the blank line dispatches the event


def encode_comment(text: str = "keep-alive") -> bytes:
    """A comment line: clients ignore it, proxies see traffic and keep the connection open."""
    return f": {text}\n\n".encode()


# -- the parser, as a browser runs it ------------------------------------------------------------
@dataclass(frozen=True)
class SSEMessage:
    """One dispatched event: its type, its data, the last event id at that moment."""

    event: str
    data: str
    id: str


class SSEParser:
    """Parses a ``text/event-stream`` byte stream as WHATWG HTML §9.2.6 describes.

    Feed it bytes as they arrive (in any chunking); it yields each event when its blank
    line comes. ``last_event_id`` and ``retry_ms`` are what a reconnecting client needs.

    ``id:`` fills the *last event ID buffer*; it becomes :attr:`last_event_id` only when a
    blank line comes (the spec's "dispatch" step, which commits it even when there is no
    data to dispatch). So after ``data: a\n\nid: 9\n`` — the stream cut before the blank line —
    the last event id is still the previous one, and Chromium reconnects with that.

    ``retry:`` with an empty value is *ignored* (the previous value stays): the spec takes a
    value "consisting of only ASCII digits", and an empty one is no number. Chromium instead
    goes back to its default (3,000 ms); rtlab follows the spec's text, and its servers
    never send an empty ``retry:``.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._first = True
        self._pending_cr = False
        self._data: list[str] = []
        self._event_type = ""
        self._id_buffer = ""  # the spec's "last event ID buffer": committed on dispatch
        self.last_event_id = ""
        self.retry_ms: int | None = None
        self.comments = 0  # comment lines seen (keep-alives): ignored by the spec, counted here

    def feed(self, chunk: bytes) -> Iterator[SSEMessage]:
        text = self._decoder.decode(chunk)
        if self._first and text:
            self._first = False
            text = text.removeprefix("\ufeff")  # one leading BOM is ignored
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]  # the LF of a CRLF split across two chunks
            self._pending_cr = False  # consumed: a second LF is a line end of its own
        if text:  # an empty chunk (or half a UTF-8 character) must not forget the CR
            self._pending_cr = False
        self._buffer += text
        # Lines end in CRLF, LF or CR. A CR at the very end may be half of a CRLF: wait.
        while True:
            cut = min((i for i in (self._buffer.find("\r"), self._buffer.find("\n")) if i >= 0),
                      default=-1)
            if cut < 0:
                break
            line = self._buffer[:cut]
            if self._buffer[cut] == "\r":
                if cut + 1 == len(self._buffer):
                    self._pending_cr = True
                    self._buffer = ""
                elif self._buffer[cut + 1] == "\n":
                    self._buffer = self._buffer[cut + 2:]
                else:
                    self._buffer = self._buffer[cut + 1:]
            else:
                self._buffer = self._buffer[cut + 1:]
            message = self._line(line)
            if message is not None:
                yield message

    def _line(self, line: str) -> SSEMessage | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None  # a comment
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event_type = value
        elif field == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif field == "retry":
            if value.isascii() and value.isdigit():
                self.retry_ms = int(value)
        # any other field is ignored
        return None

    def _dispatch(self) -> SSEMessage | None:
        self.last_event_id = self._id_buffer  # committed even if no event is dispatched
        data, event_type = self._data, self._event_type
        self._data, self._event_type = [], ""
        if not data:
            return None  # an event with no data line is not dispatched
        return SSEMessage(event_type or "message", "\n".join(data), self.last_event_id)


def encode_rtlab_event(event: Event, stream: str | None = None) -> bytes:
    """An rtlab :class:`~rtlab.wire.event.Event` as SSE: ``id:`` its resume token, ``event:`` its
    type, ``data:`` a JSON object with the seq, the payload and ``sent_ns``.

    The id is ``<stream>-<seq>`` when ``stream`` (the hub's epoch) is given, so that the
    ``Last-Event-ID`` a browser sends back names the stream as well as the seq; else the seq.
    """
    if event.data_json is None:
        payload = json.dumps({"seq": event.seq, "data": event.data, "sent_ns": event.sent_ns},
                             separators=(",", ":"), ensure_ascii=False)
    else:  # encoded once, at publish: only wrap it
        payload = f'{{"seq":{event.seq},"data":{event.data_json},"sent_ns":{event.sent_ns}}}'
    return encode_event(payload, id=event.seq if stream is None else f"{stream}-{event.seq}",
                        event=event.type)
