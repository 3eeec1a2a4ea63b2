"""The seeded event generators the notebooks use, and a :class:`Feed` that publishes one at a rate.

Each scenario is an endless (or finite) iterator of ``(type, data)`` pairs, the same for
the same ``seed`` — so a learner's numbers can be compared with a neighbour's:

* :func:`football` — a match for the live scoreboard (short polling);
* :func:`config_changes` — a configuration centre's key/value updates (long polling);
* :func:`quiz_questions` — questions for the live quiz (WebSocket);
  :class:`QuizHost` asks them and tallies answers, :func:`quiz_players` answers them;
* :func:`tokens` — an answer streamed token by token, as LLM chat pages do (SSE);
* :func:`ticker` — stock prices (the showdown).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from . import lab

Item = tuple[str, Any]


def football(seed: int = 0, home: str = "Rovers", away: str = "United") -> Iterator[Item]:
    """A 90-minute match, one event per simulated minute: mostly "minute", now and then a goal or card."""
    rng = random.Random(seed)
    score = {home: 0, away: 0}
    yield "kickoff", {"minute": 0, "home": home, "away": away, "score": dict(score)}
    for minute in range(1, 91):
        roll = rng.random()
        if roll < 0.035:
            team = rng.choice([home, away])
            score[team] += 1
            yield "goal", {"minute": minute, "team": team, "score": dict(score)}
        elif roll < 0.08:
            yield "card", {"minute": minute, "team": rng.choice([home, away]),
                           "colour": "red" if rng.random() < 0.1 else "yellow", "score": dict(score)}
        else:
            yield "minute", {"minute": minute, "score": dict(score)}
    yield "full-time", {"minute": 90, "score": dict(score)}


def config_changes(seed: int = 0, keys: Iterable[str] = ("timeout_ms", "feature.dark_mode",
                                                         "max_connections")) -> Iterator[Item]:
    """Endless updates to a few configuration keys, each with a version and an MD5 (as Nacos sends)."""
    rng = random.Random(seed)
    keys = list(keys)
    for version in itertools.count(1):
        key = rng.choice(keys)
        value: Any = rng.choice([True, False]) if "feature" in key else rng.randrange(10, 5000, 10)
        md5 = hashlib.md5(f"{key}={value}".encode()).hexdigest()
        yield "config", {"key": key, "value": value, "version": version, "md5": md5}


QUESTIONS = [
    ("Which technique keeps one TCP connection open in both directions?",
     ["Short polling", "Long polling", "SSE", "WebSocket"], 3),
    ("What header does an EventSource send when it reconnects?",
     ["If-None-Match", "Last-Event-ID", "Sec-WebSocket-Key", "Retry-After"], 1),
    ("On average, how long does short polling every 2 s delay an event?",
     ["0 s", "0.5 s", "1 s", "2 s"], 2),
    ("What does a long-poll server do when nothing happens before the hold time ends?",
     ["Closes the socket", "Answers 204 / empty", "Sends a ping frame", "Retries itself"], 1),
    ("Which status code switches an HTTP connection to WebSocket?",
     ["200", "101", "204", "304"], 1),
]


def quiz_questions(seed: int = 0) -> Iterator[Item]:
    """The quiz's questions in a seeded order, each with an id and its choices."""
    order = list(range(len(QUESTIONS)))
    random.Random(seed).shuffle(order)
    for number, index in enumerate(order, 1):
        text, choices, answer = QUESTIONS[index]
        yield "question", {"id": number, "text": text, "choices": choices, "answer": answer}


class QuizHost:
    """The live quiz's host, on the server side: asks, tallies answers, pushes the results.

    Plug it into a WebSocket server (it becomes the server's ``on_message`` hook)::

        host = QuizHost(serve("websocket", name="quiz"))
        host.ask()                  # pushes {"type": "question"} to every player, without the answer
        ...                         # players send {"type": "answer", "data": {"question": 1, "choice": 3}}
        host.reveal()               # pushes {"type": "result"}: counts, right answer, who got it

    After every accepted answer it pushes a ``tally`` event (the counts so far) to everyone:
    one answer goes up one connection, and every player sees the bars move. Each player's
    first answer counts; the reply to the sender says whether it was accepted.
    """

    def __init__(self, server: Any, seed: int = 0) -> None:
        self.server = server
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
                return {"type": "error", "error": f"the quiz only takes answers, not {message['type']!r}"}
            if question is None or data.get("question") != question["id"]:
                return {"type": "ack", "accepted": False, "reason": "not the current question"}
            if not self.accepting:
                return {"type": "ack", "accepted": False, "reason": "too late: the result is out"}
            choice = data.get("choice")
            if not isinstance(choice, int) or not 0 <= choice < len(question["choices"]):
                return {"type": "ack", "accepted": False, "reason": f"no choice {choice!r}"}
            if player in self.answers:
                return {"type": "ack", "accepted": False, "reason": "you already answered"}
            self.answers[player] = choice
            tally = {"question": question["id"], "counts": self._counts(), "answered": len(self.answers)}
            self._lock.notify_all()
        self.server.publish("tally", tally)
        return {"type": "ack", "accepted": True, "question": question["id"], "choice": choice}

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
        from .experiments import connect  # here, not at the top: scenarios know no transport

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


ANSWER = (
    "Server-Sent Events keep one HTTP response open and write each new piece of text into it.\n"
    "That is why a chat model's answer appears word by word: every token is an event, and the "
    "browser's EventSource hands it to the page the moment it arrives.\n"
    "If the connection drops, the browser reconnects by itself and sends Last-Event-ID, so the "
    "server can carry on from the right token."
)


def tokens(text: str = ANSWER, seed: int = 0) -> Iterator[Item]:
    """``text`` split into word-and-space tokens, each an event ``{"index", "text"}``, then "done"."""
    del seed  # the text is deterministic; kept for a uniform signature
    parts = re.findall(r"\S+\s*|\s+", text)
    for index, part in enumerate(parts):
        yield "token", {"index": index, "text": part}
    yield "done", {"tokens": len(parts)}


def ticker(seed: int = 0, symbols: Iterable[str] = ("ACME", "GLOBX", "INITECH")) -> Iterator[Item]:
    """Endless stock prices: a seeded random walk per symbol, rounded to cents."""
    rng = random.Random(seed)
    prices = {s: 100.0 for s in symbols}
    names = list(prices)
    while True:
        symbol = rng.choice(names)
        prices[symbol] = max(1.0, prices[symbol] * (1 + rng.gauss(0, 0.002)))
        yield "price", {"symbol": symbol, "price": round(prices[symbol], 2)}


SCENARIOS = {"football": football, "config": config_changes, "quiz": quiz_questions,
             "tokens": tokens, "ticker": ticker}


class Feed:
    """Publishes a scenario's events to one or more servers, ``rate`` events per second.

    All servers get each event with the same ``sent_ns``, so one stream can be compared
    across transports. Runs on the client loop; :meth:`start` returns at once,
    :meth:`wait` blocks until ``count`` events are out.

    ``arrivals="regular"`` publishes on a fixed grid (every ``1/rate`` s);
    ``"poisson"`` draws seeded random gaps with the same mean, as independent real-world
    events arrive. The difference matters for short polling: on a regular grid whose period
    divides the poll interval, every event lands at the same spot before a poll and the
    "uniform(0, interval)" theory does not apply.
    """

    def __init__(self, servers: Any, scenario: Iterable[Item] | str = "ticker", *,
                 rate: float = 20.0, count: int | None = None, seed: int = 0,
                 arrivals: str = "regular") -> None:
        if arrivals not in ("regular", "poisson"):
            raise ValueError("arrivals must be 'regular' or 'poisson'")
        self.arrivals = arrivals
        self._gaps = random.Random(seed + 1)
        self.servers = list(servers) if isinstance(servers, list | tuple) else [servers]
        if isinstance(scenario, str):
            scenario = SCENARIOS[scenario](seed=seed)
        self.items = iter(scenario)
        if rate <= 0:
            raise ValueError("rate must be > 0 events per second")
        self.rate = rate
        self.count = count
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self._done = threading.Event()

    async def _run(self) -> None:
        try:
            next_at = time.monotonic()
            for type_, data in self.items:
                if self.count is not None and self.published >= self.count:
                    break
                live = [server for server in self.servers if server.running]
                if not live:
                    break  # its servers were stopped or replaced (a re-run cell): nobody to tell
                sent_ns = time.monotonic_ns()
                for server in live:
                    server.publish(type_, data, sent_ns)
                self.published += 1
                # A schedule of absolute times: the rate holds even if a publish is slow.
                if self.arrivals == "poisson":
                    next_at += self._gaps.expovariate(self.rate)
                else:
                    next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            self._done.set()

    async def _spawn(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._run(), name="rtlab-feed")

    def start(self) -> Feed:
        self._done.clear()
        self._task = lab.client_loop().run(self._spawn())
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the feed has published ``count`` events (or the scenario ended)."""
        return self._done.wait(timeout)

    async def wait_async(self) -> None:
        while not self._done.is_set():
            await asyncio.sleep(0.01)

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            lab.client_loop().call_soon(task.cancel)
            self._done.wait(5)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def __enter__(self) -> Feed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
