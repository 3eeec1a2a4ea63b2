"""Server-Sent Events: one long HTTP response that the server keeps writing events into.

``GET /events`` answers ``200`` with ``Content-Type: text/event-stream`` and never ends: each
event is a few lines of text (``id:``, ``event:``, ``data:``) and a blank line — the format is
drawn in :mod:`rtlab.wire.sse`, which also holds the encoder and the spec parser, with no socket
in sight. Browsers read it with ``new EventSource(url)``; LLM chat pages stream their answers
token by token this way. It is one-way (server to client), text only, rides on ordinary HTTP
(proxies, auth, compression rules all apply), and the reconnect-and-resume logic is built into
the client: it sends the last ``id:`` back as ``Last-Event-ID``.

This module holds the server and the client; :func:`rtlab.net.probes.raw_stream` reads a
stream over a bare socket, to see the bytes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

import aiohttp
from aiohttp import web

from ..hub import Event, SubscriberOverflow
from ..wire.sse import (
    DEFAULT_RETRY_MS,
    SSEMessage,
    SSEParser,
    encode_comment,
    encode_event,
    encode_rtlab_event,
)
from .client import Client as BaseClient
from .push import PushServer
from .requests import cursor_param

__all__ = ["DEFAULT_KEEPALIVE_S", "Client", "SSEClient", "SSEServer", "Server"]

DEFAULT_KEEPALIVE_S = 15.0


# -- the server -------------------------------------------------------------------------------------
class SSEServer(PushServer):
    """Streams every hub event as ``id: <seq>``, ``event: <type>``, ``data: <JSON>``."""

    transport = "sse"
    path = "/events"

    def __init__(self, *, retry_ms: int = DEFAULT_RETRY_MS,
                 keepalive: float = DEFAULT_KEEPALIVE_S, **kwargs: Any) -> None:
        """An SSE server, not yet started.

        Args:
            retry_ms: the ``retry:`` it announces: how long a client waits before it
                reconnects after the stream breaks (milliseconds).
            keepalive: seconds of silence after which it writes a ``: keep-alive`` comment,
                so proxies and the client see traffic on a quiet stream.
            **kwargs: as :class:`rtlab.net.server.Server` (host, port, name, replay, limits).
        """
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
        return encode_rtlab_event(event)

    async def handle_stream(self, request: web.Request) -> web.StreamResponse:
        # A reconnecting EventSource sends Last-Event-ID; a first connection can say ?since=N.
        since = cursor_param(request, "since", header="Last-Event-ID") or 0
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
                resume = hub.resume(since)  # the hub's rule: reset, gap, then the backlog
                if resume.reset is not None:
                    # A Last-Event-ID from another stream. "id: 0" also resets a browser's
                    # EventSource.lastEventId, so its next reconnect starts from here.
                    await response.write(encode_event(json.dumps(resume.reset), event="reset", id=0))
                if resume.gap is not None:  # announced, never silent: an event of type "gap"
                    await response.write(encode_event(json.dumps(resume.gap.note()), event="gap",
                                                      id=resume.gap.last_missing))
                if "Last-Event-ID" in request.headers:
                    self.resumes.append((resume.cursor, len(resume.events)))
                for event in resume.events:
                    await response.write(encode_rtlab_event(event))
                last = resume.last_seq
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
        self.attempt = 0  # reconnects since the stream last opened

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
                # Like a browser's EventSource: wait the server's retry: — unless this client
                # was given a policy of its own (a storm of clients should jitter).
                delay = self.backoff(self.attempt) if self.retry_policy_given else self.retry_ms / 1000
                self.attempt += 1
                self.reconnecting(f"retry in {delay * 1000:.0f} ms")
                await asyncio.sleep(delay)

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
            self.note("response", "200 text/event-stream")
            self.attempt = 0  # connected: the next loss starts the backoff from the beginning
            parser = SSEParser()
            async for chunk in resp.content.iter_any():
                recv_ns = time.monotonic_ns()
                comments = parser.comments
                for message in parser.feed(chunk):
                    self._message(message, recv_ns)
                if parser.comments > comments:
                    self.note("comment", ": keep-alive", t_ns=recv_ns)
                if parser.retry_ms is not None:
                    self.retry_ms = parser.retry_ms
        return True

    def _message(self, message: SSEMessage, recv_ns: int) -> None:
        if message.event in ("reset", "gap"):  # the server's resume notes: the client base's rule
            self.take_notes({message.event: json.loads(message.data)})
            return
        body = json.loads(message.data)
        self.received(Event(int(message.id), message.event, body["data"], body["sent_ns"]), recv_ns)




Server = SSEServer
Client = SSEClient
