"""Memory and connection slots a client could take, and how the servers take them back.

* a poll answer is capped in bytes, not only in events (300 never-reading pollers of a
  10,000 × 2 kB backlog took a server from 61 MB to 1.1 GB before);
* a connection that sends nothing, or never finishes its request, is closed after
  ``idle_timeout`` / ``request_timeout`` (aiohttp kept them for an hour, holding slots);
* a peer that stops reading is cut once a write has made no progress for ``write_timeout``
  (SSE and WebSocket peers stayed connected for minutes after being dropped);
* SSE: a *resuming* client is never locked out by a full server, and the rtlab client
  retries a 503 with backoff instead of giving up for good;
* ``max_connections`` respects the process's file-descriptor limit, and a full server
  answers 503 without a traceback.

Every test is bounded (tens of sockets), and waits for conditions, never for a time.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import httpx
import pytest
from hardening_support import closed_by_server, open_socket, request
from rtlab_support import TIMEOUT, publish_and_wait, server_call, wait_seq, wait_until

from rtlab.net import long_polling, short_polling, sse, websocket

BIG = "x" * 20_000  # 20 kB payloads: 200 of them are a 4 MB backlog


def open_connections(server) -> int:
    return server.stats().connections_open


@pytest.mark.parametrize("cls, target", [(short_polling.Server, "/state?since=0"),
                                         (long_polling.Server, "/poll?since=0")])
def test_a_poll_answer_is_capped_in_bytes_and_the_cursor_gets_the_rest(cls, target, start_server,
                                                                      start_client):
    server = start_server(cls)
    for i in range(200):
        server.publish("big", {"i": i + 1, "pad": BIG})
    wait_until(lambda: server_call(server, lambda: server.hub.latest_seq) == 200, what="200 events")
    status, _, body = request(server.port, target)
    assert status == 200
    answer = json.loads(body)
    assert len(body) < 1_100_000, f"one answer carried {len(body):,} bytes"
    assert 1 <= len(answer["events"]) < 200
    client_cls = short_polling.Client if cls is short_polling.Server else long_polling.Client
    options = {"interval": 0.02} if cls is short_polling.Server else {}
    client = start_client(client_cls, server.url, **options)
    wait_seq(client, 200)  # the cursor fetches the rest, answer after answer
    assert client.recorder.seqs == list(range(1, 201)) and client.recorder.missed == 0


def test_one_event_bigger_than_the_cap_still_goes_out_alone(start_server):
    server = start_server(long_polling.Server, max_answer_bytes=10_000)
    server.publish("big", {"pad": BIG})
    server.publish("big", {"pad": BIG})
    wait_until(lambda: server_call(server, lambda: server.hub.latest_seq) == 2, what="2 events")
    status, _, body = request(server.port, "/poll?since=0")
    assert status == 200 and [e["seq"] for e in json.loads(body)["events"]] == [1]


@pytest.mark.parametrize("cls", [short_polling.Server, long_polling.Server, sse.Server, websocket.Server])
def test_a_connection_that_sends_nothing_is_closed(cls, start_server):
    server = start_server(cls, idle_timeout=0.5)
    with open_socket(server.port) as sock:
        assert closed_by_server(sock), "an idle connection was kept"
    wait_until(lambda: open_connections(server) == 0, what="the slot to be freed")


@pytest.mark.parametrize("cls", [short_polling.Server, sse.Server])
def test_a_request_that_never_completes_is_closed(cls, start_server):
    server = start_server(cls, request_timeout=0.5)
    with open_socket(server.port) as sock:
        sock.sendall(b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and never the rest
        assert closed_by_server(sock), "a half-sent request was kept"


def test_idle_sockets_do_not_lock_normal_requests_out_for_long(start_server):
    server = start_server(short_polling.Server, max_connections=10, idle_timeout=0.5)
    idle = [open_socket(server.port) for _ in range(12)]
    try:
        wait_until(lambda: request(server.port, "/state")[0] == 200,
                   what="a normal request to get through once the idle slots are reclaimed")
    finally:
        for sock in idle:
            sock.close()


def _never_reading_stream(server, target: str):
    sock = open_socket(server.port, rcvbuf=4096)
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
    return sock


def test_a_never_reading_sse_peer_is_cut(start_server):
    server = start_server(sse.Server, queue_size=20, write_timeout=1.0, socket_send_buffer=8192)
    sock = _never_reading_stream(server, "/events")
    try:
        wait_until(lambda: server_call(server, lambda: server.hub.subscriber_count) == 1,
                   what="the stream to open")
        for i in range(300):
            server.publish("big", {"i": i, "pad": "y" * 4000})
        wait_until(lambda: open_connections(server) == 0, what="the never-reading peer to be cut")
    finally:
        sock.close()


def test_a_never_reading_websocket_peer_is_cut(start_server):
    from hardening_support import ws_open
    server = start_server(websocket.Server, queue_size=20, heartbeat=0.5, write_timeout=1.0,
                          socket_send_buffer=8192)
    sock, head = ws_open(server.port, rcvbuf=4096)
    try:
        assert head.startswith(b"HTTP/1.1 101")
        wait_until(lambda: server_call(server, lambda: server.hub.subscriber_count) == 1,
                   what="the socket to subscribe")
        for i in range(300):
            server.publish("big", {"i": i, "pad": "y" * 4000})
        wait_until(lambda: open_connections(server) == 0, what="the never-reading peer to be cut")
    finally:
        sock.close()


def test_a_never_reading_poller_is_cut(start_server):
    server = start_server(short_polling.Server, write_timeout=1.0, socket_send_buffer=8192)
    for i in range(100):
        server.publish("big", {"i": i, "pad": BIG})
    wait_until(lambda: server_call(server, lambda: server.hub.latest_seq) == 100, what="the backlog")
    socks = [_never_reading_stream(server, "/state?since=0") for _ in range(5)]
    try:
        wait_until(lambda: open_connections(server) == 0, what="never-reading pollers to be cut")
    finally:
        for sock in socks:
            sock.close()


# -- SSE and 503 ------------------------------------------------------------------------------------
def _first_id(server) -> str:
    """The id: of the first event, as a browser would remember it."""
    with open_socket(server.port) as sock:
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        data = b""
        while b"\nid: " not in data or not data.split(b"\nid: ", 1)[1].count(b"\n"):
            data += sock.recv(4096)
    return data.split(b"\nid: ", 1)[1].split(b"\n", 1)[0].decode()


def test_a_resuming_sse_client_is_not_locked_out_by_a_full_server(start_server):
    server = start_server(sse.Server, max_connections=3, keepalive=0.2)
    server.publish("tick", {"i": 1})
    wait_until(lambda: server_call(server, lambda: server.hub.latest_seq) == 1, what="one event")
    last_id = _first_id(server)
    # The reader's connection closes before its handler unsubscribes: wait for both, or a
    # lingering subscription makes the server look full before it is.
    wait_until(lambda: open_connections(server) == 0
               and server_call(server, lambda: server.hub.subscriber_count) == 0, what="the reader to go")
    streams = [_never_reading_stream(server, "/events") for _ in range(4)]  # the server is full
    try:
        # Three streams in, the fourth refused and gone: only then is "full" a steady state.
        wait_until(lambda: server_call(server, lambda: server.hub.subscriber_count) == 3
                   and open_connections(server) == 3, what="the server to fill with streams")
        assert _status_of(server, []) == 503  # a new client may wait
        assert _status_of(server, [f"Last-Event-ID: {last_id}"]) == 200, \
            "a client resuming its stream was refused"
    finally:
        for sock in streams:
            sock.close()


def test_idle_connections_are_shed_to_make_room(start_server):
    server = start_server(short_polling.Server, max_connections=5)
    idle = [open_socket(server.port) for _ in range(5)]
    try:
        wait_until(lambda: open_connections(server) == 5, what="the server to fill")
        assert request(server.port, "/state")[0] == 200  # the oldest idle one made room
        assert closed_by_server(idle[0], timeout=5)
    finally:
        for sock in idle:
            sock.close()


def _status_of(server, headers: list[str]) -> int:
    with open_socket(server.port, timeout=5) as sock:
        lines = ["GET /events HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
                 "Accept: text/event-stream", *headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0


def test_the_rtlab_sse_client_retries_a_503_with_backoff(start_server, start_client):
    server = start_server(sse.Server, max_connections=2, retry_ms=50, keepalive=0.2)
    held = [_never_reading_stream(server, "/events") for _ in range(2)]  # two streams fill it
    wait_until(lambda: server_call(server, lambda: server.hub.subscriber_count) == 2,
               what="the server to fill")
    client = start_client(sse.Client, server.url)
    wait_until(lambda: client.recorder.requests >= 2 or client.failure is not None,
               what="the client to be refused and try again")
    assert client.failure is None, f"the client gave up: {client.failure}"
    for sock in held:
        sock.close()
    wait_until(lambda: server_call(server, lambda: server.hub.subscriber_count) == 1,
               what="the client to get in")
    publish_and_wait(server, 3)
    wait_seq(client, 3)


# -- the file-descriptor limit -------------------------------------------------------------------------
def test_max_connections_is_kept_under_the_fd_limit():
    code = ("import resource, json; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256));"
            "from rtlab.net import short_polling as sp; s = sp.Server(max_connections=16384).start();"
            "print(json.dumps(s.max_connections)); s.stop()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 16 <= json.loads(out.stdout) <= 256 - 32, out.stdout


def _limit_fds():
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))


@pytest.mark.timeout(120)
def test_past_the_fd_limit_a_served_process_answers_503_without_tracebacks():
    """``python -m rtlab serve`` under ``ulimit -n 200``, hit by 260 idle sockets."""
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1024:
        pytest.skip("this test process itself needs more than 1,024 descriptors")
    proc = subprocess.Popen([sys.executable, "-m", "rtlab", "serve", "short-polling", "--rate", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_limit_fds, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    held = []
    try:
        port = json.loads(proc.stdout.readline())["port"]
        for _ in range(260):
            try:
                held.append(open_socket(port, timeout=5))
            except OSError:
                break
        with httpx.Client(timeout=10) as http:
            answer = http.get(f"http://127.0.0.1:{port}/state")  # must not time out
        assert answer.status_code in (200, 503)
        for sock in held:
            sock.close()
        held = []
        with httpx.Client(timeout=TIMEOUT) as http:
            wait_until(lambda: http.get(f"http://127.0.0.1:{port}/state").status_code == 200,
                       what="the server to serve again")
    finally:
        for sock in held:
            sock.close()
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert "Traceback" not in stderr and len(stderr) < 2000, stderr[:2000]
