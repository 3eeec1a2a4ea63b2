"""Quiz answers flow back (issue 14): players -> gateway processes -> the broker -> the quiz service.

A real broker, real gateway processes (``python -m rtlab serve websocket --broker … --answers``),
players speaking with the ``websockets`` library, the quiz service in this process. Checked:
answers from players on different gateways are scored once each, in the result the service
publishes; every bad answer gets its own clear reply (or close 1009) and the connection, the
other players and the good answers lose nothing; a quiz service that was down when the answers
came still scores them (the answers wait in the broker's stream). No timing assertions.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
from rtlab_support import wait_until
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from rtlab.lessons.cluster import Cluster
from rtlab.lessons.quiz_service import QuizService
from rtlab.net.broker_process import MISSING_BROKER, BrokerProcess, find_broker_binary

TIMEOUT = 20.0
QUESTION = {"id": 1, "text": "Which one pushes?", "choices": ["polling", "SSE", "a fax"]}


@pytest.fixture(scope="module")
def broker():
    if find_broker_binary() is None and not os.environ.get("RTLAB_REQUIRE_BROKER"):
        pytest.skip(MISSING_BROKER)
    with BrokerProcess() as process:
        yield process


@pytest.fixture(scope="module")
def cluster(broker):
    """One cluster for the module: each test asks a question of its own (ids 1, 2, 3)."""
    stream = f"answers-{time.monotonic_ns()}"
    with Cluster(2, "websocket", broker=f"{broker.url}?stream={stream}", name=stream) as c:
        assert c.wait_ready()
        yield c


def question(number: int) -> dict:
    return {**QUESTION, "id": number}


def answer(question: int, choice: object, **extra: object) -> str:
    return json.dumps({"type": "answer", "data": {"question": question, "choice": choice}, **extra})


async def next_of(ws, kind: str) -> dict:
    """The next message with ``type == kind`` (or an event of that type), skipping others."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if message.get("type") == kind:
            return message


def test_the_quiz_service_scores_answers_from_players_on_every_gateway(cluster):
    service = cluster.service()

    async def scenario() -> list[dict]:
        players = [await ws_connect(f"{cluster.urls[i % 2]}?client=p{i}") for i in range(6)]
        await asyncio.sleep(0.3)  # every gateway's follower is reading
        service.publish("question", QUESTION)
        for ws in players:
            await next_of(ws, "question")
        for i, ws in enumerate(players):  # p0, p2, p4 right (1); p1, p3, p5 wrong (0)
            await ws.send(answer(1, 1 if i % 2 == 0 else 0, sent_ns=time.monotonic_ns()))
        acks = [await next_of(ws, "ack") for ws in players]
        assert service.wait_for_answers(6, TIMEOUT) == 6
        service.publish("result", {"question": 1, "answer": 1})
        results = [await next_of(ws, "result") for ws in players]
        for ws in players:
            await ws.close()
        return [*acks, results[0]]

    *acks, result = asyncio.run(scenario())
    assert all(a["accepted"] for a in acks), acks
    data = result["data"]
    assert (data["answered"], data["right"], data["counts"], data["late"]) == (6, 3, [3, 3, 0], 0)
    assert [name for name, _ in data["leaderboard"]] == ["p0", "p2", "p4"]
    assert len(service.round_trips_ms) == 6  # each answer's trip, player -> service, was measured


def test_bad_answers_get_a_clear_reply_and_lose_nothing(cluster):
    service = cluster.service()

    async def scenario() -> tuple[list[dict], int | None, dict]:
        async with ws_connect(f"{cluster.urls[0]}?client=Eve") as eve, \
                ws_connect(f"{cluster.urls[1]}?client=Bob") as bob, \
                ws_connect(f"{cluster.urls[0]}?client=Big") as big:
            await asyncio.sleep(0.3)
            await eve.send(answer(2, 1))  # before question 2 is asked
            replies = [await next_of(eve, "ack")]
            service.publish("question", question(2))
            await next_of(eve, "question")
            await next_of(bob, "question")
            for bad in (answer(2, True), answer(2, 7), answer("2", 2), answer(99, 1),
                        json.dumps({"type": "answer", "data": [1, 1]})):
                await eve.send(bad)
                replies.append(await next_of(eve, "ack"))
            await eve.send("{not json")
            replies.append(await next_of(eve, "error"))
            await big.send(answer(2, 1, pad="x" * 70_000))  # over max_message_bytes
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(big.recv(), TIMEOUT)
            await eve.send(answer(2, 2))  # after all that, Eve's good answer still counts
            await bob.send(answer(2, 1))
            replies.append(await next_of(eve, "ack"))
            await next_of(bob, "ack")
            assert service.wait_for_answers(2, TIMEOUT) == 2
            service.publish("result", {"question": 2, "answer": 1})
            result = (await next_of(eve, "result"))["data"]
            await eve.send(answer(2, 1))
            replies.append(await next_of(eve, "ack"))
            return replies, big.close_code, result

    replies, big_code, result = asyncio.run(scenario())
    reasons = [r.get("reason") or r.get("error") or "accepted" for r in replies]
    assert reasons[0] == "unknown question"  # nothing asked yet
    assert reasons[1].startswith("malformed") and reasons[2].startswith("malformed")  # True; 7 of 3
    assert reasons[3].startswith("malformed") and reasons[4] == "unknown question"  # "1"; 99
    assert reasons[5].startswith("malformed")  # data a list
    assert reasons[6].startswith("messages must be JSON objects")
    assert reasons[7] == "accepted" and replies[7]["accepted"] is True
    assert reasons[8].startswith("too late")
    assert big_code == 1009
    assert (result["answered"], result["right"], result["counts"]) == (2, 1, [0, 1, 1])


def test_answers_sent_while_the_quiz_service_is_down_are_scored_when_it_is_back(cluster):
    first = cluster.service()
    first.publish("question", question(3))
    first.flush()
    first.stop()  # the quiz service is gone; the gateways still take answers into the broker

    async def scenario() -> list[dict]:
        players = [await ws_connect(f"{cluster.urls[i % 2]}?client=late{i}") for i in range(4)]
        for ws in players:
            await ws.send(answer(3, 1))
        acks = [await next_of(ws, "ack") for ws in players]
        for ws in players:
            await ws.close()
        return acks

    acks = asyncio.run(scenario())
    assert all(a["accepted"] for a in acks)  # in the broker's stream, though nobody reads it yet
    with QuizService(cluster.broker_url) as again:  # started again: finds question 3 open
        assert again.wait_for_answers(4, TIMEOUT) == 4


def test_the_service_decides_what_is_late():
    service = QuizService("redis://127.0.0.1:1/0")  # never started: score() is plain Python
    service.publisher.publish = lambda *a, **k: None  # type: ignore[method-assign]
    service.publish("question", QUESTION)
    now = time.monotonic_ns()
    service.score([{"player": "a", "question": 1, "choice": 1, "sent_ns": now, "read_ns": now},
                   {"player": "a", "question": 1, "choice": 2, "sent_ns": 0, "read_ns": now}])
    service.publish("result", {"question": 1, "answer": 1})
    service.score([{"player": "b", "question": 1, "choice": 1, "sent_ns": 0, "read_ns": now}])
    assert (service.repeated, service.late, service.scores) == (1, 1, {"a": 1})


def test_a_swarm_answers_and_survives_a_gateway_killed_mid_question(cluster):
    """rtlab.net.swarm's players (08's two thousand, here 150): every answer is scored once, and
    through a SIGKILLed gateway every player ends with every seq once, in order."""
    from rtlab.lessons import at_scale
    from rtlab.net.swarm import Swarm

    service = cluster.service()
    with Swarm(cluster.urls, 150, prefix="swarm-", choose=at_scale.right_answer(),
               thinking=(0.0, 0.1)) as swarm:
        at_scale.swarm_publish_and_time(service, swarm, "hello", {})
        service.publish("question", question(4))
        assert service.wait_for_answers(150, TIMEOUT) == 150
        # The service has every answer; the gateways' acks may still be on their way to the
        # players. Wait for them before the kill: an ack on a connection that dies dies with it
        # (the answer itself is in the broker, and scored). Seen once: one player without an ack.
        wait_until(lambda: all(p.acks_ms for p in swarm.players), TIMEOUT, "every player's ack")
        service.publish("result", {"question": 4, "answer": 1})
        victims = [p for p in swarm.players if p.url == cluster.urls[1]]
        for i in range(20):
            service.publish("countdown", {"question": 5, "left": i})
            if i == 5:
                cluster.stop_gateway(1, kill=True)
        at_scale.swarm_publish_and_time(service, swarm, "after", {})
        # Every player read the stream from seq 1 (the backlog, then live), through the crash:
        bad = [p.name for p in swarm.players if p.missed or p.duplicates or p.events != p.last_seq]
        assert not bad, bad[:5]
        assert all(p.url == cluster.urls[0] for p in victims)  # they all moved to the live gateway
        # Each answer to question 4 was acked once the broker had it (a player may also have answered
        # an older question it found open in the backlog, hence "at least").
        assert all(len(p.acks_ms) >= 1 for p in swarm.players)
    assert service.results[-1]["answered"] == 150
    cluster.start_gateway(1)  # for any test after this one
