"""The wire formats, and nothing else: what the bytes look like, with no sockets and no event loop.

Start reading here. Every module in this folder is pure — it imports nothing from aiohttp,
asyncio's networking or the rest of rtlab — so each one can be tried in a notebook cell or
a unit test on a handful of bytes:

* :mod:`rtlab.wire.event` — one event as JSON, the form the polling answers and the
  WebSocket frames carry, and what a payload must be to get there;
* :mod:`rtlab.wire.cursor` — the resume token a client sends back, ``<epoch>-<seq>``;
* :mod:`rtlab.wire.sse` — ``text/event-stream``: the encoder and a parser that follows
  the WHATWG HTML standard line by line;
* :mod:`rtlab.wire.websocket` — RFC 6455 arithmetic: the accept key, frame header sizes,
  opcodes, permessage-deflate sizes, the upgrade request;
* :mod:`rtlab.wire.http` — reading a raw HTTP/1.1 head and undoing chunked framing.

The servers and clients in :mod:`rtlab.net` put these bytes on real sockets.
"""

from .event import Event
from .http import dechunk, header, status_code
from .sse import SSEMessage, SSEParser, encode_comment, encode_event
from .websocket import OPCODES, WS_GUID, accept_key, deflate_sizes, frame_header_bytes, upgrade_request

__all__ = [
    "OPCODES", "WS_GUID", "Event", "SSEMessage", "SSEParser", "accept_key", "dechunk",
    "deflate_sizes", "encode_comment", "encode_event", "frame_header_bytes", "header",
    "status_code", "upgrade_request",
]
