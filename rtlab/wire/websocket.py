"""RFC 6455 by the numbers: the accept key, frame header sizes, opcodes, and what deflate saves.

The opening handshake is an ordinary HTTP/1.1 request (:func:`upgrade_request`)::

    GET /ws HTTP/1.1
    Host: 127.0.0.1:8765
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==          <- 16 random bytes, base64
    Sec-WebSocket-Version: 13

    HTTP/1.1 101 Switching Protocols
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=   <- accept_key(the key above)

After the 101 both sides send *frames*. A frame header is 2 bytes, plus 2 or 8 for a long
payload, plus a 4-byte mask on every client → server frame (:func:`frame_header_bytes`)::

     0               1               2               3
    |F|R R R| opcode|M| payload len |  extended length (0, 2 or 8 bytes) ... | mask key (0 or 4) |
    |I|S S S|  4 bit|A|    7 bit    |
    |N|V V V|       |S|             |

Nothing here opens a socket: :mod:`rtlab.net.websocket` does, and :mod:`rtlab.net.probes`
sends these bytes by hand.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
import zlib
from collections.abc import Iterable

__all__ = ["OPCODES", "WS_GUID", "accept_key", "deflate_sizes", "frame_header_bytes",
           "upgrade_request"]

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # fixed by RFC 6455 §1.3

OPCODES = {0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}


def accept_key(sec_websocket_key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((sec_websocket_key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def frame_header_bytes(payload_len: int, *, masked: bool) -> int:
    """How many bytes RFC 6455 framing adds to a payload of ``payload_len`` bytes."""
    length_bytes = 0 if payload_len <= 125 else 2 if payload_len <= 0xFFFF else 8
    return 2 + length_bytes + (4 if masked else 0)


def upgrade_request(url: str, key: str, origin: str | None = None) -> tuple[str, int, bytes]:
    """The opening handshake for ``url`` with ``key``: ``(host, port, request bytes)``.

    Args:
        url: ``ws://host:port/path?query`` (``http://`` works too).
        key: the ``Sec-WebSocket-Key``, base64 of 16 random bytes (RFC 6455 §4.1).
        origin: an ``Origin`` header, as a browser adds; a script can write anything here.
    """
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.hostname}:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return str(parts.hostname), port, ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def deflate_sizes(payloads: Iterable[bytes]) -> tuple[list[int], list[int]]:
    """What permessage-deflate (RFC 7692) makes of each payload, in bytes.

    Returns ``(alone, in_context)``: each message compressed on its own (what
    ``no_context_takeover`` asks for), and compressed with the window shared across the
    connection's messages (the default), where a message can point back at earlier ones.
    """

    def deflated(compressor: zlib._Compress, payload: bytes) -> int:
        # RFC 7692 §7.2.1: flush with Z_SYNC_FLUSH and drop the trailing 00 00 ff ff.
        return len(compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)) - 4

    payloads = list(payloads)
    alone = [deflated(zlib.compressobj(wbits=-15), p) for p in payloads]
    shared = zlib.compressobj(wbits=-15)
    return alone, [deflated(shared, p) for p in payloads]
