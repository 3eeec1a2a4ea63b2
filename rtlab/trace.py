"""The trace: what happened on each side of a connection, and when — what a sequence diagram shows.

A :class:`~rtlab.metrics.Recorder` keeps what each *event* cost. A :class:`Trace` keeps the
story around the events, one :class:`Mark` per thing that happened, stamped with
``time.monotonic_ns()`` (one clock for every thread and process on the machine):

====================  ==========================================================================
client marks          ``connect`` (a TCP connection set up: ``t_ns`` → ``until_ns``), ``request``
                      (sent: ``GET /state?since=12``), ``response`` (its answer arrived: ``200 (2
                      events)``, ``204 after 5.0 s hold``, ``101 Switching Protocols``), ``event``
                      (an event arrived), ``comment`` (an SSE keep-alive), ``ping`` / ``pong``
                      (WebSocket heartbeat), ``send`` (a WebSocket message up), ``reconnect``
server marks          ``arrive`` (a request reached the server), ``answer`` (its response head
                      left), ``publish`` (an event was published: ``t_ns`` is its ``sent_ns``)
====================  ==========================================================================

Tracing is off unless asked for (``trace=True`` on a client or a server): when it is on, each
mark costs one lock and one ``deque.append`` on the loop that makes it (well under a
microsecond), and the trace keeps the last ``maxlen`` marks, so memory stays bounded.
:func:`rtlab.lessons.plots.sequence` draws a trace.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["CLIENT_KINDS", "SERVER_KINDS", "Mark", "Trace"]

CLIENT_KINDS = ("connect", "request", "response", "event", "comment", "ping", "pong", "send", "reconnect")
SERVER_KINDS = ("arrive", "answer", "publish")


@dataclass(frozen=True)
class Mark:
    """One thing that happened, on one side, at ``t_ns`` (``until_ns`` if it lasted)."""

    t_ns: int
    kind: str  # one of CLIENT_KINDS or SERVER_KINDS
    label: str = ""  # what a reader should see: "GET /poll?since=3", "204 after 5.0 s hold"
    seq: int | None = None  # the event's seq, for event and publish marks
    client: str | None = None  # on the server: which client's request (its ?client= name)
    until_ns: int | None = None  # for a mark that lasted (a connection set-up)


class Trace:
    """A bounded, thread-safe list of :class:`Mark`, oldest first.

    Appended to on one loop (a client's, or a server's), read from any thread with
    :meth:`marks`, which copies under the lock.
    """

    def __init__(self, maxlen: int = 20_000) -> None:
        self._marks: deque[Mark] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def note(self, kind: str, label: str = "", *, seq: int | None = None, client: str | None = None,
             t_ns: int | None = None, until_ns: int | None = None) -> Mark:
        """Add a mark, stamped now unless ``t_ns`` says when."""
        mark = Mark(time.monotonic_ns() if t_ns is None else t_ns, kind, label, seq, client, until_ns)
        with self._lock:
            self._marks.append(mark)
        return mark

    def marks(self, since_ns: int = 0, kinds: tuple[str, ...] | None = None) -> list[Mark]:
        """A copy of the marks at or after ``since_ns`` (of ``kinds`` only, if given)."""
        with self._lock:
            marks = list(self._marks)
        return [m for m in marks if m.t_ns >= since_ns and (kinds is None or m.kind in kinds)]

    def clear(self) -> None:
        with self._lock:
            self._marks.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._marks)

    def __repr__(self) -> str:
        return f"<Trace {len(self)} marks>"
