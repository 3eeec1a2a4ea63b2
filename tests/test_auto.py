"""The negotiating technique: ``serve("auto")`` and ``connect("auto", url)``.

The test that matters is the first: 10,000 events, exactly once and in order, across an upgrade,
a path that starts refusing upgrades mid-run (and cuts the open WebSocket), a stream that goes
silent, and a server crash. The others pin the wire (an independent ``websockets`` client and
``urllib`` speak the Engine.IO-style handshake by hand), the pure parts, and bad input.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websockets.exceptions
import websockets.sync.client as ws_sync
from rtlab_support import wait_until

from rtlab.net import auto, serve, transport_module
from rtlab.net.retry import Retry
from rtlab.net.websocket import WebSocketClient
from rtlab.wire.negotiation import LADDER, Ladder, OpenPacket, decode_packet, encode_packet

EVENTS = 10_000
PING = 0.25  # seconds: the heartbeat; a silent stream is broken after 2 x PING


@pytest.fixture
def serve_auto() -> Iterator[Callable[..., auto.Server]]:
    """``serve_auto(middlebox="transparent", ...)``: an auto server, stopped after the test."""
    started: list[auto.Server] = []

    def start(transport: str = "auto", **options: Any) -> auto.Server:
        if transport == "auto":
            options.setdefault("ping_interval", PING)
        server = serve(transport, name=f"test-{transport}-{len(started)}", **options)
        started.append(server)  # type: ignore[arg-type]
        return server  # type: ignore[return-value]

    yield start
    for server in started:
        server.stop()


def _publisher(server: auto.Server, allowance: list[int], done: threading.Event) -> threading.Thread:
    """Publishes seq 1.. up to ``allowance[0]`` (which the test raises), ~4,000 a second."""
    def run() -> None:
        seq = 0
        while seq < EVENTS:
            if seq >= allowance[0]:
                time.sleep(0.005)
                continue
            for _ in range(min(20, allowance[0] - seq)):
                seq += 1
                server.publish("tick", {"n": seq})
            time.sleep(0.005)
        done.set()

    thread = threading.Thread(target=run, name="test-auto-publisher", daemon=True)
    thread.start()
    return thread


def test_ten_thousand_events_once_across_upgrade_no_upgrade_stall_and_crash(serve_auto, start_client):
    server = serve_auto(middlebox="transparent", queue_size=20_000)  # a proxy: upgrades pass, for now
    delivered: list[tuple[int, str]] = []
    client = start_client(auto.Client, server.url,
                          on_event=lambda e: delivered.append((e.seq, client.transport)))
    allowance, done = [1_000], threading.Event()
    _publisher(server, allowance, done)

    def reach(seq: int, what: str) -> None:
        wait_until(lambda: client.last_seq >= seq, 30,
                   f"{what}: {client!r} on {client.transport}, {client.failure}, {client.switches[-3:]}, "
                   f"{client.probes[-3:]}, {client.recorder.counters()}")

    # 1. it starts on long polling and upgrades to WebSocket
    wait_until(lambda: client.transport == "websocket", 10, "the upgrade to WebSocket")
    allowance[0] = 3_000
    reach(2_000, "events over WebSocket")
    # 2. the path starts refusing upgrades, and cuts the WebSocket it had let through
    server.middlebox.block_upgrades()  # 403 from now on, and the open WebSocket is cut
    allowance[0] = 5_000
    wait_until(lambda: client.transport == "sse", 15, "the fall-back to SSE")
    reach(4_000, "events over SSE")
    # 3. the stream goes silent (heartbeat too) for longer than two heartbeats
    stalls_before = sum("stalled" in s.why for s in client.switches)
    server.stall_streams(6 * PING)
    allowance[0] = 7_000
    wait_until(lambda: sum("stalled" in s.why for s in client.switches) > stalls_before, 10,
               "the stall to be detected")
    reach(7_000, "events after the stall")
    # 4. the server crashes (its sessions are gone; the event log is not) and comes back
    server.crash()
    allowance[0] = 8_500  # published while it is down
    time.sleep(2 * PING)
    server.recover()
    allowance[0] = EVENTS
    reach(EVENTS, "every event after the crash")
    assert done.wait(10)

    seqs = [seq for seq, _ in delivered]
    assert seqs == list(range(1, EVENTS + 1))  # exactly once, in order
    assert client.recorder.missed == 0 and client.recorder.resets == 0
    path = [(s.from_, s.to) for s in client.switches]
    assert path[0] == ("long-polling", "websocket")
    assert ("websocket", "long-polling") in path and ("long-polling", "sse") in path
    assert any(s.from_ == "sse" and "stalled" in s.why for s in client.switches)
    assert server.middlebox.read()["refused_upgrades"] >= 1
    assert any("HTTP 403" in why for _, name, why in client.probes if name == "websocket")
    assert client.sessions >= 2  # the crash made it negotiate again
    on = {transport for _, transport in delivered}
    assert {"websocket", "sse", "long-polling"} <= on, on


@pytest.mark.parametrize(("middlebox", "status"), [("no-upgrade", 403), ("no-upgrade=strip", 400)])
def test_through_no_upgrade_websocket_fails_and_auto_falls_back_to_sse(serve_auto, start_client, middlebox,
                                                                       status):
    server = serve_auto(middlebox=middlebox)  # 403 from the proxy, or 400 from a server that lost the Upgrade
    plain_server = serve_auto("websocket", middlebox=middlebox)  # a plain WebSocket server, same proxy
    plain = start_client(WebSocketClient, plain_server.url)
    client = start_client(auto.Client, server.url)
    for n in range(100):
        server.publish("tick", n)
    wait_until(lambda: client.last_seq >= 100, 10, "100 events through the proxy")
    wait_until(lambda: client.transport == "sse", 10, "the upgrade to SSE")
    assert [(s.from_, s.to) for s in client.switches] == [("long-polling", "sse")]
    refused = [(name, why) for _, name, why in client.probes]
    assert refused == [("websocket", f"the Upgrade was refused: HTTP {status}")]
    wait_until(lambda: plain.failure is not None, 10, "the plain WebSocket client to give up")
    assert str(status) in str(plain.failure) and plain.last_seq == 0  # its name for the failure
    assert client.recorder.missed == 0 and client.recorder.duplicates == 0


def test_through_a_gzip_middleware_and_no_upgrade_it_stays_on_long_polling(serve_auto, start_client):
    server = serve_auto(middlebox="compressing,no-upgrade")  # SSE held 32 KiB at a time, WS refused
    client = start_client(auto.Client, server.url)
    wait_until(lambda: {name for _, name, _ in client.probes} == {"websocket", "sse"}, 10, "both probes")
    for n in range(100):
        server.publish("tick", n)
    wait_until(lambda: client.last_seq >= 100, 10, "100 events over long polling")
    assert client.transport == "long-polling" and client.switches == []
    reasons = {name: why for _, name, why in client.probes}
    assert reasons["websocket"] == "the Upgrade was refused: HTTP 403"
    assert "probe did not arrive" in reasons["sse"]  # named: a proxy holding the stream back
    assert client.recorder.missed == 0 and client.recorder.duplicates == 0


def test_a_new_server_process_on_the_same_port_resets_the_client_not_skips(start_server, start_client):
    first = start_server(auto.Server, ping_interval=PING)
    client = start_client(auto.Client, first.url, retry=Retry("fixed", base=0.5, cap=0.5), upgrade=False)
    for n in range(50):
        first.publish("tick", n)
    wait_until(lambda: client.last_seq >= 50, 10, "50 events from the first server")
    port = first.port
    first.stop()  # a new process comes up on the port: a new stream (epoch), numbered from 1
    second = start_server(auto.Server, ping_interval=PING, port=port)
    got: list[int] = []
    client.on_event = lambda e: got.append(e.seq)
    for n in range(80):  # published before the client is back (it waits 0.5 s between tries)
        second.publish("tick", n)
    wait_until(lambda: len(got) >= 80, 15, "the second server's 80 events")
    assert got == list(range(1, 81)) and client.recorder.resets == 1  # told, started over: none skipped


def test_the_lessons_measure_a_fall_back_that_loses_nothing():
    from rtlab.lessons.negotiation import fall_back, plain_websocket, switches_markdown

    plain = plain_websocket()
    assert plain.events == 0 and "403" in plain.failure
    from rtlab.lessons.widgets.negotiation import transport_view

    view = transport_view(name="test-negotiation-view")
    result = fall_back("no-upgrade", ping_interval=PING, after_s=0.2, on_client=view.watch)
    view.refresh()
    assert "sse" in view.value and f"{result.delivered:,}" in view.value  # the view saw the client
    assert result.exactly_once and result.published > 0 and result.delivered == result.published
    assert result.detect_s >= 0 and result.recover_s >= result.detect_s
    assert "| websocket | long-polling |" in switches_markdown(result)
    with pytest.raises(ValueError, match="fault"):
        fall_back("meteor")


def test_an_independent_client_speaks_the_handshake(start_server):
    server = start_server(auto.Server, ping_interval=PING)
    for n in range(3):
        server.publish("tick", n)
    with urllib.request.urlopen(urllib.request.Request(server.url + "/negotiate", method="POST")) as resp:
        packet = OpenPacket.from_json(resp.read().decode())
    assert packet.upgrades == ("websocket", "sse") and packet.ping_interval_ms == 250
    with urllib.request.urlopen(f"{server.url}/poll?sid={packet.sid}&since=0") as resp:
        body = json.loads(resp.read())
    assert [e["seq"] for e in body["events"]] == [1, 2, 3]
    ws_url = server.url.replace("http://", "ws://") + f"/ws?sid={packet.sid}"
    with ws_sync.connect(ws_url, compression=None) as ws:
        ws.send("2probe")
        assert ws.recv(timeout=5) == "3probe"
        ws.send("5" + json.dumps({"since": f"{packet.stream}-2"}))
        kind, data = decode_packet(ws.recv(timeout=5))
        assert kind == "4" and json.loads(data)["seq"] == 3  # the session's buffer after the cursor
        assert ws.recv(timeout=5) == "2"  # then a heartbeat: nothing new for an interval
        ws.send("3")


def test_a_websocket_that_never_upgrades_is_closed_and_garbage_gets_a_close_code(start_server):
    server = start_server(auto.Server, ping_interval=PING)
    with urllib.request.urlopen(urllib.request.Request(server.url + "/negotiate", method="POST")) as resp:
        sid = json.loads(resp.read())["sid"]
    ws_url = server.url.replace("http://", "ws://") + f"/ws?sid={sid}"
    with ws_sync.connect(ws_url, compression=None) as ws:  # probes, then never sends 5
        ws.send("2probe")
        assert ws.recv(timeout=5) == "3probe"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1008
    with ws_sync.connect(ws_url, compression=None) as ws:
        ws.send("not a packet")
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1003 and "unknown packet type" in closed.value.rcvd.reason


def test_unknown_session_and_bad_input_get_clear_answers(start_server):
    server = start_server(auto.Server)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.url}/poll?sid=nope&since=0")
    assert info.value.code == 400 and json.loads(info.value.read())["code"] == 1
    with urllib.request.urlopen(urllib.request.Request(server.url + "/negotiate", method="POST")) as resp:
        sid = json.loads(resp.read())["sid"]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.url}/poll?sid={sid}&since=x-y-z")
    assert info.value.code == 400 and b"since" in info.value.read()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(urllib.request.Request(f"{server.url}/upgrade?sid={sid}&since=0",
                                                      method="POST"))
    assert info.value.code == 409  # no SSE stream of this session waits for an upgrade
    with pytest.raises(ValueError, match="ping_interval"):
        auto.Server(ping_interval=0)
    with pytest.raises(ValueError, match="upgrades"):
        auto.Server(upgrades=("carrier-pigeon",))
    assert transport_module("auto") is auto


def test_an_auto_client_pointed_at_another_technique_says_so(start_server, start_client):
    from rtlab.net import sse

    server = start_server(sse.Server)
    client = start_client(auto.Client, server.url)
    wait_until(lambda: client.failure is not None, 10, "the client to fail")
    assert "HTTP 404" in str(client.failure) and "/auto" in str(client.failure)


def test_upgrade_false_stays_on_long_polling(start_server, start_client):
    server = start_server(auto.Server, ping_interval=PING)
    client = start_client(auto.Client, server.url, upgrade=False)
    for n in range(50):
        server.publish("tick", n)
    wait_until(lambda: client.last_seq >= 50, 10, "50 events")
    assert client.transport == "long-polling" and client.switches == []


@pytest.mark.parametrize(("text", "problem"), [
    ("", "non-empty"), ("9x", "unknown packet type"),
])
def test_bad_packets_are_named(text, problem):
    with pytest.raises(ValueError, match=problem):
        decode_packet(text)


@pytest.mark.parametrize(("raw", "field"), [
    ("[]", "object"), ('{"upgrades": []}', "sid"), ('{"sid": "a", "upgrades": ["pigeon"]}', "upgrades"),
    ('{"sid": "a", "pingInterval": 0, "pingTimeout": 5}', "pingInterval"), ("{", "not JSON"),
])
def test_bad_open_packets_are_named(raw, field):
    with pytest.raises(ValueError, match=field):
        OpenPacket.from_json(raw)


def test_open_packet_round_trip_and_packets():
    packet = OpenPacket("s1", ("websocket", "sse"), 250, 250, 1000, "3f9a1c02")
    assert OpenPacket.from_json(packet.to_json()) == packet
    assert packet.broken_after_s == 0.5  # two heartbeat intervals
    assert decode_packet(encode_packet("2", "probe")) == ("2", "probe")
    assert LADDER == ("websocket", "sse", "long-polling")  # SignalR's order, best first


def test_ladder_backs_off_with_full_jitter_and_forgets_what_worked():
    import random

    ladder = Ladder(("websocket", "sse"), base=1.0, cap=8.0, rng=random.Random(1))
    assert ladder.next_probe(0.0) == ("websocket", 0.0)
    delays = [ladder.failed("websocket", 0.0) for _ in range(6)]
    assert all(0.0 <= d <= min(8.0, 2.0 ** n) for n, d in enumerate(delays))
    assert ladder.next_probe(0.0)[0] == "sse"  # the next rung, while the first is put off
    ladder.failed("sse", 0.0)
    name, wait = ladder.next_probe(0.0)
    assert (name is None and wait > 0) or name in ("websocket", "sse")
    ladder.worked("websocket")
    assert ladder.next_probe(0.0) == ("websocket", 0.0)
