"""The live quiz, the article's WebSocket scenario: a host on the server, scripted players.

:class:`QuizHost` sits on a WebSocket server: it pushes each question to every player,
takes answers coming *up* the same connections, pushes the tally after each one, and the
result at the end. :func:`quiz_players` starts a few scripted players — real WebSocket
clients whose "thinking" is a seeded pause, standing in for people.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from typing import Any

from ..net import connect
from .scenarios import QUESTIONS, quiz_questions

__all__ = ["PLAYERS", "QuizHost", "QuizPlayer", "quiz_players"]


class QuizHost:
    """The live quiz's host, on the server side: asks, tallies answers, pushes the results.

    Plug it into a WebSocket server (it becomes the server's ``on_message`` hook)::

        host = QuizHost(serve("websocket", name="quiz"))
        host.ask()                  # pushes {"type": "question"} to every player, without the answer
        ...                         # players send {"type": "answer", "data": {"question": 1, "choice": 3}}
        host.reveal()               # pushes {"type": "result"}: counts, right answer, who got it

    After accepted answers it pushes a ``tally`` event (the counts so far) to everyone: one
    answer goes up one connection, and every player sees the bars move. Each player's first
    answer counts; the reply to the sender says whether it was accepted.

    What it does not trust (a quiz is a small lesson in server-side validation):

    * **who is answering**: a player is the connection, named by the *server* — the
      ``?client=`` a connection asks for is only a wish, and a second connection asking for
      a name in use gets ``"Ada (2)"`` (see :class:`rtlab.net.websocket.WebSocketServer`). So
      one program cannot answer as a player who is connected, nor lock them out with
      "already answered"; it can only open more connections, each one answer per question;
    * **what the answer is**: ``question`` and ``choice`` must be ints — ``True`` is an int
      to Python (``True == 1``) but not an answer — and ``choice`` one of the choices;
    * **how often the server broadcasts for it**: a burst of answers makes one tally per
      ``tally_interval`` seconds (the first at once, then the latest counts), not one per
      answer: 50 answers from 50 connections are not 50 × N messages to N players. The
      WebSocket server also caps each connection's messages a second.
    """

    def __init__(self, server: Any, seed: int = 0, tally_interval: float = 0.2) -> None:
        """A host for the quiz on ``server``.

        Args:
            server: a running WebSocket server; the host becomes its ``on_message`` hook.
            seed: the order of the questions.
            tally_interval: seconds between two tally broadcasts at most (see above).
        """
        self.server = server
        self.tally_interval = tally_interval
        self._last_tally = 0.0
        self._tally_timer: asyncio.TimerHandle | None = None
        self._questions = itertools.cycle([data for _, data in quiz_questions(seed)])
        self.question: dict[str, Any] | None = None  # the current one, with its answer
        self.answers: dict[str, int] = {}  # player name -> choice, for the current question
        self.scores: dict[str, int] = {}  # player name -> questions answered right
        self.accepting = False  # True from ask() until reveal(): answers after the result do not count
        self._lock = threading.Condition()  # answers arrive on the server's loop, reads come from cells
        server.on_message = self.on_message

    def ask(self) -> dict[str, Any]:
        """Push the next question to every player (the right answer stays on the server)."""
        with self._lock:
            self.question = next(self._questions)
            self.answers = {}
            self.accepting = True
            public = {k: v for k, v in self.question.items() if k != "answer"}
        self.server.publish("question", public)
        return public

    def _counts(self) -> list[int]:
        assert self.question is not None
        counts = [0] * len(self.question["choices"])
        for choice in self.answers.values():
            counts[choice] += 1
        return counts

    def on_message(self, player: str, message: dict[str, Any]) -> dict[str, Any]:
        """The server's hook (runs on the server's loop): one message from ``player``."""
        data = message.get("data") if isinstance(message.get("data"), dict) else {}
        with self._lock:
            question = self.question
            if message["type"] != "answer":
                return {"type": "error",
                        "error": f"the quiz only takes answers, not {message['type']!r}"[:200]}
            asked = data.get("question")
            if question is None or type(asked) is not int or asked != question["id"]:
                return {"type": "ack", "accepted": False, "reason": "not the current question"}
            if not self.accepting:
                return {"type": "ack", "accepted": False, "reason": "too late: the result is out"}
            choice = data.get("choice")
            # type() is int, not isinstance: True and False are ints to Python, not answers.
            if type(choice) is not int or not 0 <= choice < len(question["choices"]):
                return {"type": "ack", "accepted": False,
                        "reason": f"choice must be an int from 0 to {len(question['choices']) - 1}, "
                                  f"got {choice!r:.40}"}
            if player in self.answers:
                return {"type": "ack", "accepted": False, "reason": "you already answered"}
            self.answers[player] = choice
            self._lock.notify_all()
        self._tally_soon()
        return {"type": "ack", "accepted": True, "question": question["id"], "choice": choice}

    def _tally_soon(self) -> None:
        """Broadcast the tally soon — just after the sender's ack, or, if one went out less than
        ``tally_interval`` ago, once when the interval is over, with the counts as they are then."""
        if self._tally_timer is not None:
            return  # one is on its way, and will carry this answer too
        wait = max(0.0, self._last_tally + self.tally_interval - time.monotonic())
        # On the server's loop (the hook runs there); even "now" is the next turn of the loop, so
        # the ack this hook returns is written first: the broadcast writes to sockets at once.
        self._tally_timer = asyncio.get_running_loop().call_later(wait, self._send_tally)

    def _send_tally(self) -> None:
        self._tally_timer = None
        self._last_tally = time.monotonic()
        with self._lock:
            if self.question is None or not self.accepting:
                return  # the result is out: it has the final counts
            tally = {"question": self.question["id"], "counts": self._counts(),
                     "answered": len(self.answers)}
        self.server.publish("tally", tally)

    def wait_for_answers(self, count: int, timeout: float = 10) -> int:
        """Block until ``count`` players answered the current question (or ``timeout``); how many did."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.answers) >= count, timeout)
            return len(self.answers)

    def reveal(self) -> dict[str, Any]:
        """Push the result of the current question to every player, and return it."""
        with self._lock:
            if self.question is None:
                raise RuntimeError("no question yet: call ask() first")
            self.accepting = False
            answer = self.question["answer"]
            right = sorted(p for p, c in self.answers.items() if c == answer)
            for player in self.answers:
                self.scores[player] = self.scores.get(player, 0) + (player in right)
            result = {"question": self.question["id"], "answer": answer, "counts": self._counts(),
                      "answered": len(self.answers), "right": right,
                      "leaderboard": sorted(self.scores.items(), key=lambda kv: (-kv[1], kv[0]))}
        self.server.publish("result", result)
        return result


PLAYERS = ["Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Radia"]


class QuizPlayer:
    """A simulated player: a real WebSocket client that answers every question pushed to it.

    It knows the right answer with probability ``skill`` and guesses otherwise, after a
    seeded 0.1–0.8 s of "thinking" — a person's delay, not the network's — so answers
    trickle in the way people's do and the tally is worth watching.
    """

    def __init__(self, url: str, name: str, skill: float, seed: int | float = 0) -> None:
        self.skill = skill
        self.rng = random.Random(seed)
        self._thinking: set[asyncio.Task[None]] = set()  # a task nobody references may be collected
        self.client = connect("websocket", url, name=name, on_event=self._on_event)

    def _on_event(self, event: Any) -> None:
        if event.type == "question":  # on the client loop: start thinking, never block it
            task = asyncio.get_running_loop().create_task(self._answer(event.data))
            self._thinking.add(task)
            task.add_done_callback(self._thinking.discard)

    async def _answer(self, question: dict[str, Any]) -> None:
        await asyncio.sleep(self.rng.uniform(0.1, 0.8))  # thinking
        right = next((a for text, _, a in QUESTIONS if text == question["text"]), None)
        knows = right is not None and self.rng.random() < self.skill
        choice = right if knows else self.rng.randrange(len(question["choices"]))
        await self.client.send_async({"type": "answer",
                                      "data": {"question": question["id"], "choice": choice}})


def quiz_players(url: str, count: int = 5, seed: int = 0) -> list[Any]:
    """Start ``count`` simulated players against the quiz at ``url``; returns their clients.

    They are named clients (Ada, Grace, ...): calling this again, in a re-run cell, replaces them.
    """
    if not 0 < count <= len(PLAYERS):
        raise ValueError(f"count must be 1..{len(PLAYERS)}")
    rng = random.Random(seed)
    return [QuizPlayer(url, name, skill=rng.uniform(0.3, 0.9), seed=rng.random()).client
            for name in PLAYERS[:count]]
