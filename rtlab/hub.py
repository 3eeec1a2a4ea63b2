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

All methods must be called on the loop that owns the hub (the server's loop);
:meth:`rtlab.server.Server.publish` is the thread-safe way in.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One event: its number in the stream, its type, a JSON payload, when it was published."""

    seq: int
    type: str
    data: Any
    sent_ns: int  # time.monotonic_ns() at publish: comparable across processes on one machine

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "data": self.data, "sent_ns": self.sent_ns}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(int(d["seq"]), str(d["type"]), d.get("data"), int(d["sent_ns"]))


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
