"""How long does a quiz answer take to come back up: player -> gateway -> broker -> quiz service?

A real broker and two gateway processes (``Cluster(2, "websocket")``, gateways started with
``--answers``), the quiz service in this process, and one player speaking the ``websockets``
library. For each of ``--questions`` (30) questions, one at a time: the service publishes it, the
player answers at once with ``sent_ns``, and two times are noted:

* **ack**: the player's send until the gateway's ``{"type": "ack", "accepted": true}`` comes back
  — the gateway has checked the answer and the broker has it (``XADD``);
* **scored**: the player's send until the quiz service, reading the answers stream from its last
  id, scored it (``QuizService.round_trips_ms``; one machine, one monotonic clock).

Unlike notebook 08 (2,000 answers within half a second), nothing queues here: these are the
path's own costs. It informs; it has no target.

Usage::

    python benchmarks/answers.py
    python benchmarks/answers.py --questions 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from websockets.asyncio.client import connect as ws_connect

from rtlab.lessons.cluster import Cluster


async def _play(url: str, quiz: Any, questions: int) -> list[float]:
    acks = []
    async with ws_connect(url + "?client=Ada", compression=None) as ws:
        await asyncio.sleep(0.3)  # every gateway's follower is reading
        for q in range(1, questions + 1):
            quiz.publish("question", {"id": q, "text": "?", "choices": ["a", "b"]})
            while json.loads(await ws.recv()).get("type") != "question":
                pass
            sent = time.monotonic_ns()
            answer = {"type": "answer", "data": {"question": q, "choice": 1}, "sent_ns": sent}
            await ws.send(json.dumps(answer))
            while json.loads(await ws.recv()).get("type") != "ack":
                pass
            acks.append((time.monotonic_ns() - sent) / 1e6)
            quiz.wait_for_answers(1, 5)
            quiz.publish("result", {"question": q, "answer": 1})
    return acks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=30, help="questions, one at a time (30)")
    args = parser.parse_args(argv)
    with Cluster(2, "websocket", name="answers-benchmark") as cluster:
        cluster.wait_ready()
        quiz = cluster.service()
        acks = asyncio.run(_play(cluster.urls[0], quiz, args.questions))
        trips = quiz.round_trips_ms
    print(f"{args.questions} answers one at a time: ack (player -> gateway -> broker -> ack) "
          f"p50 {statistics.median(acks):.2f} ms, max {max(acks):.2f} ms; "
          f"player -> quiz service scored p50 {statistics.median(trips):.2f} ms, max {max(trips):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
