"""The hub's second backend: the event log in a Redis (or Valkey) broker, shared by many processes.

With ``serve(..., broker="redis://127.0.0.1:6379")`` a server's hub no longer numbers events
itself. The log lives in the broker, as a Redis Stream (the key layout is in
:mod:`rtlab.wire.broker`), and every server process on that broker — a *gateway* — serves the
same stream::

    quiz service ──XADD (a script: INCR seq, XADD "<seq>-0", HSET state)──► Redis Stream
                                                                      │ XREAD BLOCK from "<seq>-0"
                          ┌───────────────────────┬───────────────────┴───────────┐
                       gateway 1               gateway 2                     gateway 3
                    (LogHub: a copy of the last `replay` events, pushed to its own clients)

* **One numbering.** Publishing (from any gateway, or a quiz service with no server at all:
  :mod:`rtlab.net.broker_publisher`) runs one Lua script in the broker that takes the next
  seq from a counter and appends entry ``<seq>-0``. The broker runs scripts one at a time, so seqs are
  never taken twice, and every gateway sees 1, 2, 3 … in the same order.
* **Followers read from an explicit id, never ``$``.** Each gateway loops on
  ``XREAD BLOCK 1000 STREAMS key <its latest seq>-0``. ``$`` means "entries added after this
  command arrives": an entry added between two reads (while the gateway was pushing the last
  batch) would be skipped, silently. An explicit id means "everything after this one", so
  nothing added in between is lost, and a reconnecting follower catches up by itself.
* **A restarted process continues the stream**: it loads the tail of the log (``XREVRANGE``,
  ``replay`` events) and the state hash, then follows from there. A client's cursor — a seq —
  is a stream position, so it resumes on *any* gateway, and gets each event exactly once.
* **Exactly once into the log, too.** A publisher numbers its own batches; the script skips
  a batch it already wrote, so a publish retried after a lost answer is not appended twice.
* **The stream's identity** is an id drawn once and kept in the broker (``SET NX``): every
  gateway, and every process started later on the same broker, has the same one, and a
  broker whose data was wiped draws a new one. It is the hub's *epoch* (:mod:`rtlab.hub`,
  "Stream identity"), so the resume tokens ``<epoch>-<seq>`` that one gateway hands out are
  good on every other, and a token from another stream gets a reset on all of them.
* **A cursor ahead of this gateway's copy is not a reset here** when its token names this
  stream: on a shared log it means this gateway's follower is a few events behind another's,
  so the client simply waits for them (the live subscription delivers them). A token from
  *another* stream is told apart by its epoch, not by its number, and is reset.
* **The broker going away** does not drop a gateway's clients: the follower retries every
  quarter second, :meth:`BrokerLink.status` says ``"down"`` (and ``GET /broker`` on the
  gateway answers it, a log line says it), and when the broker is back the follower reads
  on from its last id and every client catches up. Publishes wait in a bounded queue.
* **A broker that lost the stream** (restarted without its append-only file, or wiped) is
  told by the stream id: gone, or another. The follower checks it after an outage and on
  every quiet second; reading on from its old seq would splice the new stream onto the old
  one, so the gateway starts over under the new id and drops its clients, who come back and
  are told (a reset).

Durability is the broker's: rtlab starts one with an append-only file
(:mod:`rtlab.net.broker_process`), so a restarted broker keeps the stream.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..hub import Event, Hub, new_epoch
from ..wire.broker import APPEND_SCRIPT, Keys, decode_entry, encode_fields, entry_id, split_url
from ..wire.event import encode_payload, freeze

__all__ = ["BrokerLink", "BrokerLog", "LogHub", "LogWriter", "MAX_PENDING_PUBLISHES"]

LOG = logging.getLogger("rtlab.broker")
BLOCK_MS = 1_000  # how long one XREAD waits for news before asking again
READ_COUNT = 1_000  # entries per XREAD at most
BATCH = 256  # events per append script at most
RETRY_S = 0.25  # pause between two attempts while the broker is unreachable
MAX_PENDING_PUBLISHES = 100_000  # publishes queued while the broker is down, at most
_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError, asyncio.TimeoutError)


class BrokerLog:
    """One rtlab stream in a broker: append, read the tail, read after a seq. One per loop."""

    def __init__(self, url: str, maxlen: int = 100_000) -> None:
        """Args:
            url: ``redis://host:port/db``, ``unix:///path/to.sock``; ``?stream=NAME`` picks the
                stream (default ``rtlab``).
            maxlen: how many entries the broker keeps (``XADD MAXLEN ~``).
        """
        self.url = url
        redis_url, self.stream = split_url(url)
        self.keys = Keys(self.stream)
        self.maxlen = maxlen
        # socket_timeout must outlast a blocked XREAD; a broker that stops answering is noticed
        # after it. The script object falls back from EVALSHA to EVAL after a broker restart.
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=BLOCK_MS / 1000 + 4,
                                             socket_connect_timeout=2)
        self._append = self.redis.register_script(APPEND_SCRIPT)
        self.stream_id = ""

    async def open(self) -> str:
        """Reach the broker and learn (or draw, the first time) the stream's id; returns it."""
        await self.redis.set(self.keys.epoch, new_epoch(), nx=True)  # the first process to ask draws it
        raw = await self.redis.get(self.keys.epoch)
        self.stream_id = raw.decode()
        return self.stream_id

    async def append(self, producer: str, first: int, events: list[list[str]]) -> list[int]:
        """Append a batch (each ``[type, data_json, sent_ns]``), numbered by the broker; their seqs.

        ``first`` numbers the batch for ``producer`` (1, then 1 + len, ...): a batch sent twice
        is written once (see :data:`rtlab.wire.broker.APPEND_SCRIPT`).
        """
        args: list[Any] = [self.maxlen, producer, first]
        for fields in events:
            args.extend(fields)
        seqs = await self._append(keys=self.keys.for_script(), args=args)
        return [int(s) for s in seqs]

    async def head(self) -> int:
        """The latest seq the broker has handed out (0 for a new stream)."""
        raw = await self.redis.get(self.keys.seq)
        return int(raw or 0)

    async def tail(self, count: int) -> list[Event]:
        """The last ``count`` events, oldest first."""
        entries = await self.redis.xrevrange(self.keys.events, "+", "-", count=count)
        return [decode_entry(eid, fields) for eid, fields in reversed(entries)]

    async def state(self) -> dict[str, str]:
        """The latest payload of each event type, as its JSON text."""
        raw = await self.redis.hgetall(self.keys.state)
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def read_after(self, seq: int, count: int = READ_COUNT,
                         block_ms: int | None = BLOCK_MS) -> list[Event]:
        """The events after ``seq`` — waiting up to ``block_ms`` for one if there are none yet.

        ``XREAD ... STREAMS key <seq>-0``: from an explicit id, never ``$`` (module docstring).
        """
        answer = await self.redis.xread({self.keys.events: entry_id(seq)}, count=count, block=block_ms)
        if not answer:
            return []
        _key, entries = answer[0]
        return [decode_entry(eid, fields) for eid, fields in entries]

    async def wipe(self) -> None:
        """Delete this stream's keys (tests and notebooks: start a fresh stream)."""
        await self.redis.delete(self.keys.events, self.keys.seq, self.keys.state, self.keys.epoch,
                                self.keys.producers, self.keys.answers)

    async def close(self) -> None:
        await self.redis.aclose()


class LogHub(Hub):
    """A hub whose log is the broker's: :meth:`publish` goes to the broker, :meth:`ingest` comes back.

    The replay buffer, the state and the subscriber queues are :class:`~rtlab.hub.Hub`'s, filled
    by the gateway's follower in the order of the log, so every transport serves it unchanged.
    """

    def __init__(self, link: BrokerLink, replay: int, queue_size: int) -> None:
        super().__init__(replay=replay, queue_size=queue_size, epoch=link.log.stream_id)
        self.link = link

    @property
    def stream_id(self) -> str:
        """The stream's id, kept in the broker: this hub's epoch, the same on every gateway."""
        return self.epoch

    def publish(self, type: str, data: Any = None, sent_ns: int | None = None, *,  # type: ignore[override]
                data_json: str | None = None) -> None:
        """Send the event to the broker, which numbers it; it comes back through the follower."""
        if self.closed:
            raise RuntimeError("this hub is closed (its server was stopped)")
        self.link.writer.put(type, data, time.monotonic_ns() if sent_ns is None else sent_ns, data_json)

    def ingest(self, events: list[Event]) -> None:
        """Take events the broker numbered, in order: what :meth:`~rtlab.hub.Hub.publish` does
        after numbering, with the seq from the log.

        A seq this hub already has is skipped (a re-read); a jump past ``latest_seq + 1`` (the
        log was trimmed while this copy was away) empties the replay buffer first, so that a
        cursor inside the jump is told of a :class:`~rtlab.hub.Gap`.
        """
        for event in events:
            if event.seq <= self.latest_seq:
                continue
            if event.seq != self.latest_seq + 1:
                self.buffer.clear()
            self.latest_seq = event.seq
            self.buffer.append(event)
            self.state[event.type] = event.data
            self.state_json[event.type] = event.data_json or encode_payload(event.data)
            for sub in list(self._subscribers):
                sub._deliver(event)
        if events and self._changed is not None and not self._changed.done():
            self._changed.set_result(None)  # wake the long polls waiting in wait_after()
            self._changed = None

    def restart_stream(self, stream_id: str) -> None:
        """The broker's stream was lost: start over empty, and drop every client (they come back)."""
        self.epoch = stream_id  # tokens of the old stream are now another stream's: a reset
        self.buffer.clear()
        self.state.clear()
        self.state_json.clear()
        self.latest_seq = 0
        for sub in list(self._subscribers):
            sub.close()  # the push handlers end and close their connections: clients reconnect
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)  # parked long polls answer now
            self._changed = None

    def load_state(self, texts: dict[str, str]) -> None:
        """The state hash from the broker: each type's latest payload, as JSON text."""
        for type_, text in texts.items():
            self.state[type_], self.state_json[type_] = freeze(text), text

    def reset_note(self, since: int, stream: str | None = None) -> dict[str, Any] | None:
        """No reset for a cursor of this stream that is merely ahead of this copy: it waits."""
        if since > self.latest_seq and (stream is None or stream == self.epoch):
            return None
        return super().reset_note(since, stream)


class LogWriter:
    """Publishes in batches, in order, retrying while the broker is down (idempotently)."""

    def __init__(self, log: BrokerLog, max_pending: int = MAX_PENDING_PUBLISHES) -> None:
        self.log = log
        self.producer = secrets.token_hex(6)  # this writer's name in the producers hash
        self.counter = 0  # events handed to the broker so far (the batches' numbering)
        self.pending: deque[list[str]] = deque()
        self.max_pending = max_pending
        self.refused = 0  # publishes refused because the queue was full
        self.in_flight = 0
        self.written = 0
        self.down_since: float | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rtlab-broker-writer")

    def put(self, type: str, data: Any, sent_ns: int, data_json: str | None = None) -> None:
        if len(self.pending) >= self.max_pending:
            self.refused += 1
            LOG.warning("broker unreachable and %d publishes queued: event refused", self.max_pending)
            return
        self.pending.append(encode_fields(type, data, sent_ns, data_json))
        self._wake.set()

    @property
    def idle(self) -> bool:
        return not self.pending and not self.in_flight

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending:
                batch = [self.pending.popleft() for _ in range(min(BATCH, len(self.pending)))]
                first, self.counter = self.counter + 1, self.counter + len(batch)
                self.in_flight = len(batch)
                while True:  # the same batch, the same numbers, until the broker takes it
                    try:
                        await self.log.append(self.producer, first, batch)
                        break
                    except _DOWN as exc:
                        self.down_since = self.down_since or time.monotonic()
                        LOG.debug("append failed (%r): retrying", exc)
                        await asyncio.sleep(RETRY_S)
                self.down_since = None
                self.in_flight = 0
                self.written += len(batch)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class BrokerLink:
    """What a gateway runs on its loop: the log, a writer, and the follower that fills its hub."""

    def __init__(self, url: str, replay: int, queue_size: int, name: str = "gateway") -> None:
        self.log = BrokerLog(url, maxlen=max(100_000, replay))
        self.writer = LogWriter(self.log)
        self.replay, self.queue_size = replay, queue_size
        self.hub: LogHub = None  # type: ignore[assignment]  # made in open(), once the stream's id is known
        self.name = name
        self.down_since: float | None = None
        self.outages = 0
        self.caught_up = 0  # events read in the first answer after an outage, in all
        self.streams_lost = 0  # times the broker came back without this stream (see _check_stream)
        self._quiet = False  # the last read found nothing new: time to check the stream is ours
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, *, replay: int = 10_000, queue_size: int = 1_000,
                   name: str = "gateway") -> BrokerLink:
        """Reach the broker, load the tail of the log and the state, start following."""
        link = cls(url, replay, queue_size, name)
        try:
            await link.log.open()
            tail = await link.log.tail(replay)
            state = await link.log.state()
        except _DOWN as exc:
            await link.log.close()
            raise ConnectionError(f"cannot reach the broker at {url}: {exc}") from None
        link.hub = LogHub(link, replay, queue_size)  # its epoch: the stream's id, from the broker
        link.hub.ingest(tail)
        link.hub.load_state(state)
        link.writer.start()
        link._task = asyncio.get_running_loop().create_task(link._follow(), name="rtlab-broker-follower")
        return link

    async def _follow(self) -> None:
        hub = self.hub
        while not hub.closed:
            try:
                if self.down_since is not None or self._quiet:
                    await self._check_stream()  # back after an outage, or a quiet second: same stream?
                events = await self.log.read_after(hub.latest_seq)
                self._quiet = not events
            except _DOWN as exc:
                if self.down_since is None:
                    self.down_since = time.monotonic()
                    self.outages += 1
                    LOG.warning("%s: broker %s unreachable (%s); keeping %d clients, retrying",
                                self.name, self.log.url, type(exc).__name__, hub.subscriber_count)
                await asyncio.sleep(RETRY_S)
                continue
            except RedisError as exc:  # an answer we cannot use: say so, slow down, go on
                LOG.warning("%s: broker error %r", self.name, exc)
                await asyncio.sleep(RETRY_S)
                continue
            if self.down_since is not None:
                LOG.warning("%s: broker back after %.1f s; catching up from seq %d (%d events)",
                            self.name, time.monotonic() - self.down_since, hub.latest_seq, len(events))
                self.caught_up += len(events)
                self.down_since = None
            hub.ingest(events)

    async def _check_stream(self) -> None:
        """If the broker no longer holds this stream (restarted without its data, or wiped), serve
        the new one: reading on from ``<latest seq>-0`` would splice the new stream onto the old.

        The stream's id tells: it is gone, or another, when the stream was lost. The hub then
        starts over empty under the new id, and its clients are disconnected, so that they
        come back, are told (a reset) and start the new stream from seq 1.
        """
        raw = await self.log.redis.get(self.log.keys.epoch)
        if raw is not None and raw.decode() == self.log.stream_id:
            return
        old = self.log.stream_id
        new = await self.log.open()
        LOG.warning("%s: the broker lost stream %s (restarted without its data, or wiped); serving "
                    "stream %s from seq 1, and %d clients start over", self.name, old, new,
                    self.hub.subscriber_count)
        self.streams_lost += 1
        self.hub.restart_stream(new)

    def status(self) -> dict[str, Any]:
        """``{"broker": "up"|"down", ...}``: what ``GET /broker`` answers."""
        now = time.monotonic()
        down = self.down_since if self.down_since is not None else self.writer.down_since
        return {"broker": "down" if down is not None else "up",
                "down_for_s": round(now - down, 3) if down is not None else 0.0,
                "url": self.log.url, "stream": self.log.stream, "stream_id": self.log.stream_id,
                "latest_seq": self.hub.latest_seq, "clients": self.hub.subscriber_count,
                "outages": self.outages, "streams_lost": self.streams_lost,
                "publishes_queued": len(self.writer.pending),
                "publishes_refused": self.writer.refused}

    async def handle_status(self, request: web.Request) -> web.Response:
        return web.json_response(self.status(), headers={"Cache-Control": "no-store"})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # Publishes accepted but not yet written get a moment to reach the broker.
        deadline = time.monotonic() + 2
        while not self.writer.idle and self.writer.down_since is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await self.writer.close()
        await self.log.close()
