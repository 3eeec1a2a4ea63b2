"""The seeded event generators the notebooks use, and a :class:`Feed` that publishes one at a rate.

Each scenario is an endless (or finite) iterator of ``(type, data)`` pairs, the same for
the same ``seed`` — so a learner's numbers can be compared with a neighbour's:

* :func:`football` — a match for the live scoreboard (short polling);
* :func:`config_changes` — a configuration centre's key/value updates (long polling);
* :func:`quiz_questions` — questions for the live quiz (WebSocket; :mod:`rtlab.lessons.quiz`
  runs the quiz itself);
* :func:`tokens` — an answer streamed token by token, as LLM chat pages do (SSE);
* :func:`ticker` — stock prices (the showdown).

Pure: nothing here opens a socket or starts a loop. :class:`rtlab.lessons.feed.Feed` publishes a
scenario at a rate.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..wire.event import Event

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
    """Endless updates to a few configuration keys, each with a version and an MD5 (as Nacos 1.x sent)."""
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


def event_payloads(scenario: str = "ticker", count: int = 200, seed: int = 0) -> list[bytes]:
    """A scenario's first ``count`` events as JSON, the bytes a WebSocket text frame carries."""
    items = itertools.islice(SCENARIOS[scenario](seed=seed), count)
    return [Event(seq, type_, data, time.monotonic_ns()).to_json().encode()
            for seq, (type_, data) in enumerate(items, 1)]
