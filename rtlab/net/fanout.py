"""One broadcast pass: an event written straight to every connection that is caught up.

How an event reaches 1,000 pushing connections decides what a broadcast costs. The simple way
is a task per connection, each waiting on its own queue: a publish puts the event in 1,000
queues and wakes 1,000 tasks, and each task then runs through aiohttp's write on its own turn
of the loop. ``benchmarks/fanout.py`` measured that at about twice the CPU of a bare loop that
writes to each connection in turn. So the pushing servers split their connections in two:

* **caught up** — the connection's handler is parked waiting for the next event, nothing is
  queued for it, and its socket takes bytes (the transport has not asked to pause writing):
  the publish itself writes the event's bytes to the socket, in the one pass it makes over the
  subscribers (:meth:`rtlab.hub.Subscription._deliver` calls a :class:`DirectWrite`). No task
  wakes; the bytes of an event are framed once (:class:`Frames`) and are the same for every
  connection, because a server's WebSocket frames are not masked and an SSE chunk is the same
  text for everyone;
* **behind** — it is still sending its backlog, or its socket is full: the event waits in the
  connection's bounded queue, and its handler (:func:`follow`) writes it with an awaited write,
  which waits for a full socket. This is the old path, and its policy is unchanged: a queue
  that fills is dropped (:class:`rtlab.hub.SubscriberOverflow`), so a slow client costs
  ``queue_size`` events at most and slows nobody else down.

A connection moves between the two by itself: a full socket sends the next event to the queue,
the handler wakes and drains the queue, and once the queue is empty and the handler parks
again, the next event is written directly. The ``websockets`` library's ``broadcast()`` writes
to every open connection the same way, synchronously; unlike it, a connection that is behind
here is never skipped: its events wait in its queue.

**Order and exactly once.** Writes to one socket never overlap: the loop runs one thing at a
time, and a direct write happens only while the handler is parked — after it has sent its
backlog and noted the last seq it sent (``Subscription.sent_seq``), and only when nothing is
queued ahead of the event. Every event at or below ``sent_seq`` is skipped, on both paths.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..hub import Event, Subscription

__all__ = ["DirectWrite", "Frames", "follow"]


class Frames:
    """An event's bytes on the wire (``make(event)``), made once per event for every connection."""

    __slots__ = ("at", "data", "event", "make")

    def __init__(self, make: Callable[[Event], bytes]) -> None:
        self.make = make
        self.event: Event | None = None
        self.data = b""
        self.at = 0.0  # when this broadcast was framed (time.monotonic()): when it went out

    def __call__(self, event: Event) -> bytes:
        if event is not self.event:  # the first connection of this broadcast: frame it
            self.event, self.data, self.at = event, self.make(event), time.monotonic()
        return self.data


class DirectWrite:
    """Writes an event's frame to one connection's socket, if the socket takes it now.

    Returns ``False`` — and the event goes to the connection's queue — when the transport is
    closing, when it has asked to pause writing (its buffer is past the high-water mark: the
    peer reads slower than we write), or when ``ws.closed`` says the protocol is over (a
    WebSocket that has sent its close frame must send nothing after it).
    """

    __slots__ = ("frames", "last_at", "protocol", "transport", "ws")

    def __init__(self, request: Any, frames: Frames, ws: Any = None) -> None:
        """Args:
            request: the connection's aiohttp request (its transport: the byte meter's, so what
                is written here is counted like everything else).
            frames: the event's bytes, shared by every connection of the same kind.
            ws: the connection's ``WebSocketResponse``, if it is one.
        """
        self.transport = request.transport
        self.protocol = request.protocol
        self.frames = frames
        self.ws = ws
        self.last_at = 0.0  # when the last direct write went out: the keep-alive counts from it

    def __call__(self, event: Event) -> bool:
        transport = self.transport
        if transport is None or transport.is_closing() or self.protocol.writing_paused:
            return False
        if self.ws is not None and self.ws.closed:
            return False
        try:
            transport.write(self.frames(event))
        except Exception:  # noqa: BLE001 - one broken socket must not stop the broadcast to the others
            return False  # its handler finds out on its next write, and ends
        self.last_at = self.frames.at
        return True


async def follow(subscription: Subscription, send: Callable[[Event], Awaitable[None]], *, after: int,
                 direct: DirectWrite | None = None, keepalive: float | None = None,
                 idle: Callable[[], Awaitable[None]] | None = None) -> None:
    """A pushing handler's live stream, after its backlog: both paths of the rule above.

    Returns when the subscription ends (the server stopping); raises what ``send`` raises and
    :class:`rtlab.hub.SubscriberOverflow`.

    Args:
        subscription: the connection's, subscribed before its backlog was read.
        send: the awaited write of one event (the path for events that were queued).
        after: the last seq the backlog sent; nothing at or below it is sent again.
        direct: how the broadcast may write to this connection itself; ``None``: never
            (a connection whose frames are its own, e.g. compressed with permessage-deflate).
        keepalive: seconds of silence after which ``idle()`` is awaited (an SSE comment).
        idle: what to send when the stream has been quiet for ``keepalive`` seconds.
    """
    subscription.sent_seq = after
    subscription.direct = direct
    last_out = time.monotonic()  # the last bytes this connection sent, on either path
    try:
        while True:
            timeout = keepalive
            if keepalive is not None:
                if direct is not None and direct.last_at > last_out:
                    last_out = direct.last_at
                # Keep-alive counts from the last bytes sent, direct writes included: a stream
                # quiet for ``keepalive`` seconds gets its comment then, not up to twice as late.
                timeout = max(0.0, last_out + keepalive - time.monotonic())
            try:
                event = await subscription.get(timeout=timeout)
            except StopAsyncIteration:
                return
            if event is None:  # a quiet while: unless direct writes went out meanwhile, say so
                if direct is not None and direct.last_at > last_out:
                    continue  # the broadcast wrote meanwhile: count the silence from then
                if idle is not None:
                    await idle()
                last_out = time.monotonic()
            elif event.seq > subscription.sent_seq:
                await send(event)
                subscription.sent_seq = event.seq
                last_out = time.monotonic()
    finally:
        subscription.direct = None
