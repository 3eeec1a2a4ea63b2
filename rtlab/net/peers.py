"""The names a WebSocket server gives its connections: a client's ``?client=`` is only a wish.

A name on a WebSocket is what ``on_message`` (the quiz, say) takes as *who* sent a message,
so a server cannot let a client choose it freely: one program could answer as a player who
is connected, or lock them out ("you already answered"). :class:`PeerNames` gives each
connection a name that no other open connection has — the wished one if it is free, else
``"Ada (2)"`` — and a token that claims the same name again on a reconnect.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Container

__all__ = ["MAX_NAMES", "PeerNames"]

MAX_NAMES = 10_000  # tokens remembered for reconnects; the oldest are forgotten first


class PeerNames:
    """Names for connections, unique among the open ones, and the tokens that reclaim them."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}  # token -> the name it was issued with
        self._anonymous = itertools.count(1)

    def give(self, wished: str, token: str = "", *, taken: Container[str] = ()) -> tuple[str, str]:
        """``(name, token)`` for a new connection.

        Args:
            wished: the name the client asked for (``?client=``); empty for "anonymous-N".
            token: a token this object issued before (``?token=``): its name back, if free.
            taken: the names of the open connections.
        """
        wished = self._tokens.get(token) or wished[:64] or f"anonymous-{next(self._anonymous)}"
        name, n = wished, 1
        while name in taken:
            n += 1
            name = f"{wished} ({n})"
        if self._tokens.get(token) != name:
            token = secrets.token_urlsafe(12)
            self._tokens[token] = name
            while len(self._tokens) > MAX_NAMES:
                del self._tokens[next(iter(self._tokens))]
        return name, token
