"""Binary frames (issue 14): the quiz in Protocol Buffers over WebSocket, beside JSON text.

The ``websockets`` library is the independent client: it offers the subprotocol, sends
binary answers and decodes binary events with :mod:`rtlab.wire.protobuf`.
"""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from rtlab_support import TIMEOUT, wait_until
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from rtlab import connect, lab
from rtlab.lessons.cluster import quiz_service
from rtlab.lessons.quiz import QuizHost
from rtlab.net import websocket
from rtlab.wire import protobuf
from rtlab.wire.event import Event


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


@pytest.fixture
def server():
    with websocket.Server(name="protobuf-test") as s:
        yield s


def test_quiz_messages_round_trip_and_are_smaller():
    items = itertools.islice(quiz_service(), 14)
    for seq, (type_, data) in enumerate(items, 1):
        event = Event(seq, type_, data, 1_700_000_000_123_456_789)
        wire = protobuf.encode_event(event)
        assert protobuf.decode_event(wire) == event
        # Text is text in both; the numbers and the field names are where the bytes go.
        assert len(wire) < len(event.to_json().encode()) * (0.7 if type_ == "question" else 0.4)
    # What does not fit its message travels as JSON inside it, and still comes back the same.
    for data in [{"question": 1, "answer": 0, "right": ["Ada"]}, {"question": 2, "counts": []},
                 {"question": -1}, None, "text"]:
        event = Event(3, "result", data, 5)
        assert protobuf.decode_event(protobuf.encode_event(event)) == event
    assert protobuf.decode_answer(protobuf.encode_answer(4, 0)) == \
        {"type": "answer", "data": {"question": 4, "choice": 0}}
    with pytest.raises(ValueError):
        protobuf.decode_event(b"\xff\xff\xff")


def test_the_subprotocol_gets_binary_events_and_takes_binary_answers(server):
    host = QuizHost(server)

    async def scenario():
        async with ws_connect(server.url.replace("http://", "ws://") + "?client=Ada", compression=None,
                              subprotocols=[protobuf.SUBPROTOCOL]) as ws:
            assert ws.subprotocol == protobuf.SUBPROTOCOL
            await asyncio.sleep(0.05)
            question = host.ask()
            frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert isinstance(frame, bytes)  # a binary frame
            event = protobuf.decode_event(frame)
            assert event.type == "question" and event.data == question
            await ws.send(protobuf.encode_answer(question["id"], 2))
            ack = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))  # notes stay JSON text
            tally = protobuf.decode_event(await asyncio.wait_for(ws.recv(), TIMEOUT))
            return ack, tally

    ack, tally = run(scenario())
    assert ack == {"type": "ack", "accepted": True, "question": 1, "choice": 2}
    assert tally.type == "tally" and tally.data["answered"] == 1


def test_a_binary_frame_without_the_subprotocol_still_closes_1003(server):
    async def scenario():
        async with ws_connect(server.url.replace("http://", "ws://"), compression=None) as ws:
            assert ws.subprotocol is None
            await ws.send(protobuf.encode_answer(1, 1))
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
            return info.value.rcvd

    closed = run(scenario())
    assert closed.code == 1003 and protobuf.SUBPROTOCOL in closed.reason


def test_rtlab_client_speaks_protobuf_and_json_side_by_side(server):
    binary = connect("websocket", server.url, name="pb-binary", encoding="protobuf")
    text = connect("websocket", server.url, name="pb-text")
    try:
        wait_until(lambda: server.read(lambda s: s.hub.subscriber_count) == 2, what="two clients")
        for type_, data in itertools.islice(quiz_service(), 20):
            server.publish(type_, data)
        assert binary.wait_for(20) and text.wait_for(20)
        assert binary.recorder.seqs == text.recorder.seqs == list(range(1, 21))
        by_client = server.stats().by_client
        assert by_client["pb-binary"]["bytes_out"] < by_client["pb-text"]["bytes_out"] * 0.6
    finally:
        lab.stop_all()
