"""Reading raw HTTP/1.1 by hand: a response head, one header, chunked framing undone, a
connection's bytes cut into messages — and the one piece of HTTP semantics rtlab's servers
decide themselves, ``If-None-Match``.

The probes in :mod:`rtlab.net.probes` read sockets with no HTTP library in between, so a
notebook can show the very bytes; these helpers turn those bytes into something to print.
:class:`HTTPFramer` is what a proxy needs (:mod:`rtlab.net.middlebox`): where one message
ends and the next begins, fed a few bytes at a time, as they come off a socket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["HTTPFramer", "Head", "Part", "chunk", "dechunk", "header", "if_none_match", "status_code"]

_ENTITY_TAG = re.compile(r'\s*(?:(W/)?"([^"]*)"|(\*))\s*(?:,|$)')


def if_none_match(field: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` field value matches ``etag``: then the answer is ``304``.

    RFC 9110 §13.1.2: the field is ``*`` or a comma-separated list of entity tags, and it
    uses the *weak* comparison (§8.8.3.2): ``W/"1"`` matches ``"1"``, since only the opaque
    part is compared. ``*`` matches any current representation (a polling endpoint always
    has one). A field that does not parse matches nothing: the client gets the full answer,
    which is always safe.

    Args:
        field: the header's value as it arrived (``'"a", W/"1"'``).
        etag: the current representation's tag, quoted (``'"1"'`` or ``'W/"1"'``).
    """
    current = etag.removeprefix("W/")
    pos = 0
    while pos < len(field):
        match = _ENTITY_TAG.match(field, pos)
        if match is None or match.end() == pos:
            return False
        if match.group(3) or f'"{match.group(2)}"' == current:
            return True
        pos = match.end()
    return False


def header(head: bytes, name: str) -> str | None:
    """One header's value from a raw HTTP head (the first line is skipped), or ``None``."""
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def status_code(head: bytes) -> int:
    """The status code of a raw HTTP response head: ``b"HTTP/1.1 101 ..."`` → 101."""
    return int(head.split(b" ", 2)[1])


def chunk(body: bytes) -> bytes:
    """One piece of a chunked HTTP/1.1 body: ``<size in hex>\r\n<bytes>\r\n`` (RFC 9112 §7.1)."""
    return b"%x\r\n%b\r\n" % (len(body), body)


def dechunk(head: bytes, wire: bytes) -> bytes:
    """Undo HTTP/1.1 chunked framing (``<size in hex>\\r\\n<bytes>\\r\\n`` ...) if the head says so.

    A body cut off mid-chunk (a probe that stopped reading) gives what arrived so far.
    """
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


MAX_HEAD_BYTES = 64 * 1024  # a longer head is not HTTP we can read: the framer stops framing


@dataclass
class Head:
    """A parsed request or response head: its first line and its header fields, in order."""

    start: str  # "GET /events HTTP/1.1" or "HTTP/1.1 200 OK"
    fields: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: bytes) -> Head:
        """``raw`` up to and including the blank line that ends it."""
        lines = raw.decode("latin-1").split("\r\n")
        fields = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon and name.strip():
                fields.append((name.strip(), value.strip()))
        return cls(lines[0], fields)

    def get(self, name: str) -> str | None:
        """The first field called ``name`` (any case), or ``None``."""
        return next((v for k, v in self.fields if k.lower() == name.lower()), None)

    def has_token(self, name: str, token: str) -> bool:
        """Whether the comma-separated field ``name`` lists ``token`` (``Connection: close, Upgrade``)."""
        return any(token.lower() == t.strip().lower().split(";")[0].strip()
                   for k, v in self.fields if k.lower() == name.lower() for t in v.split(","))

    @property
    def status(self) -> int | None:
        """A response's status code (``None`` for a request, or a first line that does not parse)."""
        parts = self.start.split(" ", 2)
        if self.start.startswith("HTTP/") and len(parts) > 1 and parts[1].isdigit():
            return int(parts[1])
        return None

    @property
    def method(self) -> str | None:
        return None if self.start.startswith("HTTP/") else self.start.split(" ", 1)[0]

    def replace(self, drop: tuple[str, ...] = (), add: tuple[tuple[str, str], ...] = ()) -> Head:
        """A copy without the fields named in ``drop`` and with ``add`` appended."""
        gone = {d.lower() for d in drop}
        return Head(self.start, [(k, v) for k, v in self.fields if k.lower() not in gone] + list(add))

    def encode(self) -> bytes:
        lines = [self.start] + [f"{k}: {v}" for k, v in self.fields]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Part:
    """A piece of a message, as :meth:`HTTPFramer.feed` finds it.

    ``kind`` is ``"head"`` (``head`` parsed, ``raw`` its bytes), ``"body"`` (``raw`` as on the
    wire, ``payload`` the same bytes with chunked framing undone), ``"end"`` (the message is
    complete; ``raw`` may hold a chunked body's last bytes) or ``"tunnel"`` (bytes that are no
    longer HTTP: after a ``101 Switching Protocols``, or a head we could not read).
    """

    kind: str
    raw: bytes = b""
    payload: bytes = b""
    head: Head | None = None


class HTTPFramer:
    """One direction of an HTTP/1.1 connection, cut into messages (RFC 9112 §6), incrementally.

    ``HTTPFramer("response").feed(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi")``
    gives a head, a body and an end. A body is framed by ``Transfer-Encoding: chunked``, by
    ``Content-Length``, or (a response with neither) by the connection closing — call
    :meth:`close`. ``1xx``, ``204`` and ``304`` responses have no body; a ``101`` turns the
    rest of the connection into a tunnel (call :meth:`tunnel` on the request side too). A
    response to ``HEAD`` is not told apart (rtlab's clients never send one).

    Args:
        role: ``"request"`` (client to server) or ``"response"`` (server to client).
    """

    def __init__(self, role: str) -> None:
        if role not in ("request", "response"):
            raise ValueError(f"role is 'request' or 'response', not {role!r}")
        self.role = role
        self.buf = b""
        self.state = "head"  # head | length | chunk-size | chunk-data | chunk-crlf | trailer | close | tunnel
        self.left = 0  # bytes left in this body (length) or chunk (chunk-data)

    def tunnel(self) -> None:
        """From now on every byte is opaque (the other side answered ``101``)."""
        self.state = "tunnel"

    def close(self) -> list[Part]:
        """The sender closed: a body read until the close ends here."""
        parts = [Part("body", self.buf, self.buf)] if self.buf and self.state == "close" else []
        self.buf = b""
        if self.state == "close":
            parts.append(Part("end"))
            self.state = "head"
        return parts

    def feed(self, data: bytes) -> list[Part]:
        """The parts that ``data`` completes (a head only once it is whole; bodies as they come)."""
        self.buf += data
        parts: list[Part] = []
        while self.buf:
            before = (self.state, len(self.buf))
            getattr(self, "_" + self.state.replace("-", "_"))(parts)
            if (self.state, len(self.buf)) == before:
                break  # needs more bytes
        return parts

    def _head(self, parts: list[Part]) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD_BYTES:
                self.state = "tunnel"
            return
        raw, self.buf = self.buf[:end + 4], self.buf[end + 4:]
        head = Head.parse(raw)
        parts.append(Part("head", raw, head=head))
        status = head.status
        if self.role == "response" and status is None:
            self.state = "tunnel"
        elif status == 101:
            self.state = "tunnel"
        elif status is not None and (status < 200 or status in (204, 304)):
            parts.append(Part("end"))
        elif head.has_token("Transfer-Encoding", "chunked"):
            self.state = "chunk-size"
        elif (length := head.get("Content-Length")) is not None and length.isdigit():
            self.left = int(length)
            self.state = "length" if self.left else "head"
            if not self.left:
                parts.append(Part("end"))
        elif self.role == "response":
            self.state = "close"
        else:
            parts.append(Part("end"))  # a request with no body

    def _length(self, parts: list[Part]) -> None:
        piece, self.buf = self.buf[:self.left], self.buf[self.left:]
        self.left -= len(piece)
        parts.append(Part("body", piece, piece))
        if not self.left:
            self.state = "head"
            parts.append(Part("end"))

    def _chunk_size(self, parts: list[Part]) -> None:
        eol = self.buf.find(b"\r\n")
        if eol < 0:
            return
        line, self.buf = self.buf[:eol + 2], self.buf[eol + 2:]
        try:
            self.left = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            self.state, self.buf = "tunnel", line + self.buf
            return
        parts.append(Part("body", line))
        self.state = "chunk-data" if self.left else "trailer"

    def _chunk_data(self, parts: list[Part]) -> None:
        piece, self.buf = self.buf[:self.left], self.buf[self.left:]
        self.left -= len(piece)
        parts.append(Part("body", piece, piece))
        if not self.left:
            self.state = "chunk-crlf"

    def _chunk_crlf(self, parts: list[Part]) -> None:
        if len(self.buf) >= 2:
            parts.append(Part("body", self.buf[:2]))
            self.buf, self.state = self.buf[2:], "chunk-size"

    def _trailer(self, parts: list[Part]) -> None:
        eol = self.buf.find(b"\r\n")
        if eol < 0:
            return
        line, self.buf = self.buf[:eol + 2], self.buf[eol + 2:]
        if line == b"\r\n":
            self.state = "head"
            parts.append(Part("end", line))
        else:
            parts.append(Part("body", line))

    def _close(self, parts: list[Part]) -> None:
        piece, self.buf = self.buf, b""
        parts.append(Part("body", piece, piece))

    def _tunnel(self, parts: list[Part]) -> None:
        piece, self.buf = self.buf, b""
        parts.append(Part("tunnel", piece))
