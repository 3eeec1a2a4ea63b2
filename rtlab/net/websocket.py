"""WebSocket (RFC 6455): one HTTP request upgrades to a full-duplex stream of small frames.

The client sends an ordinary ``GET`` with ``Upgrade: websocket`` and a random
``Sec-WebSocket-Key``; the server answers ``101 Switching Protocols`` with
``Sec-WebSocket-Accept = base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))``
(:func:`rtlab.wire.websocket.accept_key`; the bytes are drawn in
:mod:`rtlab.wire.websocket`). From then on both sides send *frames* whenever they like: a 2–10
byte header server → client, 6–14 bytes client → server (clients must mask their frames, and
this server fails the connection with 1002 when one does not — see below).
That is why WebSocket has the lowest overhead per event and the only built-in return
channel — the article's live quiz needs both directions.

Why aiohttp and not the ``websockets`` library for the server? All four rtlab servers
are then one HTTP stack on one kind of port, with one byte counter, so a comparison
measures the protocols rather than two libraries. The tests check this server with the
``websockets`` library's client, so it is not only checked against itself.

Messages are JSON text frames:

* server → client, first, if the client asked with ``?hello=1`` (rtlab's client does; other
  clients see only events): ``{"type": "hello", "stream": "3f9a1c02", "name": "Ada",
  "token": "..."}`` — the stream id its cursor counts in (see "Stream identity" in
  :mod:`rtlab.hub`; the client sends ``?since=<stream>-<seq>`` back), the name
  this server gave the connection (unique among open connections: a second "Ada" is
  "Ada (2)") and a token that gets the same name back on a reconnect (``?token=``);
* server → client, each event: ``{"seq": 7, "type": "question", "data": {...}, "sent_ns": ...}``
* client → server: ``{"type": "...", "data": ...}``; ``{"type": "echo"}`` is answered at
  once (a round trip to time), anything else goes to the server's ``on_message`` hook,
  whose return value (if any) is sent back to that client.

What the server refuses, and how (close codes from RFC 6455 §7.4.1):

* an ``Origin`` not in ``origins`` → ``403`` before the upgrade (cross-site WebSocket
  hijacking: a page on another site must not ride on the learner's cookies; RFC 6455 §10.2);
* a message over ``max_message_bytes`` → close ``1009`` (too big), other clients unaffected;
* a text frame that is not UTF-8 → close ``1007``; a binary frame → ``1003``, unless asked for (the
  quiz in Protocol Buffers: :mod:`rtlab.net.binary_frames`); text that is not a JSON object (or
  nested too deep to parse) → an ``{"type": "error"}``, and the connection stays; over
  ``max_messages_per_s`` messages a second → an error, and the extra ones are dropped unread;
* an unmasked client frame, or a close frame with a code no peer may send (1005, 1006, 1015,
  0–999, 1016–2999, 5000 and up; RFC 6455 §7.4) → close ``1002`` (protocol error). aiohttp's
  frame reader accepts both, so :class:`rtlab.wire.websocket.ClientFrameCheck` reads each
  frame header first, as the bytes arrive (through the byte meter's ``guard``). It starts
  after the 101 is sent: frames a client pipelines in the same packet as its upgrade request
  reach aiohttp unchecked;
* a client too slow to keep up with its queue → close ``1013`` (try again later): it
  reconnects with ``?since=<last seq>`` and loses nothing;
* the server stopping → close ``1001`` (going away).

Compression (permessage-deflate) is off by default: a small message compressed on its own
shrinks by a few percent; the big savings come from the deflate window each connection keeps
across messages (context takeover), paid for in CPU and memory per connection. ``compress=True``
turns it on to measure that (:func:`rtlab.wire.websocket.deflate_sizes` shows both cases).

This module holds the server and the client; :mod:`rtlab.net.probes` speaks the protocol by
hand over a bare socket (a handshake to print, a peer that goes silent).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

from ..hub import Event, SubscriberOverflow
from ..wire.websocket import frame_guard
from . import binary_frames as frames
from .client import Client as BaseClient
from .fanout import follow
from .meter import connection_stats
from .peers import PeerNames
from .push import PushServer
from .requests import cursor_param

# Writing to a peer that has gone: the reply is lost, the connection is over, nothing to report.
GONE = (ConnectionError, aiohttp.ClientConnectionResetError)

__all__ = ["CLOSE_TOO_SLOW", "DEFAULT_HEARTBEAT_S", "DEFAULT_MAX_MESSAGE_BYTES", "Client", "Server",
           "WebSocketClient", "WebSocketServer"]

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
DEFAULT_HEARTBEAT_S = 10.0
CLOSE_TOO_SLOW = WSCloseCode.TRY_AGAIN_LATER  # 1013


class WebSocketServer(PushServer):
    """Pushes each hub event as a JSON text frame; takes JSON messages from clients."""

    transport = "websocket"
    path = "/ws"

    def __init__(
        self,
        *,
        compress: bool = False,
        heartbeat: float | None = DEFAULT_HEARTBEAT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        origins: Iterable[str] | None = None,
        on_message: Callable[[str, dict[str, Any]], Any] | None = None,
        max_messages_per_s: float = 50.0,
        **kwargs: Any,
    ) -> None:
        """A WebSocket server, not yet started.

        Args:
            compress: offer permessage-deflate (RFC 7692). Off by default: on small
                messages it costs more latency than it saves bytes (see the module docstring).
            heartbeat: seconds between pings; a peer that does not answer one within half
                this is closed. ``None``: no heartbeat.
            max_message_bytes: the largest message accepted from a client; a bigger one
                closes that connection with 1009.
            origins: browser origins allowed besides the server's own (RFC 6455 §10.2); a
                handshake from another origin gets 403.
            on_message: ``on_message(client_name, message)`` for each JSON message that is
                not an echo; its return value, if any, is sent back to that client. The name
                is the one this server gave the connection: unique among open connections,
                so a client cannot speak as another one that is connected.
            max_messages_per_s: messages a second one connection may send to ``on_message`` (a burst of as
                many is allowed); the rest are dropped with an error message, so one
                client cannot make the server do unbounded work — or broadcast — for it.
            **kwargs: as :class:`rtlab.net.server.Server` (host, port, name, replay, limits).
        """
        super().__init__(**kwargs)
        self.compress = compress
        self.heartbeat = heartbeat
        self.max_message_bytes = max_message_bytes
        self.origins = set(origins) if origins is not None else None
        self.on_message = on_message
        self.max_messages_per_s = max_messages_per_s
        self.sockets: dict[str, web.WebSocketResponse] = {}  # open connections by the name given
        self.messages_received = 0
        self.names = PeerNames()  # the name each connection gets (the client's is only a wish)
        self.frames = frames.BroadcastFrames(self.wire_form)  # what the broadcast writes (net.fanout)

    def admits_over_limit(self, request: web.Request) -> bool:
        """A client resuming its stream (``?since=`` past 0) is let in past ``max_connections``."""
        return request.query.get("since", "0").strip() not in ("", "0")

    def encode(self, event: Event) -> str:
        return event.to_json()

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get(self.path, self.handle_ws)

    def origin_allowed(self, origin: str | None) -> bool:
        """No Origin (not a browser) is fine; a browser's Origin must be this server or listed."""
        if origin is None:
            return True
        own = {f"http://{host}:{self.port}" for host in ("127.0.0.1", "localhost", "[::1]")}
        return origin in own or (self.origins is not None and origin in self.origins)

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not self.origin_allowed(origin):
            raise web.HTTPForbidden(
                text=f"Origin {origin!r} is not allowed to open a WebSocket here; add it to the "
                "server's origins= if this page is yours\n")
        stream, since = cursor_param(request) or (None, 0)
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, compress=self.compress,
                                   max_msg_size=self.max_message_bytes, protocols=(frames.SUBPROTOCOL,))
        await ws.prepare(request)  # the subprotocol is chosen here, if the client offered it
        stats = connection_stats(request)
        if stats is not None:  # from now on every client frame is checked before aiohttp reads it
            stats.guard = frame_guard()
        name, token = self.names.give(request.query.get("client", ""), request.query.get("token", ""),
                                      taken=self.sockets)
        self.sockets[name] = ws
        hub = self.hub
        assert hub is not None
        with hub.subscribe() as subscription:  # subscribe before replaying: nothing slips between
            hello = ({"type": "hello", "stream": hub.epoch, "name": name, "token": token}
                     if request.query.get("hello") == "1" else None)
            pusher = asyncio.create_task(self._push(ws, request, subscription, since, stream, hello))
            try:
                await self._read(ws, name)
            except GONE:
                pass  # the peer left while we wrote to it (a reply after a disconnect)
            finally:
                pusher.cancel()
                await asyncio.gather(pusher, return_exceptions=True)
                if self.sockets.get(name) is ws:
                    del self.sockets[name]
                if not ws.closed:
                    try:
                        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
                    except GONE:
                        pass
        return ws

    async def _push(self, ws: web.WebSocketResponse, request: web.Request, subscription: Any, since: int,
                    stream: str | None = None, hello: dict[str, Any] | None = None) -> None:
        hub = self.hub
        assert hub is not None
        send = frames.event_sender(ws, self.wire_form)  # text frames, or binary ones (rtlab.quiz.protobuf)
        try:
            if hello is not None:
                await ws.send_str(json.dumps(hello))
            resume = hub.resume(since, stream=stream)  # the hub's rule: reset, gap, then the backlog
            if resume.reset is not None:  # a cursor from another stream: start over
                await ws.send_str(json.dumps({"type": "reset", **resume.reset}))
            if resume.gap is not None:
                await ws.send_str(json.dumps({"type": "gap", **resume.gap.note()}))
            for event in resume.events:
                await send(event)
            # Live: the broadcast writes to this socket while it keeps up, we do when it is behind.
            await follow(subscription, send, after=resume.last_seq, direct=self.frames.direct(ws, request))
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
        except SubscriberOverflow as exc:
            try:
                await ws.close(code=CLOSE_TOO_SLOW, message=str(exc)[:120].encode())
            except GONE:
                pass
        except GONE:
            pass

    async def _read(self, ws: web.WebSocketResponse, name: str) -> None:
        budget, refilled = self.max_messages_per_s, time.monotonic()  # a token bucket per connection
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and ws.ws_protocol != frames.SUBPROTOCOL:
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=frames.REFUSED)
                return
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue  # errors close the socket themselves (1009 too big, 1007 bad UTF-8)
            self.messages_received += 1
            try:
                message = frames.read_message(msg)  # JSON text, or a ProtoBuf answer
                if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                    raise ValueError("expected a JSON object with a string 'type'")
            except RecursionError:  # a ValueError's cousin: "[[[[...", thousands deep
                await ws.send_str(json.dumps({"type": "error", "error": "message nested too deeply"}))
                continue
            except ValueError as exc:
                await ws.send_str(json.dumps({"type": "error", "error": (
                    f"messages must be JSON objects like {{\"type\": \"answer\", \"data\": 1}}: {exc}"
                )[:300]}))
                continue
            if message["type"] == "echo":
                message["server_ns"] = time.monotonic_ns()
                await ws.send_str(json.dumps(message))
            elif self.on_message is not None:
                # The hook may make the server broadcast (a quiz tally): a token bucket per
                # connection bounds how often one client can make it run. Echoes are exempt:
                # one reply each, to the sender only.
                now = time.monotonic()
                budget = min(self.max_messages_per_s, budget + (now - refilled) * self.max_messages_per_s)
                refilled = now
                if budget < 1:
                    continue  # over the rate: dropped (the client was told when it went over)
                budget -= 1
                if budget < 1:
                    await ws.send_str(json.dumps({"type": "error", "error": (
                        f"too many messages: at most {self.max_messages_per_s:g} a second; "
                        "the next ones are dropped until the rate falls")}))
                try:
                    reply = self.on_message(name, message)
                    if asyncio.iscoroutine(reply):
                        reply = await reply
                except Exception as exc:  # noqa: BLE001 - one bad handler call must not kill the socket
                    reply = {"type": "error", "error": f"server could not handle it: {exc!r}"[:300]}
                if reply is not None:
                    await ws.send_str(json.dumps(reply))


class WebSocketClient(BaseClient):
    """Receives events, can send messages; reconnects with backoff and resumes from ``last_seq``.

    The server's hello gives it the stream id (sent back in ``?since=``) and a token that
    keeps its name across a reconnect (sent back as ``?token=``).
    """

    transport = "websocket"

    def __init__(self, url: str | list[str], *, compress: bool = False, heartbeat: float | None = None,
                 on_message: Callable[[dict[str, Any]], Any] | None = None,
                 origin: str | None = None, encoding: str = "json", **kwargs: Any) -> None:
        """A WebSocket client, not yet started.

        Args:
            url: the server's ``/ws`` URL (``http://`` or ``ws://``).
            compress: offer permessage-deflate.
            heartbeat: seconds between this client's own pings (``None``: only answer the server's).
            on_message: called with each JSON message that is not an event (echo replies,
                quiz acks, errors), on the client loop.
            origin: an ``Origin`` header to send, as a browser would.
            encoding: ``"json"``, or ``"protobuf"`` for binary frames (:mod:`rtlab.net.binary_frames`).
            **kwargs: as :class:`rtlab.net.client.Client` (name, on_event, since, recorder).
        """
        super().__init__(url, **kwargs)
        self.compress = compress
        self.heartbeat = heartbeat
        self.on_message = on_message  # for messages that are not events (echo, results, errors)
        self.origin = origin
        self.encoding = frames.check_encoding(encoding)
        self.close_code: int | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._connected: asyncio.Event | None = None
        self._echoes: dict[int, asyncio.Future[int]] = {}
        self.token: str | None = None  # the server's, to keep our name when we reconnect
        self.given_name: str | None = None  # the name the server gave this connection

    async def run(self) -> None:
        self._connected = asyncio.Event()
        attempt = 0
        headers = {"Origin": self.origin} if self.origin else {}
        async with aiohttp.ClientSession(trace_configs=[self.connection_counter()]) as session:
            while True:
                self.recorder.requests += 1  # the upgrade handshake is one HTTP request
                try:
                    params = {"since": self.cursor(), "hello": 1,
                              **({"token": self.token} if self.token else {})}
                    async with session.ws_connect(
                        self.url_with(**params), compress=15 if self.compress else 0,
                        heartbeat=self.heartbeat, headers=headers, max_msg_size=0,
                        autoping=False,  # the server's pings are answered in _read, where they show
                        protocols=frames.offered(self.encoding),
                    ) as ws:
                        self.note("response", "101 Switching Protocols")
                        self._ws = ws
                        self._connected.set()
                        attempt = 0
                        await self._read(ws)
                        self.close_code = ws.close_code
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status in (400, 403, 404):
                        raise RuntimeError(f"the server refused the WebSocket: HTTP {exc.status}") from exc
                    self.recorder.error(f"handshake failed: {exc!r}")
                except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                    self.recorder.error(f"connection lost: {exc!r}")
                finally:
                    self._ws = None
                    self._connected.clear()
                if self.close_code in (WSCloseCode.OK, WSCloseCode.MESSAGE_TOO_BIG,
                                       WSCloseCode.UNSUPPORTED_DATA, WSCloseCode.INVALID_TEXT):
                    return  # a deliberate close: reconnecting would only repeat it
                self.reconnecting("reconnect with backoff")
                await asyncio.sleep(self.backoff(attempt))
                attempt += 1

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.PING:  # the server's heartbeat: RFC 6455 §5.5.3 wants a pong
                self.note("ping", "ping")
                await ws.pong(msg.data)
                self.note("pong", "pong")
                continue
            if (event := frames.binary_event(msg, self.encoding, ws.protocol)) is not None:
                self.received(event, time.monotonic_ns())
            if msg.type != WSMsgType.TEXT:
                continue
            recv_ns = time.monotonic_ns()
            message = json.loads(msg.data)
            if "seq" in message and "sent_ns" in message:
                self.received(Event.from_dict(message), recv_ns)
            elif message.get("type") in ("reset", "gap"):  # resume notes: the client base's rule
                self.take_notes({message["type"]: message})
            elif message.get("type") == "hello":
                self.on_stream(message.get("stream"))
                self.token, self.given_name = message.get("token"), message.get("name")
            elif message.get("type") == "echo" and message.get("id") in self._echoes:
                self._echoes.pop(message["id"]).set_result(recv_ns)
            elif self.on_message is not None:
                self.on_message(message)

    # -- the other direction ----------------------------------------------------------------
    async def send_async(self, message: dict[str, Any], timeout: float = 5) -> None:
        """Send one JSON message to the server (on the client loop), waiting for a connection."""
        assert self._connected is not None
        await asyncio.wait_for(self._connected.wait(), timeout)
        assert self._ws is not None
        await frames.send_message(self._ws, message, self.encoding)
        self.note("send", f"{{\"type\": \"{str(message.get('type'))[:16]}\" …}}")

    def send(self, message: dict[str, Any], timeout: float = 5) -> None:
        """Send one JSON message to the server, from any thread (a button callback, say)."""
        assert self._loop_thread is not None, "start() the client first"
        self._loop_thread.run(self.send_async(message, timeout), timeout + 1)

    async def _round_trip(self) -> float:
        msg_id = time.monotonic_ns()
        future = asyncio.get_running_loop().create_future()
        self._echoes[msg_id] = future
        start = time.monotonic_ns()
        await self.send_async({"type": "echo", "id": msg_id})
        end = await asyncio.wait_for(future, 5)
        return (end - start) / 1e6

    def round_trip_ms(self) -> float:
        """Time one echo message there and back, in milliseconds."""
        assert self._loop_thread is not None, "start() the client first"
        return self._loop_thread.run(self._round_trip(), 10)


Server = WebSocketServer
Client = WebSocketClient
