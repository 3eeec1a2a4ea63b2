"""Resume tokens: how a client says where it is in a stream — ``<epoch>-<seq>``, or a bare seq.

A token is text on the wire (an SSE ``id:``, ``Last-Event-ID``, ``?since=``), so reading and
writing it is a wire format like the others, pure. What a server *does* with one — reset,
gap, backlog — is the hub's rule (:meth:`rtlab.hub.Hub.resume`); why a token names its stream
at all is in :mod:`rtlab.hub`'s "Stream identity".
"""

from __future__ import annotations

import re
import secrets

__all__ = ["MAX_CURSOR_DIGITS", "UNKNOWN_STREAM", "format_token", "new_epoch", "parse_cursor",
           "parse_token", "valid_epoch"]

MAX_CURSOR_DIGITS = 18  # a seq fits in 63 bits; a 30-digit "cursor" is not one


def parse_cursor(raw: str, what: str = "since") -> int:
    """A cursor sent as text (``?since=12``, ``Last-Event-ID: 12``) as an int, or ``ValueError``.

    The one place a cursor is validated: a non-negative integer of at most 18 digits, ASCII
    only (``"١٢"`` is a digit to :meth:`str.isdigit` but not a seq). The message says what
    a cursor is, so the 400 a server answers with teaches something.

    Args:
        raw: the text as it arrived.
        what: how the client sent it, for the message (``"since"``, ``"Last-Event-ID"``).
    """
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_CURSOR_DIGITS):
        raise ValueError(
            f"{what} must be a non-negative integer, the seq of the last event you saw "
            f"(0 for everything); got {raw[:40]!r}")
    return int(raw)


UNKNOWN_STREAM = "?"  # the stream of a bare Last-Event-ID: one no hub has (see "Stream identity")
_EPOCH = re.compile(r"[A-Za-z0-9._:]{1,64}")


def new_epoch() -> str:
    """A fresh random stream id: 8 hex digits (32 bits; a clash between two restarts is ~1 in 4e9)."""
    return secrets.token_hex(4)


def format_token(stream: str, seq: int) -> str:
    """A resume token: ``<epoch>-<seq>``, what servers hand out and clients send back."""
    return f"{stream}-{seq}"


def parse_token(raw: str, what: str = "since") -> tuple[str | None, int]:
    """A resume token as ``(epoch, seq)``; a bare number gives ``(None, seq)``. ``ValueError`` otherwise.

    Args:
        raw: the text as it arrived (``"3f9a1c02-17"`` or ``"17"``).
        what: how the client sent it, for the message.
    """
    stream, _, seq = raw.rpartition("-")
    if not stream:  # "17", or "-1" (which is no seq either: parse_cursor says so)
        return None, parse_cursor(raw, what)
    if not _EPOCH.fullmatch(stream):
        raise ValueError(f"{what} must be a resume token <stream>-<seq> as this server sent it "
                         f"(or a bare seq); got {raw[:40]!r}")
    return stream, parse_cursor(seq, what)


def valid_epoch(epoch: str) -> bool:
    """Whether ``epoch`` can be a stream id: 1–64 characters of ``A-Z a-z 0-9 . _ :``."""
    return _EPOCH.fullmatch(epoch) is not None
