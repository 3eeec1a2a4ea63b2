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
from collections.abc import Callable, Iterable

__all__ = ["OPCODES", "WS_GUID", "ClientFrameCheck", "accept_key", "close_code_valid", "close_frame",
           "deflate_sizes", "frame_guard", "frame_header_bytes", "server_frame", "upgrade_request"]

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


def server_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A whole unmasked frame, server to client: FIN, ``opcode`` (1 text, 2 binary), the length, the payload.

    A server's frames are not masked (only a client's are, RFC 6455 §5.1), so one event's frame is
    the same bytes for every connection: a broadcast can build it once and write it to all of them.
    """
    n = len(payload)
    if n <= 125:
        head = bytes([0x80 | opcode, n])
    elif n <= 0xFFFF:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def read_server_frame(buf: bytes) -> tuple[int, bytes, bytes] | None:
    """The first whole frame a server sent, ``(opcode, payload, rest)``; ``None`` if ``buf``
    holds less than one frame. Server frames are never masked (RFC 6455 §5.1), and the FIN bit
    is not looked at: rtlab's servers do not fragment. For the hand-written readers (the swarm's
    players, the fan-out benchmark) that cannot afford a library's per-frame cost.

    Args:
        buf: bytes read from the socket after the handshake.
    """
    if len(buf) < 2:
        return None
    opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
    if length == 126:
        length, start = int.from_bytes(buf[2:4], "big"), 4
    elif length == 127:
        length, start = int.from_bytes(buf[2:10], "big"), 10
    if len(buf) < start + length:
        return None
    return opcode, buf[start:start + length], buf[start + length:]


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


# -- what a server must refuse in a client's frames ---------------------------------------------
def close_code_valid(code: int) -> bool:
    """Whether a peer may send ``code`` in a close frame (RFC 6455 §7.4.1, §7.4.2, IANA registry).

    1000–1003 and 1007–1014 are defined; 1004 is reserved; 1005, 1006 and 1015 are for
    reporting only and must never be sent; 3000–4999 belong to libraries and applications;
    everything else (0–999, 1016–2999, 5000 and up) is undefined.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def close_frame(code: int, reason: str = "") -> bytes:
    """A server's (unmasked) close frame with ``code`` and a reason of at most 123 bytes."""
    payload = code.to_bytes(2, "big") + reason.encode("utf-8")[:123]
    return bytes([0x88, len(payload)]) + payload


class ClientFrameCheck:
    """Reads the frame headers of a client's byte stream and names the first protocol error.

    It looks only at what a server must check before it believes a frame: that it is masked
    (RFC 6455 §5.1: "a server MUST close the connection upon receiving a frame that is not
    masked") and, for a close frame, that its code is one a peer may send (§7.4). Payloads
    are skipped, not kept: memory stays a few bytes whatever the client sends.
    """

    def __init__(self) -> None:
        self._head = b""  # a frame header (and a close frame's first bytes) still arriving
        self._skip = 0  # payload bytes of the current frame still to pass

    def feed(self, data: bytes) -> tuple[int, str] | None:
        """Look at the next bytes; ``(1002, why)`` at the first violation, else ``None``."""
        pos = 0
        while pos < len(data):
            if self._skip:
                step = min(self._skip, len(data) - pos)
                self._skip -= step
                pos += step
                continue
            if len(self._head) < self._wanted():
                take = self._wanted() - len(self._head)
                self._head += data[pos:pos + take]
                pos += take
                continue  # the header may say it is longer than we thought: look again
            problem = self._check()
            if problem is not None:
                return 1002, problem
            self._skip = self._payload_len() - (len(self._head) - self._header_len())
            self._head = b""
        if self._head and len(self._head) >= self._wanted():
            problem = self._check()
            if problem is not None:
                return 1002, problem
            self._skip = self._payload_len() - (len(self._head) - self._header_len())
            self._head = b""
        return None

    def _header_len(self) -> int:
        n = self._head[1] & 0x7F
        return 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if self._head[1] & 0x80 else 0)

    def _payload_len(self) -> int:
        n = self._head[1] & 0x7F
        if n == 126:
            return int.from_bytes(self._head[2:4], "big")
        if n == 127:
            return int.from_bytes(self._head[2:10], "big")
        return n

    def _wanted(self) -> int:
        """How many bytes of this frame we need before judging it."""
        if len(self._head) < 2 or not self._head[1] & 0x80:
            return 2  # (unmasked: already wrong, judge now)
        extended = self._head[1] & 0x7F
        wanted = 2 + (2 if extended == 126 else 8 if extended == 127 else 0) + 4
        if len(self._head) >= wanted and self._head[0] & 0x0F == 0x8:
            wanted += min(2, self._payload_len())  # a close frame: its code too
        return wanted

    def _check(self) -> str | None:
        if not self._head[1] & 0x80:
            return "client frames must be masked (RFC 6455 §5.1)"
        if self._head[0] & 0x0F == 0x8:
            n = self._payload_len()
            if n == 1:
                return "a close frame's payload is empty or starts with a 2-byte code (RFC 6455 §5.5.1)"
            if n >= 2:
                start = self._header_len()
                key = self._head[start - 4:start]
                code = ((self._head[start] ^ key[0]) << 8) | (self._head[start + 1] ^ key[1])
                if not close_code_valid(code):
                    return f"close code {code} is not one a peer may send (RFC 6455 §7.4)"
        return None


def frame_guard() -> Callable[[bytes], bytes | None]:
    """A guard for one connection's incoming bytes: ``None`` while its frames are fine, then the
    close frame (1002) to send at the first bad one (what :mod:`rtlab.net.meter` calls a guard)."""
    check = ClientFrameCheck()

    def guard(data: bytes) -> bytes | None:
        problem = check.feed(data)
        return None if problem is None else close_frame(*problem)

    return guard
