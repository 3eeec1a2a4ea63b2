"""The event hub: numbered events, a bounded replay buffer, bounded subscriber queues.

Every server owns one hub, and every transport reads from it in its own way:

* short polling asks for :attr:`Hub.state` (and the events after a cursor),
* long polling waits with :meth:`Hub.wait_after` until something is newer than its cursor,
* SSE and WebSocket :meth:`Hub.subscribe` and push each event as it comes.

Each event gets the next ``seq`` (1, 2, 3, ...). A client that remembers the last ``seq`` it saw
can resume with :meth:`Hub.after` — the idea behind SSE's ``Last-Event-ID``, Apollo's
``notificationId`` and Kafka's offsets.

Memory is bounded everywhere a client could grow it:

* the replay buffer keeps the last ``replay`` events; a client asking for older ones gets
  :class:`Gap` — told, never silently skipped;
* each subscriber has a queue of ``queue_size`` events. **Overflow policy:** a subscriber whose
  queue is full is *dropped*: its iterator raises :class:`SubscriberOverflow`, the transport
  closes the connection with a clear reason, and the client reconnects and resumes from the
  replay buffer. A slow client costs at most ``queue_size`` events of memory and loses nothing
  as long as it comes back within ``replay`` events. The queue is only for connections that
  are *behind*: one that is caught up is written to by the publish itself (:mod:`rtlab.net.fanout`).

**One resume rule.** Every transport answers a returning client the same way, through
:meth:`Hub.resume`: first a *reset* if the cursor came from another stream, then a *gap* if
some events are older than the replay buffer, then the *backlog* of events after the
cursor. The transports only choose how to write these three down (an SSE ``event: reset``,
a WebSocket ``{"type": "gap"}``, a ``"gap"`` field in a polling answer); the rule for the
client's cursor on the other end is in :class:`rtlab.net.client.Client`. Cursors arrive
as text (a query string, a header) and are read by one function, :func:`parse_token`
(:mod:`rtlab.wire.cursor`: the resume token is a wire format).

**Stream identity (the epoch).** A seq only means something within one stream: a server
that restarts without its log numbers from 1 again, and a client's ``since=5`` from the old
stream would be taken for the new stream's 5 — silently, if the new stream is already past
5 (the client then carries on with seqs that look perfect and half of which came from another
stream). So every hub has a random :attr:`Hub.epoch` (8 hex digits, new for every hub), and
every *resume token* a server hands out carries it: ``<epoch>-<seq>``, e.g. ``3f9a1c02-17`` —
the SSE ``id:`` of each event (so a browser's ``lastEventId`` and its ``Last-Event-ID``
header carry it with no client code), the ``stream`` field of every polling answer and of
the WebSocket ``{"type": "hello"}`` (``?hello=1``); rtlab's clients send it back in ``?since=``.
:meth:`Hub.resume` resets a client whose token names another epoch, whether the new stream
is behind or ahead of it. The epoch is a plain constructor argument: a hub whose log lives
in a broker (issue 14: Redis) passes the log's own id, so that every process serving that
log hands out and accepts the same tokens, and a log that is wiped gets a new one.

A *bare* number, without an epoch, is treated by where it comes from:

* ``?since=N`` is something a person types (``curl``, notebook 02's ``since=<latest>``), so it is
  taken as a seq of *this* stream — reset only if it is ahead of it, as before. rtlab's own clients
  always send the epoch form, so this leniency never applies to them;
* ``Last-Event-ID: N`` is by definition an id a server sent, and this server's ids all carry the
  epoch: a bare one came from another server (an old version, a restarted process) or was made up
  (``curl -H 'Last-Event-ID: 5'``). It gets a reset: resending the replay buffer costs a little,
  splicing two streams costs correctness. ``0`` and empty mean "from the start" (no reset).

All methods must be called on the loop that owns the hub (the server's loop);
:meth:`rtlab.net.server.Server.publish` is the thread-safe way in, and
:meth:`rtlab.net.server.Server.read` the thread-safe way to look.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .wire.cursor import MAX_CURSOR_DIGITS, UNKNOWN_STREAM, new_epoch, parse_cursor, parse_token, valid_epoch
from .wire.cursor import format_token as format_token
from .wire.event import BadEvent, Event, check_type, encode_payload, freeze

__all__ = ["MAX_CURSOR_DIGITS", "UNKNOWN_STREAM", "BadEvent", "Event", "Gap", "Hub", "Resume",
           "SubscriberOverflow", "Subscription", "format_token", "new_epoch", "parse_cursor", "parse_token"]


class Gap(Exception):
    """The events after ``since`` are no longer in the replay buffer.

    ``first_missing``..``last_missing`` were lost to this client; the buffer starts at
    ``last_missing + 1``. Transports turn this into an explicit message to the client.
    """

    def __init__(self, since: int, oldest: int) -> None:
        self.first_missing = since + 1
        self.last_missing = oldest - 1
        super().__init__(f"events {self.first_missing}..{self.last_missing} are older than the "
                         f"replay buffer (it starts at {oldest})")

    def note(self) -> dict[str, int]:
        """The gap as every transport writes it down: ``{"first_missing": ..., "last_missing": ...}``."""
        return {"first_missing": self.first_missing, "last_missing": self.last_missing}


@dataclass(frozen=True)
class Resume:
    """What a client coming back with a cursor is owed, in the order a server sends it.

    ``reset``: the cursor came from another stream; the client must start over from seq 1 (see
    :meth:`Hub.reset_note`). ``gap``: events the replay buffer no longer holds. ``events``: the
    backlog, oldest first. ``cursor`` is where it starts from after a reset (0) or as asked.
    """

    cursor: int
    events: list[Event]
    reset: dict[str, Any] | None = None
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
    """A bounded queue of events for one pushing connection (``async for``). ``direct`` writes an
    event to its socket now, if it can (:mod:`rtlab.net.fanout`); ``sent_seq``: the last seq sent."""

    hub: Hub
    queue_size: int
    queue: deque[Event] = field(default_factory=deque)
    overflowed: bool = False
    closed: bool = False
    _wakeup: asyncio.Future[None] | None = None
    direct: Callable[[Event], bool] | None = None
    sent_seq: int = 0

    def _deliver(self, event: Event) -> None:
        if self.overflowed or self.closed:
            return
        # The fan-out rule: a connection that is caught up (its handler parked in get(), nothing
        # queued) is written to now, by the broadcast itself: no task woken per connection. One
        # that is behind, or whose socket is full, gets the event queued for its handler.
        wakeup = self._wakeup  # a pending future while the handler is parked in get()
        if self.direct is not None and not self.queue and wakeup is not None and not wakeup.done():
            if event.seq <= self.sent_seq:
                return  # it had this one already, in the backlog it was resumed with
            if self.direct(event):
                self.sent_seq = event.seq
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
                raise SubscriberOverflow(f"client fell {self.queue_size} events behind; reconnect and resume")
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
        self.direct = None  # it holds the connection; the subscription may outlive it
        self.hub._subscribers.discard(self)
        self._wake()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hub:
    """Publish events; replay them after a ``seq``; wait for new ones; push to subscribers."""

    def __init__(self, replay: int = 10_000, queue_size: int = 1_000, epoch: str | None = None) -> None:
        """A hub with an empty stream.

        Args:
            replay: how many recent events are kept for clients that resume.
            queue_size: how far a subscriber may fall behind before it is dropped.
            epoch: this stream's id (see "Stream identity" above); ``None`` draws a random
                one. A hub backed by a durable log passes the log's id instead.
        """
        if replay < 1 or queue_size < 1:
            raise ValueError("replay and queue_size must be at least 1")
        if epoch is not None and not valid_epoch(epoch):
            raise ValueError(f"epoch must be 1-64 characters of A-Z a-z 0-9 . _ : ; got {epoch!r:.70}")
        self.epoch = epoch or new_epoch()
        self.replay = replay
        self.queue_size = queue_size
        self.buffer: deque[Event] = deque(maxlen=replay)
        self.latest_seq = 0
        self.state: dict[str, Any] = {}  # the latest payload of each event type: what short polling shows
        self.state_json: dict[str, str] = {}  # the same payloads as JSON text, encoded once at publish
        self._subscribers: set[Subscription] = set()
        self.dropped = 0  # subscribers dropped so far for falling queue_size events behind
        self._changed: asyncio.Future[None] | None = None
        self.closed = False

    # -- publishing -----------------------------------------------------------------
    def publish(self, type: str, data: Any = None, sent_ns: int | None = None, *,
                data_json: str | None = None) -> Event:
        """Number the event, keep it for replay, wake waiters, push to subscribers.

        The event is checked first (:func:`rtlab.wire.event.encode_payload`): a payload that
        cannot go on the wire raises :class:`BadEvent` here and never enters the stream.

        Args:
            type: the event's type, a one-line string.
            data: its JSON payload; a private copy is kept (changing ``data`` later changes nothing).
            sent_ns: the publish time (``time.monotonic_ns()``); now if ``None``.
            data_json: the payload already encoded and checked, with ``data`` its frozen copy
                (what :meth:`rtlab.net.server.Server.publish` passes, having done both in
                the publisher's thread).
        """
        if self.closed:
            raise RuntimeError("this hub is closed (its server was stopped)")
        if data_json is None:
            check_type(type)
            data_json = encode_payload(data)
            data = freeze(data_json)
        self.latest_seq += 1
        event = Event(self.latest_seq, type, data, time.monotonic_ns() if sent_ns is None else sent_ns,
                      data_json)
        self.buffer.append(event)
        self.state[type] = data
        self.state_json[type] = data_json
        for sub in list(self._subscribers):
            sub._deliver(event)
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None
        return event

    def token(self, seq: int | None = None) -> str:
        """The resume token for ``seq`` (the latest if ``None``) in this stream: ``<epoch>-<seq>``."""
        return format_token(self.epoch, self.latest_seq if seq is None else seq)

    def state_text(self) -> str:
        """:attr:`state` as a JSON object, from the payloads' text encoded at publish."""
        return "{" + ",".join(f"{json.dumps(t, ensure_ascii=False)}:{j}"
                              for t, j in self.state_json.items()) + "}"

    # -- reading --------------------------------------------------------------------
    @property
    def oldest_seq(self) -> int:
        """The oldest ``seq`` still in the replay buffer (``latest_seq + 1`` when empty)."""
        return self.buffer[0].seq if self.buffer else self.latest_seq + 1

    def after(self, since: int, limit: int | None = None, max_bytes: int | None = None) -> list[Event]:
        """The events with ``seq > since``, oldest first, or :class:`Gap` if some are gone.

        Args:
            since: the client's cursor.
            limit: at most this many events.
            max_bytes: at most this many bytes of event JSON — but always at least one event,
                so a client behind one huge event still gets it. A polling answer is bounded
                in bytes, not only in count: 1,000 events of 2 kB are 2 MB per answer.
        """
        if since >= self.latest_seq:
            return []
        if since + 1 < self.oldest_seq:
            raise Gap(since, self.oldest_seq)
        start = since + 1 - self.oldest_seq  # seqs are consecutive, so this is an index
        stop = len(self.buffer) if limit is None else min(len(self.buffer), start + limit)
        if max_bytes is None:
            return [self.buffer[i] for i in range(start, stop)]
        events: list[Event] = []
        size = 0
        for i in range(start, stop):
            event = self.buffer[i]
            size += len(event.to_json()) + 1
            if events and size > max_bytes:
                break
            events.append(event)
        return events

    def reset_note(self, since: int, stream: str | None = None) -> dict[str, Any] | None:
        """If a client resuming from ``since`` (of ``stream``) must start over, the note telling it so.

        Two cases (see "Stream identity" above): the token names another stream, or — for a bare
        cursor, which is taken as this stream's — it is *ahead* of this stream, so it can only have
        come from another one. Waiting for seq ``since + 1`` would silently skip the new stream's
        first events, so the transports say "reset" and start the client over from seq 1 instead.

        Args:
            since: the seq the client has seen.
            stream: the epoch its token carried; ``None`` for a bare cursor.
        """
        foreign = stream is not None and stream != self.epoch
        if since > 0 and (foreign or since > self.latest_seq):
            return {"cursor": since, "latest": self.latest_seq, "stream": self.epoch}
        return None

    def resume(self, since: int, limit: int | None = None, stream: str | None = None,
               max_bytes: int | None = None) -> Resume:
        """Everything a client resuming from ``since`` must be told: reset, gap, backlog.

        The one rule every transport follows (see the module docstring). A subscriber should
        subscribe *before* calling this, so that no event falls between the backlog and the live stream.

        Args:
            since: the client's cursor (0: from the start).
            limit: events in the backlog at most.
            stream: the epoch the client's token carried (``None``: a bare cursor).
            max_bytes: bytes of event JSON in the backlog at most (see :meth:`after`).
        """
        reset = self.reset_note(since, stream)
        if reset is not None:
            since = 0
        try:
            return Resume(since, self.after(since, limit, max_bytes), reset)
        except Gap as gap:
            return Resume(since, self.after(self.oldest_seq - 1, limit, max_bytes), reset, gap)

    async def wait_after(self, since: int, timeout: float) -> bool:
        """Wait until an event newer than ``since`` exists. ``False`` if ``timeout`` passed first.

        The waiter is registered *before* the buffer is checked. In this single-threaded loop
        nothing can run between the two anyway, but in a real system the check is often a database
        read with an ``await`` in it — and an event published in that window would be missed until
        the next timeout (Apollo registers first for this reason).
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
