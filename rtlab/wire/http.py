"""Reading raw HTTP/1.1 by hand: a response head, one header, and chunked framing undone.

The probes in :mod:`rtlab.net.probes` read sockets with no HTTP library in between, so a
notebook can show the very bytes; these helpers turn those bytes into something to print.
"""

from __future__ import annotations

__all__ = ["dechunk", "header", "status_code"]


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
