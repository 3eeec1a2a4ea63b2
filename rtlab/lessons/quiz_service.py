"""The quiz service behind a cluster's gateways: it asks, it collects the answers, it scores.

Questions go down the event stream through the broker (a :class:`~rtlab.net.broker_publisher.
BrokerPublisher`); answers come up through the broker's answers stream
(:mod:`rtlab.net.answers`), read from a cursor on the publisher's loop. The service is the one
that decides: each player's *first* answer to a question counts, and only while the question is
open — an answer that reaches the service after the result went out is counted as ``late``,
whatever the gateway that took it believed.

It publishes like a publisher, so a :class:`rtlab.lessons.feed.Feed` can drive it with
:func:`rtlab.lessons.cluster.quiz_service`'s stream (that is what ``python -m rtlab publish``
runs); a ``result`` it publishes carries the counts, how many answered, were right or late, and
the top of the leaderboard.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from ..net.answers import AnswerReader
from ..net.broker_publisher import BrokerPublisher

__all__ = ["LEADERBOARD", "QuizService"]

LEADERBOARD = 10  # players in the leaderboard a result carries (thousands of names would be a big event)


class QuizService:
    """Publish questions and results into a broker's stream; score the answers coming back."""

    def __init__(self, url: str, name: str = "quiz-service") -> None:
        """Args:
            url: the broker URL of the cluster's stream (``redis://…?stream=NAME``).
            name: the publisher's thread name.
        """
        self.url = url
        self.publisher = BrokerPublisher(url, name=name)
        self.reader: AnswerReader | None = None
        self.current: int | None = None  # the open question's id
        self.next_id = 1  # the first id this stream has not used for a question (see quiz_service())
        self.choices = 0
        self.answers: dict[int, dict[str, int]] = {}  # question -> player -> choice (first answers)
        self.scores: dict[str, int] = {}
        self.late = 0  # answers that arrived after their question's result
        self.repeated = 0  # second answers of a player to one question (not counted)
        self.round_trips_ms: list[float] = []  # player's send -> scored here, per counted answer
        self.results: list[dict[str, Any]] = []  # every result published, as sent
        self._lock = threading.Condition()  # answers are scored on the publisher's loop, read from cells
        self._task: asyncio.Task[None] | None = None

    def start(self) -> QuizService:
        self.publisher.start()
        self.publisher.call(self._start())
        return self

    async def _start(self) -> None:
        # A service started again (a crash, a deploy) finds the open question in the stream's
        # state, and reads the answers from the start of the answers stream: none is lost.
        state = await self.publisher.log.state() if self.publisher.log else {}
        asked, result = (json.loads(state.get(k, "null")) for k in ("question", "result"))
        if isinstance(asked, dict):
            self.next_id = asked["id"] + 1
        closed = result.get("question") if isinstance(result, dict) else None
        if isinstance(asked, dict) and closed != asked["id"]:
            self.current, self.choices = asked["id"], len(asked["choices"])
            self.answers.setdefault(asked["id"], {})
        self.reader = AnswerReader(self.url)
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="rtlab-quiz-answers")

    @property
    def running(self) -> bool:
        return self.publisher.running

    @property
    def stream_id(self) -> str:
        return self.publisher.stream_id

    async def _follow(self) -> None:
        assert self.reader is not None
        while True:
            try:
                answers = await self.reader.read()
            except Exception:  # noqa: BLE001 - the broker away: keep the cursor, try again
                await asyncio.sleep(0.25)
                continue
            if answers:
                self.score(answers)

    def score(self, answers: list[dict[str, Any]]) -> None:
        """Count each player's first answer to the open question; the rest are late or repeats."""
        with self._lock:
            for a in answers:
                if a["question"] != self.current:
                    self.late += a["question"] in self.answers  # an old question; unknown ones: neither
                    continue
                given = self.answers[a["question"]]
                if a["player"] in given:
                    self.repeated += 1
                    continue
                given[a["player"]] = a["choice"]
                if a["sent_ns"]:
                    self.round_trips_ms.append((a["read_ns"] - a["sent_ns"]) / 1e6)
            self._lock.notify_all()

    # -- publishing, as a publisher does (a Feed can drive it) ---------------------------------------
    def publish(self, type: str, data: Any = None, sent_ns: int | None = None) -> None:
        """Publish an event; a ``question`` opens it for answers, a ``result`` closes and scores it."""
        if type == "question":
            with self._lock:
                self.current, self.choices = data["id"], len(data["choices"])
                self.answers.setdefault(data["id"], {})
                self.next_id = max(self.next_id, data["id"] + 1)
        elif type == "result":
            data = self._close(data["question"], data["answer"])
        self.publisher.publish(type, data, sent_ns)

    def _close(self, question: int, answer: int) -> dict[str, Any]:
        with self._lock:
            if self.current == question:
                self.current = None  # from now on its answers are late
            given = self.answers.get(question, {})
            counts = [0] * max(self.choices, answer + 1)
            for player, choice in given.items():
                if 0 <= choice < len(counts):
                    counts[choice] += 1
                if choice == answer:
                    self.scores[player] = self.scores.get(player, 0) + 1
            top = sorted(self.scores.items(), key=lambda kv: (-kv[1], kv[0]))[:LEADERBOARD]
            right = counts[answer] if answer < len(counts) else 0
            self.results.append({"question": question, "answer": answer, "counts": counts,
                                 "answered": len(given), "right": right, "late": self.late,
                                 "leaderboard": top})
            return self.results[-1]

    def wait_for_answers(self, count: int, timeout: float = 10) -> int:
        """Block until ``count`` answers to the open question are scored (or ``timeout``); how many are."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.answers.get(self.current or 0, ())) >= count, timeout)
            return len(self.answers.get(self.current or 0, ()))

    def flush(self, timeout: float = 10) -> bool:
        return self.publisher.flush(timeout)

    def call(self, coro: Any, timeout: float = 15) -> Any:
        return self.publisher.call(coro, timeout)

    @property
    def log(self) -> Any:
        return self.publisher.log

    def stop(self) -> None:
        if self.publisher.running:
            async def close() -> None:
                if self._task is not None:
                    self._task.cancel()
                    await asyncio.gather(self._task, return_exceptions=True)
                if self.reader is not None:
                    await self.reader.close()
            try:
                self.publisher.call(close(), timeout=10)
            except Exception:  # noqa: BLE001 - stopping must not fail
                pass
        self.publisher.stop()

    def __enter__(self) -> QuizService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
