"""WebSocket: rtlab's aiohttp server checked with the ``websockets`` library's client.

Each test that talks to the server with ``websockets`` runs one coroutine with
``asyncio.run`` (the test's own loop); the server runs on its own loop thread.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from rtlab_support import TIMEOUT, publish_and_wait, wait_seq, wait_until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rtlab.net import websocket
from rtlab.wire.websocket import accept_key, frame_header_bytes


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def ws_url(server, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + query


async def recv_json(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def closed_code(ws) -> int:
    """Read until the server closes; the close code it sent."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    return info.value.rcvd.code


def test_accept_key_matches_rfc_6455_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_frame_header_sizes():
    assert frame_header_bytes(10, masked=False) == 2
    assert frame_header_bytes(10, masked=True) == 6
    assert frame_header_bytes(126, masked=False) == 4
    assert frame_header_bytes(70_000, masked=True) == 14


def test_events_arrive_as_json_with_seq_and_sent_ns(websocket_server):
    server = websocket_server

    async def scenario():
        async with connect(ws_url(server), compression=None) as ws:
            assert ws.response.headers["Sec-WebSocket-Accept"] == accept_key(
                ws.request.headers["Sec-WebSocket-Key"])
            assert "Sec-WebSocket-Extensions" not in ws.response.headers  # compression off
            wait_until(lambda: server_subscribers(server) == 1)
            for i in range(3):
                server.publish("question", {"id": i, "text": "héllo"})
            return [await recv_json(ws) for _ in range(3)]

    got = run(scenario())
    assert [m["seq"] for m in got] == [1, 2, 3]
    assert [m["data"]["id"] for m in got] == [0, 1, 2]
    assert {m["type"] for m in got} == {"question"}
    assert all(isinstance(m["sent_ns"], int) for m in got)


def server_subscribers(server) -> int:
    async def count():
        return server.hub.subscriber_count

    return server.call(count())


def test_echo_round_trip(websocket_server, start_client):
    async def scenario():
        async with connect(ws_url(websocket_server), compression=None) as ws:
            await ws.send(json.dumps({"type": "echo", "id": 42, "data": "ping"}))
            return await recv_json(ws)

    reply = run(scenario())
    assert reply["type"] == "echo" and reply["id"] == 42 and reply["data"] == "ping"
    assert isinstance(reply["server_ns"], int)

    client = start_client(websocket.Client, websocket_server.url)
    assert client.round_trip_ms() > 0


def test_messages_go_to_on_message_and_its_reply_comes_back(start_server):
    seen = []

    def on_message(name, message):
        seen.append((name, message))
        return {"type": "ack", "got": message["data"]}

    server = start_server(websocket.Server, on_message=on_message)

    async def scenario():
        async with connect(ws_url(server, "?client=quizzer"), compression=None) as ws:
            await ws.send(json.dumps({"type": "answer", "data": 3}))
            return await recv_json(ws)

    assert run(scenario()) == {"type": "ack", "got": 3}
    assert seen == [("quizzer", {"type": "answer", "data": 3})]


def test_disallowed_origin_is_refused_with_403(start_server, start_client):
    server = start_server(websocket.Server, origins=["http://ok.example"])

    async def attempt(origin):
        async with connect(ws_url(server), compression=None, origin=origin) as ws:
            await ws.send(json.dumps({"type": "echo"}))
            return await recv_json(ws)

    with pytest.raises(InvalidStatus) as info:
        run(attempt("http://evil.example"))
    assert info.value.response.status_code == 403
    assert b"not allowed" in info.value.response.body
    assert run(attempt("http://ok.example"))["type"] == "echo"  # listed origins are fine
    assert run(attempt(f"http://127.0.0.1:{server.port}"))["type"] == "echo"  # its own origin

    refused = start_client(websocket.Client, server.url, origin="http://evil.example")
    wait_until(lambda: not refused.running, what="the rtlab client to give up")
    assert "403" in str(refused.failure)


def test_oversized_message_closes_1009_and_other_clients_carry_on(start_server):
    server = start_server(websocket.Server, max_message_bytes=1024)

    async def scenario():
        async with connect(ws_url(server), compression=None) as other, \
                connect(ws_url(server), compression=None) as big:
            await big.send(json.dumps({"type": "x", "data": "a" * 2000}))
            code = await closed_code(big)
            server.publish("tick", {"after": "the big one"})
            return code, await recv_json(other)

    code, event = run(scenario())
    assert code == 1009
    assert event["data"] == {"after": "the big one"}


def test_binary_frame_closes_1003(websocket_server):
    async def scenario():
        async with connect(ws_url(websocket_server), compression=None) as ws:
            await ws.send(b"\x00\x01")
            return await closed_code(ws)

    assert run(scenario()) == 1003


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"no": "type"}', '{"type": 5}'])
def test_invalid_json_gets_an_error_message_and_the_connection_stays(websocket_server, text):
    async def scenario():
        async with connect(ws_url(websocket_server), compression=None) as ws:
            await ws.send(text)
            error = await recv_json(ws)
            await ws.send(json.dumps({"type": "echo", "id": 1}))
            return error, await recv_json(ws)

    error, echo = run(scenario())
    assert error["type"] == "error"
    assert "JSON object" in error["error"]
    assert echo["type"] == "echo"


def test_since_resumes_after_the_cursor(websocket_server):
    publish_and_wait(websocket_server, 5)

    async def scenario():
        async with connect(ws_url(websocket_server, "?since=2"), compression=None) as ws:
            return [(await recv_json(ws))["seq"] for _ in range(3)]

    assert run(scenario()) == [3, 4, 5]


def test_bad_since_is_refused_with_400(websocket_server):
    async def scenario():
        async with connect(ws_url(websocket_server, "?since=-1"), compression=None):
            pass

    with pytest.raises(InvalidStatus) as info:
        run(scenario())
    assert info.value.response.status_code == 400


def test_gap_is_announced_when_since_is_too_old(start_server, start_client):
    server = start_server(websocket.Server, replay=5)
    publish_and_wait(server, 20)

    async def scenario():
        async with connect(ws_url(server, "?since=1"), compression=None) as ws:
            return await recv_json(ws), await recv_json(ws)

    gap, first = run(scenario())
    assert gap == {"type": "gap", "first_missing": 2, "last_missing": 15}
    assert first["seq"] == 16
    client = start_client(websocket.Client, server.url, since=1)
    wait_seq(client, 20)
    assert client.recorder.seqs == [16, 17, 18, 19, 20]
    assert client.recorder.missed == 14


class RecordingWebSocketServer(websocket.Server):
    """Remembers the ``since`` of every connection."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.since_seen: list[str | None] = []

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        self.since_seen.append(request.query.get("since"))
        return await super().handle_ws(request)


def test_client_reconnects_after_server_restart_and_resumes_from_its_cursor(start_server,
                                                                            start_client):
    first = start_server(RecordingWebSocketServer)
    client = start_client(websocket.Client, first.url)
    wait_until(lambda: server_subscribers(first) == 1, what="the client to connect")
    publish_and_wait(first, 3)
    wait_seq(client, 3)
    port, epoch = first.port, first.read(lambda s: s.hub.epoch)
    first.stop()  # closes with 1001 "going away": the client reconnects with backoff

    # The client comes back to the same port asking for ?since=3, its cursor. The new
    # server's hub starts again at seq 1, so the cursor is from another stream: the server
    # sends {"type": "reset"} and the client starts over from seq 1, skipping nothing.
    second = start_server(RecordingWebSocketServer, port=port)
    wait_until(lambda: second.since_seen, what="the client to reconnect")
    assert second.since_seen[0] == f"{epoch}-3"  # the cursor names its stream (issue 11)
    assert client.recorder.reconnects >= 1
    wait_until(lambda: server_subscribers(second) == 1, what="the client to subscribe")
    wait_until(lambda: client.recorder.resets == 1, what="the reset to arrive")
    publish_and_wait(second, 5)
    wait_seq(client, 5)
    assert client.recorder.seqs == [1, 2, 3, 1, 2, 3, 4, 5]
    assert client.recorder.duplicates == 0


def test_rtlab_client_stop_start_resumes(websocket_server, start_client):
    client = start_client(websocket.Client, websocket_server.url)
    publish_and_wait(websocket_server, 4)
    wait_seq(client, 4)
    client.stop()
    publish_and_wait(websocket_server, 4)
    client.start()
    wait_seq(client, 8)
    assert client.recorder.seqs == list(range(1, 9))


def test_compression_is_negotiated_only_when_switched_on(start_server):
    plain = start_server(websocket.Server)
    compressed = start_server(websocket.Server, compress=True)

    async def handshake(server):
        # The websockets client offers permessage-deflate by default.
        async with connect(ws_url(server)) as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            wait_until(lambda: server_subscribers(server) == 1)
            server.publish("tick", {"text": "squeeze me " * 20})
            return extensions, await recv_json(ws)

    extensions, event = run(handshake(compressed))
    assert "permessage-deflate" in extensions
    assert event["data"] == {"text": "squeeze me " * 20}
    extensions, _ = run(handshake(plain))
    assert extensions == ""
