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

This module holds both sides: :func:`encode_event` (the wire format), :class:`SSEParser`
(a spec-correct parser, as a browser runs it), the server and the client.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import socket
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from .client import Client as BaseClient
from .hub import Event, Gap, SubscriberOverflow
from .server import Server as BaseServer

DEFAULT_RETRY_MS = 1000
DEFAULT_KEEPALIVE_S = 15.0


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
    """Parses a ``text/event-stream`` byte stream exactly as WHATWG HTML §9.2.6 describes.

    Feed it bytes as they arrive (in any chunking); it yields each event when its blank
    line comes. ``last_event_id`` and ``retry_ms`` are what a reconnecting client needs.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._first = True
        self._pending_cr = False
        self._data: list[str] = []
        self._event_type = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> Iterator[SSEMessage]:
        text = self._decoder.decode(chunk)
        if self._first and text:
            self._first = False
            text = text.removeprefix("\ufeff")  # one leading BOM is ignored
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]  # the LF of a CRLF split across two chunks
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
            return None  # a comment
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event_type = value
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif field == "retry":
            if value.isascii() and value.isdigit():
                self.retry_ms = int(value)
        # any other field is ignored
        return None

    def _dispatch(self) -> SSEMessage | None:
        data, event_type = self._data, self._event_type
        self._data, self._event_type = [], ""
        if not data:
            return None  # an event with no data line is not dispatched
        return SSEMessage(event_type or "message", "\n".join(data), self.last_event_id)


# -- the server -------------------------------------------------------------------------------------
class SSEServer(BaseServer):
    """Streams every hub event as ``id: <seq>``, ``event: <type>``, ``data: <JSON>``."""

    transport = "sse"
    path = "/events"

    def __init__(self, *, retry_ms: int = DEFAULT_RETRY_MS,
                 keepalive: float = DEFAULT_KEEPALIVE_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_ms = retry_ms
        self.keepalive = keepalive
        self.streams = 0  # open event streams right now
        self._open_streams: set[tuple[Any, Any]] = set()  # (transport, subscription) of each stream
        # (Last-Event-ID, events replayed) of each resumed stream, newest last: what a reconnect asked for
        self.resumes: deque[tuple[int, int]] = deque(maxlen=100)

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get(self.path, self.handle_stream)

    def encode(self, event: Event) -> bytes:
        return self.event_bytes(event)

    @staticmethod
    def event_bytes(event: Event) -> bytes:
        payload = json.dumps({"seq": event.seq, "data": event.data, "sent_ns": event.sent_ns},
                             separators=(",", ":"), ensure_ascii=False)
        return encode_event(payload, id=event.seq, event=event.type)

    def _resume_point(self, request: web.Request) -> int:
        # A reconnecting EventSource sends Last-Event-ID; a first connection can say ?since=N.
        raw = request.headers.get("Last-Event-ID", request.query.get("since", "0")).strip()
        if raw == "":
            return 0
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise web.HTTPBadRequest(
                text=f"Last-Event-ID (or ?since=) must be the seq of an event this server sent, "
                f"a non-negative integer; got {raw[:40]!r}\n")
        return int(raw)

    async def handle_stream(self, request: web.Request) -> web.StreamResponse:
        since = self._resume_point(request)
        hub = self.hub
        assert hub is not None
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # tells nginx-style proxies not to buffer the stream
        })
        # Subscribe *before* reading the replay buffer, so no event falls between the two.
        with hub.subscribe() as subscription:
            await response.prepare(request)
            self.streams += 1
            stream = (request.transport, subscription)
            self._open_streams.add(stream)
            try:
                await response.write(encode_comment("rtlab sse") + f"retry: {self.retry_ms}\n\n".encode())
                if reset := hub.reset_note(since):
                    # A Last-Event-ID from another stream. "id: 0" also resets a browser's
                    # EventSource.lastEventId, so its next reconnect starts from here.
                    await response.write(encode_event(json.dumps(reset), event="reset", id=0))
                    since = 0
                last = since
                try:
                    backlog = hub.after(since)
                except Gap as gap:  # announced, never silent: an event of type "gap"
                    await response.write(encode_event(json.dumps(
                        {"first_missing": gap.first_missing, "last_missing": gap.last_missing}),
                        event="gap", id=gap.last_missing))
                    backlog = hub.after(hub.oldest_seq - 1)
                if "Last-Event-ID" in request.headers:
                    self.resumes.append((since, len(backlog)))
                for event in backlog:
                    await response.write(self.event_bytes(event))
                    last = event.seq
                while True:
                    event = await subscription.get(timeout=self.keepalive)
                    if event is None:
                        await response.write(encode_comment())
                    elif event.seq > last:
                        await response.write(self.wire_form(event))
                        last = event.seq
            except (StopAsyncIteration, ConnectionError):
                # Server stopping, or the client went away. ConnectionError, not only
                # ConnectionResetError: a write waiting on a full socket (a slow client)
                # gets aiohttp's plain ConnectionError("Connection lost") when it hangs up.
                pass
            except SubscriberOverflow as exc:
                # Policy: a client that fell too far behind is cut off. It reconnects with
                # Last-Event-ID and resumes from the replay buffer, losing nothing.
                await response.write(encode_comment(f"closing: {exc}"))
            finally:
                self.streams -= 1
                self._open_streams.discard(stream)
        return response

    def drop_connections(self) -> int:
        """Cut every open stream, as a flaky network would; returns how many were cut.

        The hub and its replay buffer stay: a client that reconnects with ``Last-Event-ID``
        gets what it missed. Thread-safe (runs on the server's loop).
        """
        return self.call(self._drop_connections(), timeout=10)

    async def _drop_connections(self) -> int:
        streams = list(self._open_streams)
        for transport, subscription in streams:
            transport.abort()  # no goodbye: the client sees the stream break mid-answer
            subscription.close()  # and the handler stops waiting for events
        return len(streams)


# -- the client -------------------------------------------------------------------------------------
class SSEClient(BaseClient):
    """Reads the stream with :class:`SSEParser`; reconnects after ``retry`` with ``Last-Event-ID``.

    Like a browser's ``EventSource``: a 204 means "stop", a non-200 status or a wrong
    Content-Type fails the connection for good, anything else (a dropped connection)
    is retried.
    """

    transport = "sse"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.retry_ms = DEFAULT_RETRY_MS
        self.on_gap: Any = None

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(trace_configs=[self.connection_counter()],
                                         timeout=timeout) as session:
            while True:
                try:
                    if not await self._stream_once(session):
                        return
                except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                    self.recorder.error(f"stream lost: {exc!r}")
                self.recorder.reconnects += 1
                await asyncio.sleep(self.retry_ms / 1000)

    async def _stream_once(self, session: aiohttp.ClientSession) -> bool:
        """Read one connection's stream. ``False`` means the server said stop."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_seq:
            headers["Last-Event-ID"] = str(self.last_seq)
        self.recorder.requests += 1
        async with session.get(self.url_with(), headers=headers) as resp:
            if resp.status == 204:
                return False
            content_type = resp.headers.get("Content-Type", "")
            if resp.status != 200 or not content_type.startswith("text/event-stream"):
                raise RuntimeError(
                    f"not an event stream: HTTP {resp.status}, Content-Type {content_type!r}: "
                    f"{(await resp.text())[:200]}")
            parser = SSEParser()
            async for chunk in resp.content.iter_any():
                recv_ns = time.monotonic_ns()
                for message in parser.feed(chunk):
                    self._message(message, recv_ns)
                if parser.retry_ms is not None:
                    self.retry_ms = parser.retry_ms
        return True

    def _message(self, message: SSEMessage, recv_ns: int) -> None:
        if message.event == "reset":
            self.reset()
            return
        if message.event == "gap":
            gap = json.loads(message.data)
            self.recorder.missed += gap["last_missing"] - gap["first_missing"] + 1
            self.last_seq = max(self.last_seq, gap["last_missing"])
            return
        body = json.loads(message.data)
        self.received(Event(int(message.id), message.event, body["data"], body["sent_ns"]), recv_ns)


# -- looking at the wire ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RawStream:
    """What a plain socket read from an event stream."""

    head: bytes  # status line and headers, as sent
    wire: bytes  # the body exactly as the wire carried it (HTTP/1.1 chunk framing included)
    body: bytes  # the text/event-stream bytes themselves, chunk framing removed

    def __str__(self) -> str:
        return (self.head + b"\r\n\r\n" + self.body).decode("utf-8", errors="replace")


def raw_stream(url: str, nbytes: int = 1024, seconds: float = 1.0) -> RawStream:
    """GET ``url`` over a plain socket, as an EventSource would, and return what came back.

    Reads until ``nbytes`` of event stream arrived or ``seconds`` passed, then hangs up.
    No HTTP library in between, so nothing is hidden. Blocking is fine here: the
    server runs on a thread of its own.
    """
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
    received = b""
    deadline = time.monotonic() + seconds
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=seconds) as sock:
        sock.sendall(request.encode("ascii"))
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
            if len(_body(*received.partition(b"\r\n\r\n")[::2])) >= nbytes:
                break
    head, _, wire = received.partition(b"\r\n\r\n")
    return RawStream(head, wire, _body(head, wire)[:nbytes])


def _body(head: bytes, wire: bytes) -> bytes:
    """Undo HTTP/1.1 chunked framing (``<size in hex>\\r\\n<bytes>\\r\\n`` ...) if the head says so."""
    if b"chunked" not in head.lower():
        return wire
    body, pos = b"", 0
    while (eol := wire.find(b"\r\n", pos)) >= 0:
        size = int(wire[pos:eol].split(b";")[0], 16)
        body += wire[eol + 2:eol + 2 + size]  # may be a partial last chunk
        if size == 0 or eol + 2 + size + 2 > len(wire):
            break
        pos = eol + 2 + size + 2
    return body


Server = SSEServer
Client = SSEClient
