"""Server-Sent Events: one long HTTP response that the server keeps writing events into.

``GET /events`` answers ``200`` with ``Content-Type: text/event-stream`` and never ends: each
event is a few lines of text (``id:``, ``event:``, ``data:``) and a blank line — the format is
drawn in :mod:`rtlab.wire.sse`, which also holds the encoder and the spec parser, with no socket
in sight. Browsers read it with ``new EventSource(url)``; LLM chat pages stream their answers
token by token this way. It is one-way (server to client), text only, rides on ordinary HTTP
(proxies, auth, compression rules all apply), and the reconnect-and-resume logic is built into
the client: it sends the last ``id:`` back as ``Last-Event-ID``. This server's ids are
``<stream>-<seq>`` (``3f9a1c02-7``), so that id names the stream as well as the seq (see
"Stream identity" in :mod:`rtlab.hub`).

This module holds the server and the client; :func:`rtlab.net.probes.raw_stream` reads a
stream over a bare socket, to see the bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from typing import Any

import aiohttp
from aiohttp import web

from ..hub import Event, SubscriberOverflow
from ..wire.http import chunk
from ..wire.sse import (
    DEFAULT_RETRY_MS,
    SSEMessage,
    SSEParser,
    encode_comment,
    encode_event,
    encode_rtlab_event,
)
from .client import Client as BaseClient
from .fanout import DirectWrite, Frames, follow
from .push import PushServer
from .requests import cursor_param

__all__ = ["DEFAULT_KEEPALIVE_S", "Client", "SSEClient", "SSEServer", "Server"]

DEFAULT_KEEPALIVE_S = 15.0


# -- the server -------------------------------------------------------------------------------------
class SSEServer(PushServer):
    """Streams every hub event as ``id: <epoch>-<seq>``, ``event: <type>``, ``data: <JSON>``.

    The id carries the hub's stream id (see "Stream identity" in :mod:`rtlab.hub`), so a browser
    resuming against a restarted server is reset rather than spliced into another stream;
    a bare numeric ``Last-Event-ID`` (``curl``, an old server's id) is reset too.
    """

    transport = "sse"
    path = "/events"

    def __init__(self, *, retry_ms: int = DEFAULT_RETRY_MS,
                 keepalive: float = DEFAULT_KEEPALIVE_S, unbuffered: bool = True, **kwargs: Any) -> None:
        """An SSE server, not yet started.

        Args:
            retry_ms: the ``retry:`` it announces: how long a client waits before it
                reconnects after the stream breaks (milliseconds).
            keepalive: seconds of silence after which it writes a ``: keep-alive`` comment,
                so proxies and the client see traffic on a quiet stream.
            unbuffered: send ``X-Accel-Buffering: no``, which tells a buffering reverse proxy
                (nginx, :mod:`rtlab.net.middlebox` ``buffering``) to pass the stream on at once.
                On by default, as in sse-starlette — rtlab's server does the right thing;
                ``False`` is the endpoint that forgot, so that a lesson can show the stall
                before the fix.
            **kwargs: as :class:`rtlab.net.server.Server` (host, port, name, replay, limits).
        """
        super().__init__(**kwargs)
        self.retry_ms = retry_ms
        self.keepalive = keepalive
        self.unbuffered = unbuffered
        self.streams = 0  # open event streams right now
        self._open_streams: set[tuple[Any, Any]] = set()  # (transport, subscription) of each stream
        # (Last-Event-ID, events replayed) of each resumed stream, newest last: what a reconnect asked for
        self.resumes: deque[tuple[int, int]] = deque(maxlen=100)
        # Each event's bytes as the broadcast writes them to a socket, once per event: inside an
        # HTTP/1.1 chunk (every client today), or bare (HTTP/1.0: the body ends with the connection).
        self._frames = {True: Frames(lambda event: chunk(self.wire_form(event))),
                        False: Frames(self.wire_form)}

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get(self.path, self.handle_stream)

    def encode(self, event: Event) -> bytes:
        assert self.hub is not None
        return encode_rtlab_event(event, self.hub.epoch)

    def admits_over_limit(self, request: web.Request) -> bool:
        """A client resuming its stream is let in past ``max_connections`` (up to the hard limit).

        A browser's EventSource fails for good on a 503 — it never retries — so refusing a
        reconnecting stream loses that client; a new one can be told to wait.
        """
        return request.headers.get("Last-Event-ID", "").strip() not in ("", "0")

    async def handle_stream(self, request: web.Request) -> web.StreamResponse:
        # A reconnecting EventSource sends Last-Event-ID; a first connection can say ?since=N.
        stream_id, since = cursor_param(request, "since", header="Last-Event-ID") or (None, 0)
        hub = self.hub
        assert hub is not None
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        if self.unbuffered:
            headers["X-Accel-Buffering"] = "no"  # tells nginx-style proxies not to buffer the stream
        response = web.StreamResponse(headers=headers)
        # Subscribe *before* reading the replay buffer, so no event falls between the two.
        with hub.subscribe() as subscription:
            await response.prepare(request)
            self.streams += 1
            stream = (request.transport, subscription)
            self._open_streams.add(stream)
            try:
                await response.write(encode_comment("rtlab sse") + f"retry: {self.retry_ms}\n\n".encode())
                resume = hub.resume(since, stream=stream_id)  # the hub's rule: reset, gap, backlog
                if resume.reset is not None:
                    # A Last-Event-ID from another stream. "id: 0" also resets a browser's
                    # EventSource.lastEventId, so its next reconnect starts from here.
                    await response.write(encode_event(json.dumps(resume.reset), event="reset", id=0))
                if resume.gap is not None:  # announced, never silent: an event of type "gap"
                    await response.write(encode_event(json.dumps(resume.gap.note()), event="gap",
                                                      id=hub.token(resume.gap.last_missing)))
                if "Last-Event-ID" in request.headers:
                    self.resumes.append((resume.cursor, len(resume.events)))
                for event in resume.events:
                    await response.write(encode_rtlab_event(event, hub.epoch))
                # Live: written by the broadcast itself while this stream keeps up, by this
                # handler from its queue when it is behind (rtlab.net.fanout).
                chunked = response.headers.get("Transfer-Encoding") == "chunked"  # HTTP/1.1: yes

                async def send(event: Event) -> None:
                    await response.write(self.wire_form(event))

                async def keep_alive() -> None:
                    await response.write(encode_comment())

                await follow(subscription, send, after=resume.last_seq, keepalive=self.keepalive,
                             direct=DirectWrite(request, self._frames[chunked]), idle=keep_alive)
            except (StopAsyncIteration, ConnectionError):
                # Server stopping, or the client went away. ConnectionError, not only
                # ConnectionResetError: a write waiting on a full socket (a slow client)
                # gets aiohttp's plain ConnectionError("Connection lost") when it hangs up.
                pass
            except SubscriberOverflow as exc:
                # Policy: a client that fell too far behind is cut off. It reconnects with
                # Last-Event-ID and resumes from the replay buffer, losing nothing. The
                # goodbye may never be read (a peer that stopped reading): write_timeout
                # then cuts the connection, and the write fails.
                with contextlib.suppress(ConnectionError):
                    await response.write(encode_comment(f"closing: {exc}"))
                    await response.write_eof()
                # ... and the connection goes too: kept alive, a dropped client that never
                # reads would hold a slot (and its unread bytes) until idle_timeout.
                if request.transport is not None:
                    request.transport.close()
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

    Like a browser's ``EventSource``: a 204 means "stop", a wrong Content-Type or a client
    error (4xx) fails the connection for good, a dropped connection is retried after
    ``retry``. Unlike a browser, a 503 (a full server) or another 5xx is retried too, with
    exponential backoff and jitter, honouring ``Retry-After``: a server that is full *now*
    is worth asking again, and a thousand clients retrying in step would keep it full.
    """

    transport = "sse"

    def __init__(self, url: str, *, stall_after: float | None = None, **kwargs: Any) -> None:
        """Args:
            url, **kwargs: as :class:`rtlab.net.client.Client`.
            stall_after: seconds without a byte — not an event, not a keep-alive comment — after
                which the client says so in ``recorder.errors`` (once per silence): a stream held
                on the path (a buffering proxy, gzip middleware: :mod:`rtlab.net.middlebox`)
                looks exactly like a quiet one otherwise. Two keep-alive intervals is the usual
                choice. It keeps waiting: reconnecting through the same proxy would not help.
        """
        super().__init__(url, **kwargs)
        self.retry_ms = DEFAULT_RETRY_MS
        self.attempt = 0  # reconnects since the stream last opened
        self.stall_after = stall_after
        self.stalls = 0  # silences longer than stall_after
        self._last_byte = time.monotonic()

    async def _watch_for_stalls(self, every: float) -> None:
        reported = False
        while True:
            await asyncio.sleep(every / 4)
            silent = time.monotonic() - self._last_byte
            if silent < every:
                reported = False
            elif not reported:
                reported = True
                self.stalls += 1
                self.recorder.error(f"no byte for {every:g} s, not even a keep-alive: the stream is held on "
                                    "the path (a buffering proxy? gzip middleware?), or the server is gone")

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        watchdog = (asyncio.get_running_loop().create_task(self._watch_for_stalls(self.stall_after))
                    if self.stall_after else None)
        try:
            await self._run(timeout)
        finally:
            if watchdog is not None:
                watchdog.cancel()

    async def _run(self, timeout: aiohttp.ClientTimeout) -> None:
        async with aiohttp.ClientSession(trace_configs=[self.connection_counter()],
                                         timeout=timeout) as session:
            while True:
                busy: _Busy | None = None
                try:
                    if not await self._stream_once(session):
                        return
                except _Busy as exc:
                    self.recorder.error(f"server busy: {exc}")
                    busy = exc
                except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                    self.recorder.error(f"stream lost: {exc!r}")
                # Like a browser's EventSource: wait the server's retry: — the latest one, read
                # by the stream that just ended — unless this client was given a policy of its
                # own (a storm of clients should jitter), or the server said it is full (then
                # back off, and at least its Retry-After).
                delay = self.retry_ms / 1000
                if busy is not None:
                    delay = max(busy.retry_after, self.backoff(self.attempt))
                elif self.retry_policy_given:
                    delay = self.backoff(self.attempt)
                self.attempt += 1
                self.reconnecting(f"retry in {delay * 1000:.0f} ms")
                await asyncio.sleep(delay)

    async def _stream_once(self, session: aiohttp.ClientSession) -> bool:
        """Read one connection's stream. ``False`` means the server said stop."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        params: dict[str, Any] = {}
        if self.last_seq and self.stream:
            headers["Last-Event-ID"] = self.cursor()  # <epoch>-<seq>, as the server's id: said
        elif self.last_seq:
            # A cursor we were given (since=N), from no stream we have seen: a bare
            # Last-Event-ID would be reset, a bare ?since= is taken as the server's seq.
            params["since"] = self.last_seq
        self.recorder.requests += 1
        self._last_byte = time.monotonic()
        async with session.get(self.url_with(**params), headers=headers) as resp:
            if resp.status == 204:
                return False
            if resp.status >= 500:
                retry_after = resp.headers.get("Retry-After", "")
                raise _Busy(f"HTTP {resp.status}: {(await resp.text())[:200]}",
                            min(60.0, float(retry_after)) if retry_after.isdigit() else 0.0)
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
                self._last_byte = recv_ns / 1e9
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
        stream, _, _ = message.id.rpartition("-")
        self.on_stream(stream)
        self.received(Event(int(body["seq"]), message.event, body["data"], body["sent_ns"]), recv_ns)


class _Busy(Exception):
    """The server answered 5xx: worth retrying, later."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after




Server = SSEServer
Client = SSEClient
