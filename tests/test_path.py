"""The emulated network path (rtlab.net.path): every byte through, in order; delays roughly
as set; both sides released on a fault; nothing leaks.

Timing checks here are deliberately loose (a delay is never *shorter* than set, and not
absurdly longer): the exact figures are measured in benchmarks/path_fidelity.py.
"""

from __future__ import annotations

import gc
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest
from httpx_sse import connect_sse
from rtlab_support import TIMEOUT, publish_and_wait, wait_seq, wait_until

import rtlab
from rtlab.net import long_polling, short_polling, sse, websocket
from rtlab.net.path import Relay, network_loop
from rtlab.net.path_model import NetworkPath

TRANSPORTS = [
    (short_polling, {"interval": 0.02}),
    (long_polling, {}),
    (sse, {}),
    (websocket, {}),
]
ROUGH = NetworkPath(rtt_ms=10, jitter_ms=3, down_kbit=4_000, up_kbit=4_000, loss=0.03,
                    burst_bytes=4096, seed=7)


class Echo:
    """A plain TCP echo server on a thread: what goes in comes back."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def echo():
    server = Echo()
    yield server
    server.close()


@pytest.fixture
def relay_to():
    started: list[Relay] = []

    def start(path: NetworkPath, port: int) -> Relay:
        relay = Relay(path, "127.0.0.1", port).start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(65536, n - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def test_every_byte_crosses_in_order_under_delay_jitter_cap_and_stalls(echo, relay_to):
    relay = relay_to(ROUGH, echo.port)
    data = random.Random(1).randbytes(300_000)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=TIMEOUT) as sock:
        sender = threading.Thread(target=lambda: [sock.sendall(data[i:i + 7000])
                                                  for i in range(0, len(data), 7000)])
        sender.start()
        back = recv_exactly(sock, len(data))
        sender.join()
    assert back == data
    assert relay.read()["stalls"] > 0  # the stalls were exercised, not only the delay


@pytest.mark.parametrize(("module", "options"), TRANSPORTS,
                         ids=["short-polling", "long-polling", "sse", "websocket"])
def test_a_client_through_the_path_receives_exactly_what_a_direct_one_does(module, options,
                                                                         start_server, start_client):
    server = start_server(module.Server, network=ROUGH)
    assert server.url != server.direct_url and server.relay is not None
    through, direct = [], []
    a = start_client(module.Client, server.url, on_event=through.append, **options)
    b = start_client(module.Client, server.direct_url, on_event=direct.append, **options)
    for i in range(40):  # small and large events: a 30 KB one is split by the token bucket
        size = 30_000 if i % 10 == 9 else random.Random(i).randrange(1, 300)
        server.publish("blob", {"i": i, "text": "é✓" * (size // 2)})
    wait_seq(a, 40)
    wait_seq(b, 40)
    assert [(e.seq, e.type, e.data) for e in through] == [(e.seq, e.type, e.data) for e in direct]
    assert a.recorder.missed == a.recorder.duplicates == 0
    assert server.relay.read()["bytes_down"] > 40 * 150


def test_a_round_trip_costs_about_the_rtt_and_a_new_connection_one_more(echo, relay_to):
    relay = relay_to(NetworkPath(rtt_ms=60), echo.port)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        sock.sendall(b"x")
        recv_exactly(sock, 1)
        first = time.perf_counter() - t0
        rtts = []
        for _ in range(8):
            t0 = time.perf_counter()
            sock.sendall(b"ping")
            recv_exactly(sock, 4)
            rtts.append(time.perf_counter() - t0)
    assert 0.055 <= statistics.median(rtts) < 0.5
    assert first >= 0.115  # the TCP handshake's round trip, then the echo's


def test_a_bandwidth_cap_slows_a_transfer_to_about_the_cap(echo, relay_to):
    relay = relay_to(NetworkPath(down_kbit=4_000, up_kbit=40_000), echo.port)  # 500 kB/s back
    data = b"z" * 250_000
    with socket.create_connection(("127.0.0.1", relay.port), timeout=TIMEOUT) as sock:
        t0 = time.perf_counter()
        threading.Thread(target=sock.sendall, args=(data,), daemon=True).start()
        assert recv_exactly(sock, len(data)) == data
        took = time.perf_counter() - t0
    assert 0.4 <= took < 3.0  # 0.5 s at the cap (minus one 8 KiB burst)


def test_sse_at_100_ms_rtt_delivers_about_50_ms_after_publishing(start_server, start_client):
    server = start_server(sse.Server, network=NetworkPath(rtt_ms=100))
    client = start_client(sse.Client, server.url)
    wait_until(lambda: server.read(lambda s: s.hub.subscriber_count) == 1, what="subscribed")
    for i in range(10):
        server.publish("tick", {"i": i})
        time.sleep(0.02)
    wait_seq(client, 10)
    assert 0.049 <= statistics.median(client.recorder.latencies_ms()) / 1000 < 0.5


def test_a_client_of_its_own_network_goes_through_its_own_path(start_server, start_client):
    server = start_server(sse.Server)
    client = start_client(sse.Client, server.url, network="lan")
    assert client.relay is not None and client.url != server.url
    publish_and_wait(server, 3)
    wait_seq(client, 3)
    client.stop()
    assert client.relay is None and client.url == server.url


def test_a_client_that_resets_mid_stream_releases_both_sides(start_server):
    server = start_server(sse.Server, network=NetworkPath(rtt_ms=4))
    port = int(server.url.split(":")[2].split("/")[0])
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # a loopback Host (issue 11)
    wait_until(lambda: server.read(lambda s: s.hub.subscriber_count) == 1, what="subscribed")
    publish_and_wait(server, 5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # linger 0: a reset, not a goodbye
    wait_until(lambda: server.relay.read()["connections_open"] == 0, what="the relay let go")
    wait_until(lambda: server.stats().connections_open == 0, what="the server side closed too")


@pytest.mark.parametrize("module", [sse, websocket, long_polling],
                         ids=["sse", "websocket", "long-polling"])
def test_a_server_crash_reaches_the_client_and_recover_works_through_the_same_path(
        module, start_server, start_client):
    server = start_server(module.Server, network=NetworkPath(rtt_ms=6))
    url = server.url
    client = start_client(module.Client, url)
    publish_and_wait(server, 5)
    wait_seq(client, 5)
    server.crash()
    publish_and_wait(server, 5)  # numbered while down, as after a real crash
    wait_until(lambda: server.relay.read()["connections_open"] == 0 or client.recorder.reconnects > 0,
               what="the cut reached through the path")
    server.recover()
    assert server.url == url  # the same path, the same port
    wait_seq(client, 10)
    assert client.recorder.missed == client.recorder.duplicates == 0


def test_a_relay_to_nothing_refuses_after_a_round_trip(relay_to):
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    relay = relay_to(NetworkPath(rtt_ms=20), port)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"hello")
        try:
            assert sock.recv(10) == b""
        except ConnectionResetError:
            pass
    wait_until(lambda: relay.read()["connections_open"] == 0, what="the pair to go")
    assert relay.read()["refused"] == 1


def test_the_command_line_prints_both_urls_and_serves_through_the_path():
    process = subprocess.Popen([sys.executable, "-m", "rtlab", "serve", "sse", "--rtt-ms", "100",
                                "--rate", "20"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["url"] != info["direct_url"]
        assert info["network"]["rtt_ms"] == 100 and info["network"]["loss"] == 0
        latencies = []
        with httpx.Client(timeout=TIMEOUT) as http, connect_sse(http, "GET", info["url"]) as stream:
            for message in stream.iter_sse():
                if message.event == "tick" or message.data.startswith("{"):
                    sent_ns = json.loads(message.data).get("sent_ns")
                    latencies.append((time.monotonic_ns() - sent_ns) / 1e6)
                if len(latencies) >= 40:
                    break
        # The first events are old (published before we connected, replayed from the buffer):
        # none may arrive sooner than the path allows, and the last ones are live.
        assert min(latencies) >= 49
        assert statistics.median(latencies[-5:]) < 500
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(TIMEOUT)


def resources() -> tuple[int, int, int]:
    gc.collect()
    process = psutil.Process()
    return threading.active_count(), process.num_fds(), len(process.net_connections(kind="inet"))


def test_twenty_start_stop_cycles_with_a_path_leak_nothing():
    def cycle(i: int) -> None:
        server = sse.Server(name="path-leak-test", network="lan").start()
        client = sse.Client(server.url).start()
        server.publish("tick", {"i": i})
        wait_seq(client, 1)
        if i % 2:
            client.stop()
            server.stop()
        else:
            server.stop()
            client.stop()

    cycle(0)  # warm up: the network loop thread, imports
    network_loop()
    before = resources()
    for i in range(20):
        cycle(i)
    wait_until(lambda: all(now <= then for now, then in zip(resources(), before, strict=True)),
               what=f"threads, fds, sockets back to {before}")
    assert "path-leak-test" not in rtlab.running_servers()
    assert os.name != "posix" or resources()[1] <= before[1]


def test_each_network_flag_works_alone_or_changes_a_profile():
    from rtlab.cli import main, network_from

    parser_args = ["serve", "sse"]

    def parsed(*flags: str):
        import argparse

        from rtlab.cli import _network_flags
        p = argparse.ArgumentParser()
        _network_flags(p)
        return network_from(p.parse_args(list(flags)))

    assert parsed() is None and parsed("--network", "loopback") is None
    alone = parsed("--loss", "0.01")
    assert alone.loss == 0.01 and alone.rtt_ms == 0 and alone.down_kbit == 0
    capped = parsed("--bandwidth-kbit", "500")
    assert capped.down_kbit == capped.up_kbit == 500 and capped.rtt_ms == 0
    changed = parsed("--network", "3g", "--rtt-ms", "50", "--tls", "1")
    assert (changed.rtt_ms, changed.down_kbit, changed.tls, changed.name) == (50, 1600, 1, "3g")
    with pytest.raises(SystemExit):
        main([*parser_args, "--network", "5g-dreams"])


def test_serve_help_lists_the_profiles_with_their_figures():
    out = subprocess.run([sys.executable, "-m", "rtlab", "serve", "--help"], capture_output=True,
                         text=True, timeout=TIMEOUT).stdout
    for name, figure in [("lan", "RTT 1 ms"), ("4g", "RTT 170 ms"), ("3g", "1600/768"),
                         ("lossy-wifi", "loss 2 %"), ("intercontinental", "160")]:
        assert name in out and figure in out, out


def test_compare_and_scale_take_the_same_network_option():
    from rtlab.lessons.experiments import compare, scale

    path = NetworkPath(rtt_ms=20)
    results = compare(["sse", "long-polling"], events=5, rate=50, network=path)
    assert all(r.delivered == 5 and r.options["network"] == "custom" for r in results.values())
    assert min(results["sse"].latencies_ms()) >= 9.5  # never faster than the one-way delay
    scaled = scale([1, 2], ["websocket"], events=3, rate=50, network="lan")
    assert [scaled[n]["websocket"].delivered for n in (1, 2)] == [3, 6]
