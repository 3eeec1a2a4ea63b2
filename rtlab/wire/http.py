"""Reading raw HTTP/1.1 by hand: a response head, one header, chunked framing undone — and
the one piece of HTTP semantics rtlab's servers decide themselves, ``If-None-Match``.

The probes in :mod:`rtlab.net.probes` read sockets with no HTTP library in between, so a
notebook can show the very bytes; these helpers turn those bytes into something to print.
"""

from __future__ import annotations

import re

__all__ = ["dechunk", "header", "if_none_match", "status_code"]

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
