"""Answers going up: from the players' gateways, through the broker, to the quiz service.

Questions flow down the event stream (:mod:`rtlab.net.broker`); answers flow the other way, in
a second Redis Stream of the same broker::

    player ──ws {"type": "answer", "data": {"question": 7, "choice": 2}}──► gateway
                                                     │ checks it: its shape, the question open
    player ◄── {"type": "ack", "accepted": true} ────┤ XADD rtlab:{NAME}:answers * player … (batched)
                                                     ▼
    quiz service ◄── XREAD BLOCK from its last id (never "$") ── scores, publishes the result

**Why a stream and not pub/sub.** ``PUBLISH`` delivers to whoever is subscribed at that instant
and forgets: a quiz service that is restarting, or between two reads, loses every answer sent
meanwhile, and nobody is told. A stream keeps them: the service reads from the id it last saw
(as a gateway follows the events), so an answer that reached the broker is scored even if the
service was away; the gateway acks a player only once the broker has the answer. (With several
quiz services sharing the work, a consumer group — ``XREADGROUP``, ``XACK`` — would hand each
answer to one of them; one service needs only a cursor.) The stream is trimmed to the last
:data:`MAX_ANSWERS` answers, so it cannot grow without bound.

**What a gateway refuses, and how** — each with a reply to that player; the connection stays
and nothing else is lost:

* not a JSON object, or no string ``type``: ``{"type": "error"}`` (the WebSocket server);
* bigger than ``max_message_bytes``: close ``1009`` (the WebSocket server);
* ``question`` or ``choice`` not a plain int (``True`` is not 1 here), a choice out of range:
  ``{"type": "ack", "accepted": false, "reason": "malformed: …"}``;
* a question this gateway never saw pushed: ``reason: "unknown question"``; one whose result is
  out: ``reason: "too late"``; the broker down with :data:`MAX_PENDING` answers waiting:
  ``reason: "busy"``.

The gateway's checks use its own copy of the stream, which may be a few milliseconds behind the
service's: an answer sent just as the result goes out can be acked here and still arrive late.
The quiz service decides, and counts those as ``late``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from ..hub import Hub
from .broker import _DOWN, RETRY_S, BrokerLog

__all__ = ["MAX_ANSWERS", "MAX_PENDING", "AnswerGate", "AnswerReader", "check_answer"]

MAX_ANSWERS = 100_000  # answers the broker keeps (XADD MAXLEN ~)
MAX_PENDING = 20_000  # answers a gateway holds while the broker is unreachable, at most
BATCH = 500  # answers per pipelined round trip to the broker at most


def check_answer(data: Any, hub: Hub) -> tuple[int, int, str | None]:
    """``(question, choice, reason)``: ``reason`` is ``None`` for an answer worth forwarding.

    Args:
        data: the message's ``data``: ``{"question": <id>, "choice": <index>}``.
        hub: the gateway's hub: the latest ``question`` and ``result`` it pushed are in its state.
    """
    if not isinstance(data, dict):
        return 0, 0, 'malformed: data must be {"question": <id>, "choice": <index>}'
    question, choice = data.get("question"), data.get("choice")
    if type(question) is not int or type(choice) is not int:  # type(), not isinstance: True is an int
        return 0, 0, "malformed: question and choice must be integers"
    asked = hub.state.get("question")
    current = asked.get("id") if isinstance(asked, dict) else None
    if current is None or question > current or question < 1:
        return question, choice, "unknown question"
    result = hub.state.get("result")
    closed = result.get("question") if isinstance(result, dict) else None
    if question < current or closed == current:
        return question, choice, "too late: its result is out"
    if not 0 <= choice < len(asked.get("choices", ())):
        return question, choice, f"malformed: choice must be 0 to {len(asked.get('choices', ())) - 1}"
    return question, choice, None


class AnswerGate:
    """A gateway's answer hook: check each answer, forward it to the broker in batches, ack it.

    Install it on a WebSocket gateway with a broker (``server.broker``)::

        gate = AnswerGate(server); server.call(gate.start())   # the hook runs on the server's loop
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.log: BrokerLog | None = None
        self.pending: deque[tuple[list[Any], asyncio.Future[None]]] = deque()
        self.forwarded = 0
        self.refused: dict[str, int] = {}  # reason -> answers refused
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> AnswerGate:
        """Open the gateway's own link to the broker and become the server's ``on_message``."""
        self.log = BrokerLog(self.server.broker)
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rtlab-answers")
        self.server.on_message = self.on_message
        return self

    async def on_message(self, player: str, message: dict[str, Any]) -> dict[str, Any]:
        """One message from ``player`` (the name the gateway gave its connection)."""
        if message.get("type") != "answer":
            return {"type": "error", "error": f"this gateway takes answers, not {message['type']!r}"[:200]}
        assert self.server.hub is not None and self._wake is not None
        question, choice, reason = check_answer(message.get("data"), self.server.hub)
        if reason is None and len(self.pending) >= MAX_PENDING:
            reason = "busy: the broker is unreachable; send it again later"
        if reason is not None:
            key = reason.split(":")[0]
            self.refused[key] = self.refused.get(key, 0) + 1
            return {"type": "ack", "accepted": False, "question": question, "reason": reason}
        sent_ns = message.get("sent_ns")
        fields = ["player", player, "question", question, "choice", choice,
                  "sent_ns", sent_ns if type(sent_ns) is int else 0, "gateway", self.server.name]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((fields, done))
        self._wake.set()
        await done  # in the broker: now it is safe to say so
        return {"type": "ack", "accepted": True, "question": question, "choice": choice}

    async def _run(self) -> None:
        assert self.log is not None and self._wake is not None
        key = self.log.keys.answers
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending:
                batch = [self.pending.popleft() for _ in range(min(BATCH, len(self.pending)))]
                while True:  # the same batch until the broker takes it (a retry may add a copy:
                    try:     # the service counts a player's first answer only)
                        async with self.log.redis.pipeline(transaction=False) as pipe:
                            for fields, _ in batch:
                                pipe.xadd(key, dict(zip(fields[::2], fields[1::2], strict=True)),
                                          maxlen=MAX_ANSWERS, approximate=True)
                            await pipe.execute()
                        break
                    except _DOWN:
                        await asyncio.sleep(RETRY_S)
                self.forwarded += len(batch)
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.log is not None:
            await self.log.close()


class AnswerReader:
    """The quiz service's side: read the answers stream from a cursor, oldest first."""

    def __init__(self, url: str) -> None:
        self.log = BrokerLog(url)
        self.last_id = "0-0"  # everything the stream still holds, the first time

    async def read(self, block_ms: int = 1_000, count: int = 5_000) -> list[dict[str, Any]]:
        """The next answers (waiting up to ``block_ms`` for one), each ``{"player", "question",
        "choice", "sent_ns", "gateway", "read_ns"}``."""
        reply = await self.log.redis.xread({self.log.keys.answers: self.last_id}, count=count, block=block_ms)
        now = time.monotonic_ns()
        answers = []
        for _key, entries in reply or ():
            for entry_id, fields in entries:
                self.last_id = entry_id.decode()
                f = {k.decode(): v.decode() for k, v in fields.items()}
                answers.append({"player": f["player"], "question": int(f["question"]),
                                "choice": int(f["choice"]), "sent_ns": int(f["sent_ns"]),
                                "gateway": f.get("gateway", ""), "read_ns": now})
        return answers

    async def close(self) -> None:
        await self.log.close()
