"""The event hub: numbered events, a bounded replay buffer, bounded subscriber queues.

Every server owns one hub, and every transport reads from it in its own way:

* short polling asks for :attr:`Hub.state` (and the events after a cursor),
* long polling waits with :meth:`Hub.wait_after` until something is newer than its cursor,
* SSE and WebSocket :meth:`Hub.subscribe` and push each event as it comes.

Each event gets the next ``seq`` (1, 2, 3, ...). A client that remembers the last
``seq`` it saw can resume with :meth:`Hub.after` — the idea behind SSE's
``Last-Event-ID``, Apollo's ``notificationId`` and Kafka's offsets.

Memory is bounded everywhere a client could grow it:

* the replay buffer keeps the last ``replay`` events; a client asking for older
  ones gets :class:`Gap` — told, never silently skipped;
* each subscriber has a queue of ``queue_size`` events. **Overflow policy:** a
  subscriber whose queue is full is *dropped*: its iterator raises
  :class:`SubscriberOverflow`, the transport closes the connection with a
  clear reason, and the client reconnects and resumes from the replay buffer.
  A slow client therefore costs at most ``queue_size`` events of memory and
  loses nothing as long as it comes back within ``replay`` events.

**One resume rule.** Every transport answers a returning client the same way, through
:meth:`Hub.resume`: first a *reset* if the cursor came from another stream, then a *gap* if
some events are older than the replay buffer, then the *backlog* of events after the
cursor. The transports only choose how to write these three down (an SSE ``event: reset``,
a WebSocket ``{"type": "gap"}``, a ``"gap"`` field in a polling answer); the rule for the
client's cursor on the other end is in :class:`rtlab.net.client.Client`. Cursors arrive
as text (a query string, a header) and are read by one function, :func:`parse_cursor`.

All methods must be called on the loop that owns the hub (the server's loop);
:meth:`rtlab.net.server.Server.publish` is the thread-safe way in, and
:meth:`rtlab.net.server.Server.read` the thread-safe way to look.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .wire.event import Event

__all__ = ["MAX_CURSOR_DIGITS", "Event", "Gap", "Hub", "Resume", "SubscriberOverflow",
           "Subscription", "parse_cursor"]


class Gap(Exception):
    """The events after ``since`` are no longer in the replay buffer.

    ``first_missing``..``last_missing`` were lost to this client; the buffer starts at
    ``last_missing + 1``. Transports turn this into an explicit message to the client.
    """

    def __init__(self, since: int, oldest: int) -> None:
        self.first_missing = since + 1
        self.last_missing = oldest - 1
        super().__init__(
            f"events {self.first_missing}..{self.last_missing} are older than the replay "
            f"buffer (it starts at {oldest})"
        )


    def note(self) -> dict[str, int]:
        """The gap as every transport writes it down: ``{"first_missing": ..., "last_missing": ...}``."""
        return {"first_missing": self.first_missing, "last_missing": self.last_missing}


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


@dataclass(frozen=True)
class Resume:
    """What a client coming back with a cursor is owed, in the order a server sends it.

    ``reset``: the cursor was *ahead* of this stream, so it came from another one; the client
    must start over from seq 1 (see :meth:`Hub.reset_note`). ``gap``: events the replay
    buffer no longer holds. ``events``: the backlog, oldest first. ``cursor`` is where the
    backlog starts from after a reset (0) or as asked.
    """

    cursor: int
    events: list[Event]
    reset: dict[str, int] | None = None
    gap: Gap | None = None

    def notes(self) -> dict[str, Any]:
        """The reset and gap as JSON fields, present only when there is news: what a polling
        answer carries beside its ``events``, and what :meth:`rtlab.net.client.Client.take_notes` reads."""
        notes: dict[str, Any] = {}
        if self.reset is not None:
            notes["reset"] = self.reset
        if self.gap is not None:
            notes["gap"] = self.gap.note()
        return notes

    @property
    def last_seq(self) -> int:
        """The seq a client's cursor reaches once it has taken all of this in."""
        if self.events:
            return self.events[-1].seq
        return self.gap.last_missing if self.gap else self.cursor


class SubscriberOverflow(Exception):
    """A subscriber fell ``queue_size`` events behind and was dropped (see the policy above)."""


@dataclass(eq=False)  # compared by identity, so it can live in a set
class Subscription:
    """A bounded queue of events for one pushing connection. Iterate it with ``async for``."""

    hub: Hub
    queue_size: int
    queue: deque[Event] = field(default_factory=deque)
    overflowed: bool = False
    closed: bool = False
    _wakeup: asyncio.Future[None] | None = None

    def _deliver(self, event: Event) -> None:
        if self.overflowed or self.closed:
            return
        if len(self.queue) >= self.queue_size:
            self.overflowed = True  # the policy: drop this subscriber, keep memory bounded
            self.queue.clear()
            self.hub.dropped += 1
        else:
            self.queue.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or ``None`` after ``timeout`` seconds (time for a keep-alive)."""
        while not self.queue:
            if self.overflowed:
                raise SubscriberOverflow(
                    f"client fell {self.queue_size} events behind; reconnect and resume"
                )
            if self.closed:
                raise StopAsyncIteration
            loop = asyncio.get_running_loop()
            self._wakeup = loop.create_future()
            # The timeout resolves the same future as an event does. (asyncio.wait_for would
            # add a second future and one more loop round per event, per subscriber: a cost
            # that benchmarks/fanout.py sees with 1,000 subscribers.)
            timer = None if timeout is None else loop.call_later(timeout, self._wake)
            try:
                await self._wakeup
            finally:
                self._wakeup = None
                if timer is not None:
                    timer.cancel()
            if not self.queue and not self.overflowed and not self.closed:
                return None  # the timeout passed with nothing new
        return self.queue.popleft()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        event = None
        while event is None:
            event = await self.get()
        return event

    def close(self) -> None:
        self.closed = True
        self.hub._subscribers.discard(self)
        self._wake()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hub:
    """Publish events; replay them after a ``seq``; wait for new ones; push to subscribers."""

    def __init__(self, replay: int = 10_000, queue_size: int = 1_000) -> None:
        if replay < 1 or queue_size < 1:
            raise ValueError("replay and queue_size must be at least 1")
        self.replay = replay
        self.queue_size = queue_size
        self.buffer: deque[Event] = deque(maxlen=replay)
        self.latest_seq = 0
        self.state: dict[str, Any] = {}  # the latest payload of each event type: what short polling shows
        self._subscribers: set[Subscription] = set()
        self.dropped = 0  # subscribers dropped so far for falling queue_size events behind
        self._changed: asyncio.Future[None] | None = None
        self.closed = False

    # -- publishing -----------------------------------------------------------------
    def publish(self, type: str, data: Any = None, sent_ns: int | None = None) -> Event:
        """Number the event, keep it for replay, wake waiters, push to subscribers."""
        if self.closed:
            raise RuntimeError("this hub is closed (its server was stopped)")
        self.latest_seq += 1
        event = Event(self.latest_seq, type, data, time.monotonic_ns() if sent_ns is None else sent_ns)
        self.buffer.append(event)
        self.state[type] = data
        for sub in list(self._subscribers):
            sub._deliver(event)
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None
        return event

    # -- reading --------------------------------------------------------------------
    @property
    def oldest_seq(self) -> int:
        """The oldest ``seq`` still in the replay buffer (``latest_seq + 1`` when empty)."""
        return self.buffer[0].seq if self.buffer else self.latest_seq + 1

    def after(self, since: int, limit: int | None = None) -> list[Event]:
        """The events with ``seq > since`` (at most ``limit``), or :class:`Gap` if some are gone."""
        if since >= self.latest_seq:
            return []
        if since + 1 < self.oldest_seq:
            raise Gap(since, self.oldest_seq)
        start = since + 1 - self.oldest_seq  # seqs are consecutive, so this is an index
        stop = len(self.buffer) if limit is None else min(len(self.buffer), start + limit)
        return [self.buffer[i] for i in range(start, stop)]

    def reset_note(self, since: int) -> dict[str, int] | None:
        """If ``since`` is *ahead* of this stream, the note telling the client so; else ``None``.

        A cursor can only be ahead when it came from another stream: the server was replaced,
        or restarted without keeping its log, and numbers from 1 again. Waiting for seq
        ``since + 1`` would silently skip the new stream's first events, so the transports
        say "reset" and start the client over from seq 1 instead.
        """
        if since > self.latest_seq:
            return {"cursor": since, "latest": self.latest_seq}
        return None

    def resume(self, since: int, limit: int | None = None) -> Resume:
        """Everything a client resuming from ``since`` must be told: reset, gap, backlog.

        The one rule every transport follows (see the module docstring). A subscriber
        should subscribe *before* calling this, so that no event falls between the backlog
        and the live stream.
        """
        reset = self.reset_note(since)
        if reset is not None:
            since = 0
        try:
            return Resume(since, self.after(since, limit), reset)
        except Gap as gap:
            return Resume(since, self.after(self.oldest_seq - 1, limit), reset, gap)

    async def wait_after(self, since: int, timeout: float) -> bool:
        """Wait until an event newer than ``since`` exists. ``False`` if ``timeout`` passed first.

        The waiter is registered *before* the buffer is checked. In this single-threaded
        loop nothing can run between the two anyway, but in a real system the check is
        often a database read with an ``await`` in it — and an event published in that
        window would be missed until the next timeout (Apollo registers first for this
        reason).
        """
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        changed = self._changed  # registered
        if self.latest_seq > since or self.closed:  # then checked
            return True
        try:
            await asyncio.wait_for(asyncio.shield(changed), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def subscribe(self, queue_size: int | None = None) -> Subscription:
        """A new bounded queue that receives every event published from now on."""
        if self.closed:
            raise RuntimeError("this hub is closed (its server was stopped)")
        sub = Subscription(self, queue_size or self.queue_size)
        self._subscribers.add(sub)
        return sub

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        """End every subscription and wake every waiter: the server is going away."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.close()
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
