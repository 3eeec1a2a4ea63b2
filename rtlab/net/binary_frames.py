"""Binary frames on rtlab's WebSocket: the quiz in Protocol Buffers, for the clients that ask.

RFC 6455's way to agree on what the messages are is the *subprotocol*: the client offers
``Sec-WebSocket-Protocol: rtlab.quiz.protobuf`` in its upgrade request, the server echoes it
in the ``101``. On such a connection events go out as binary frames (:mod:`rtlab.wire.protobuf`,
each encoded once per event however many connections send it) and answers come in as binary
frames; the rare notes (reset, gap, errors, acks) stay JSON text. On every other connection a
binary frame is still refused with close ``1003`` and :data:`REFUSED` as the reason.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from ..hub import Event
from ..wire import protobuf
from ..wire.protobuf import SUBPROTOCOL
from ..wire.websocket import server_frame
from .fanout import DirectWrite, Frames

__all__ = ["ENCODINGS", "REFUSED", "SUBPROTOCOL", "BroadcastFrames", "binary_event", "check_encoding",
           "event_sender", "offered", "read_message", "send_message"]

ENCODINGS = ("json", "protobuf")
REFUSED = b"binary frames are not accepted: send JSON text, or ask for Sec-WebSocket-Protocol: " \
          b"rtlab.quiz.protobuf"  # a close reason: at most 123 bytes (RFC 6455 section 5.5)


def event_sender(ws: web.WebSocketResponse,
                 text_form: Callable[[Event], str]) -> Callable[[Event], Awaitable[None]]:
    """How this connection sends an event: a binary frame if it chose the subprotocol, else text."""
    if ws.ws_protocol != SUBPROTOCOL:
        async def send_text(event: Event) -> None:
            await ws.send_str(text_form(event))
        return send_text
    cache: list[Any] = [None, b""]  # the last event and its bytes: a broadcast encodes once

    async def send_binary(event: Event) -> None:
        if cache[0] is not event:
            cache[:] = [event, protobuf.encode_event(event)]
        await ws.send_bytes(cache[1])
    return send_binary


class BroadcastFrames:
    """A server's whole frames for the broadcast pass (:mod:`rtlab.net.fanout`), once per event:
    the JSON text frame, and the ProtoBuf binary frame for connections that chose it."""

    def __init__(self, text_form: Callable[[Event], str]) -> None:
        self.text = Frames(lambda event: server_frame(text_form(event).encode()))
        self.binary = Frames(lambda event: server_frame(protobuf.encode_event(event), 0x2))

    def direct(self, ws: web.WebSocketResponse, request: web.Request) -> DirectWrite | None:
        """How the broadcast writes to this connection; ``None`` when it cannot share the bytes."""
        if ws.compress:  # permessage-deflate: each connection's frames depend on its own window
            return None
        frames = self.binary if ws.ws_protocol == SUBPROTOCOL else self.text
        return DirectWrite(request, frames, ws)  # and nothing after our close frame


def read_message(msg: Any) -> Any:
    """A client's message as the JSON-shaped object the server takes (``ValueError`` if it is none)."""
    if msg.type == WSMsgType.BINARY:
        return protobuf.decode_answer(msg.data)
    return json.loads(msg.data)


def check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    return encoding


def offered(encoding: str) -> tuple[str, ...]:
    """The subprotocols a client with this encoding offers in its upgrade request."""
    return (SUBPROTOCOL,) if encoding == "protobuf" else ()


def binary_event(msg: Any, encoding: str, chosen: str | None) -> Event | None:
    """The event in a binary frame, on a connection that speaks ProtoBuf; ``None`` otherwise."""
    if encoding == "protobuf" and chosen != SUBPROTOCOL:
        raise RuntimeError("the server did not accept the subprotocol rtlab.quiz.protobuf")
    if msg.type == WSMsgType.BINARY and encoding == "protobuf":
        return protobuf.decode_event(msg.data)
    return None


async def send_message(ws: Any, message: dict[str, Any], encoding: str) -> None:
    """Send a client's message: an answer as a binary frame with ProtoBuf, anything else as JSON text."""
    data = message.get("data") if isinstance(message.get("data"), dict) else {}
    if encoding == "protobuf" and message.get("type") == "answer":
        await ws.send_bytes(protobuf.encode_answer(int(data["question"]), int(data["choice"])))
    else:
        await ws.send_str(json.dumps(message))
