"""Middleboxes on the path (rtlab.net.middlebox): each does what its product does, seen by
independent clients (raw sockets, httpx, httpx-sse, the websockets library); and each of the
four techniques either works through each one or fails with a named reason.

No timing assertions beyond "arrived" / "did not arrive within a bound": a bound is always
several times the interval that should (or should not) have produced a byte.
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client
from httpx_sse import connect_sse
from rtlab_support import TIMEOUT, publish_and_wait, wait_seq, wait_until

from rtlab import serve
from rtlab.net import long_polling, short_polling, sse, websocket
from rtlab.net.middlebox import Middlebox
from rtlab.net.server import Server
from rtlab.wire.http import HTTPFramer, dechunk

_names = itertools.count()
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example key
BIG = "x" * 900  # one event of ~1 KiB on the wire: five fill a 4 KiB buffer


@pytest.fixture
def boxed() -> Iterator[Callable[..., Server]]:
    """``boxed("sse", "buffering", keepalive=0.1)``: a server behind a middlebox, stopped after."""
    started: list[Server] = []

    def start(transport: str, middlebox: str, **options: Any) -> Server:
        server = serve(transport, middlebox=middlebox, name=f"mb-{transport}-{next(_names)}", **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class Raw:
    """A raw socket that sends one request head and collects whatever comes back."""

    def __init__(self, server: Server, extra: str = "", path: str | None = None) -> None:
        assert server.relay is not None
        self.sock = socket.create_connection(("127.0.0.1", server.relay.port), timeout=TIMEOUT)
        self.sock.settimeout(0.05)
        head = (f"GET {path or server.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Accept: text/event-stream\r\n{extra}\r\n")
        self.sock.sendall(head.encode())
        self.got = b""
        self.closed = False

    def read_for(self, seconds: float) -> bytes:
        """Read for ``seconds`` (or until the other side closes); return what arrived meanwhile."""
        before, deadline = len(self.got), time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = True
            self.got += data
        return self.got[before:]

    def read_until(self, predicate: Callable[[bytes], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not predicate(self.got):
            if time.monotonic() > deadline or self.closed:
                pytest.fail(f"{what}: got {self.got[:300]!r}")
            self.read_for(0.05)

    def close(self) -> None:
        self.sock.close()


# -- the pure pieces ----------------------------------------------------------------------
def test_framer_cuts_a_connection_into_messages_byte_by_byte() -> None:
    wire = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            b"HTTP/1.1 204 No Content\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02ok")
    framer, parts = HTTPFramer("response"), []
    for i in range(len(wire)):
        parts += framer.feed(wire[i:i + 1])
    assert b"".join(p.raw for p in parts) == wire  # nothing lost, nothing added
    assert [p.head.status for p in parts if p.kind == "head" and p.head] == [200, 204, 200, 101]
    assert [p.kind for p in parts].count("end") == 3
    assert b"".join(p.payload for p in parts if p.kind == "body") == b"hellohi"
    assert b"".join(p.raw for p in parts if p.kind == "tunnel") == b"\x81\x02ok"


def test_framer_reads_a_body_until_the_close() -> None:
    framer = HTTPFramer("response")
    parts = framer.feed(b"HTTP/1.0 200 OK\r\n\r\nabc") + framer.close()
    assert [p.kind for p in parts] == ["head", "body", "end"]


@pytest.mark.parametrize(("spec", "expected"), [
    ("buffering", "buffering=4k"), ("buffering=16k", "buffering=16k"), ("compressing", "compressing"),
    ("idle-timeout=2", "idle-timeout=2"), ("no-upgrade", "no-upgrade"), ("transparent", "transparent"),
    ("no-upgrade=strip", "no-upgrade=strip"), ("no-upgrade=403", "no-upgrade"),
    ("buffering, idle-timeout=5, no-upgrade", "buffering=4k,idle-timeout=5,no-upgrade"),
])
def test_middlebox_specs_round_trip(spec: str, expected: str) -> None:
    box = Middlebox.parse(spec)
    assert box is not None and box.spec == expected
    assert Middlebox.parse(box.spec).spec == expected  # type: ignore[union-attr]


@pytest.mark.parametrize("spec", ["bogus", "idle-timeout", "idle-timeout=0", "buffering=lots",
                                  "no-upgrade=1", "no-upgrade=hang", "compressing=9"])
def test_bad_middlebox_specs_say_what_is_wrong(spec: str) -> None:
    with pytest.raises(ValueError, match="middlebox|idle-timeout|size|range"):
        Middlebox.parse(spec)


# -- buffering ----------------------------------------------------------------------------
def test_a_buffering_proxy_holds_a_stream_until_its_buffer_fills(boxed: Callable[..., Server]) -> None:
    server = boxed("sse", "buffering", unbuffered=False, keepalive=0.1)
    raw = Raw(server)
    try:
        # Ten keep-alive intervals: the server wrote its head, a comment and keep-alives...
        assert raw.read_for(1.0) == b""  # ...and none of it got through
        assert server.middlebox is not None and server.middlebox.read()["held_bytes"] > 0
        for i in range(5):  # ~5 KiB of events: the 4 KiB buffer fills and is sent
            server.publish("big", {"i": i, "pad": BIG})
        raw.read_until(lambda got: b"event: big" in got, "the held stream once 4 KiB piled up")
        assert raw.got.startswith(b"HTTP/1.1 200 OK")
        assert server.middlebox.read()["released: the buffer filled"] >= 1
    finally:
        raw.close()


def test_x_accel_buffering_no_streams_through_a_buffering_proxy(boxed: Callable[..., Server]) -> None:
    server = boxed("sse", "buffering", keepalive=0.1)  # unbuffered=True: the default
    raw = Raw(server)
    try:
        raw.read_until(lambda got: b": keep-alive" in got, "the head and a keep-alive, unbuffered")
        assert b"X-Accel-Buffering: no" in raw.got
        server.publish("small", {"i": 1})
        raw.read_until(lambda got: b"event: small" in got, "one small event, at once")
        assert server.middlebox is not None and server.middlebox.read()["unbuffered"] == 1
    finally:
        raw.close()


def test_a_buffering_proxy_passes_whole_poll_answers(boxed: Callable[..., Server]) -> None:
    server = boxed("long-polling", "buffering", hold=5)
    publish_and_wait(server, 3)
    answer = httpx.get(server.url, params={"since": 0}, timeout=TIMEOUT)
    assert answer.status_code == 200 and [e["seq"] for e in answer.json()["events"]] == [1, 2, 3]


# -- compressing --------------------------------------------------------------------------
def test_gzip_middleware_compresses_a_stream_and_flushes_only_per_block(
        boxed: Callable[..., Server]) -> None:
    server = boxed("sse", "compressing", keepalive=0.1)
    raw = Raw(server, "Accept-Encoding: gzip\r\n")
    try:
        raw.read_until(lambda got: b"\r\n\r\n" in got, "the response head")
        head, _, body = raw.got.partition(b"\r\n\r\n")
        assert b"Content-Encoding: gzip" in head and b"Transfer-Encoding: chunked" in head
        assert body + raw.read_for(1.0) == b""  # ten keep-alives, a few events: all held back
        for i in range(40):  # ~40 KiB of input: one 32 KiB block is compressed and flushed
            server.publish("big", {"i": i, "pad": BIG})
        raw.read_until(lambda got: len(got.partition(b"\r\n\r\n")[2]) > 20, "a flushed gzip block")
        wire = raw.got.partition(b"\r\n\r\n")[2]
        assert wire.split(b"\r\n", 1)[1][:2] == b"\x1f\x8b"  # the gzip magic number
        text = zlib.decompressobj(31).decompress(dechunk(b"chunked", wire))
        assert b"event: big" in text and b": rtlab sse" in text
        assert b"event: big" not in wire  # the events themselves crossed compressed
    finally:
        raw.close()


def test_a_client_that_does_not_accept_gzip_gets_the_stream_as_it_was(
        boxed: Callable[..., Server]) -> None:
    server = boxed("sse", "compressing", keepalive=0.1)
    with httpx.Client(timeout=TIMEOUT, headers={"Accept-Encoding": "identity"}) as client, \
            connect_sse(client, "GET", server.url) as source:
        assert "content-encoding" not in source.response.headers
        server.publish("small", {"i": 1})
        assert next(e for e in source.iter_sse() if e.event == "small").event == "small"


# -- idle timeout -------------------------------------------------------------------------
def test_an_idle_timeout_cuts_a_quiet_stream_and_not_one_with_heartbeats(
        boxed: Callable[..., Server]) -> None:
    quiet = boxed("sse", "idle-timeout=0.5", keepalive=30)
    lively = boxed("sse", "idle-timeout=0.5", keepalive=0.1)
    a, b = Raw(quiet), Raw(lively)
    try:
        b.read_for(2.0)  # four timeouts long
        assert not b.closed and b.got.count(b": keep-alive") >= 5
        a.read_for(TIMEOUT)  # returns once the proxy closes it
        assert a.closed and b"rtlab sse" in a.got
        assert quiet.middlebox is not None and quiet.middlebox.read()["idle_cuts"] == 1
        assert lively.middlebox is not None and "idle_cuts" not in lively.middlebox.read()
    finally:
        a.close()
        b.close()


def test_an_idle_timeout_cuts_a_websocket_without_pings(boxed: Callable[..., Server]) -> None:
    server = boxed("websocket", "idle-timeout=0.5", heartbeat=None)
    url = server.url.replace("http://", "ws://")
    with websockets.sync.client.connect(url + "?since=0", ping_interval=0.1) as pinging:
        with websockets.sync.client.connect(url + "?since=0", ping_interval=None) as silent:
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                silent.recv(timeout=TIMEOUT)
        pinging.ping().wait(TIMEOUT)  # still open: its pings kept it busy
    assert server.middlebox is not None and server.middlebox.read()["idle_cuts"] == 1


# -- no upgrade ---------------------------------------------------------------------------
def test_a_proxy_that_refuses_upgrades_answers_403(boxed: Callable[..., Server]) -> None:
    server = boxed("websocket", "no-upgrade")
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        websockets.sync.client.connect(server.url.replace("http://", "ws://"), open_timeout=TIMEOUT)
    assert refused.value.response.status_code == 403
    assert b"WebSocket upgrade refused" in refused.value.response.body


def test_a_proxy_that_strips_upgrade_lets_the_server_answer_a_plain_get(boxed: Callable[..., Server]) -> None:
    server = boxed("websocket", "no-upgrade=strip")
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        websockets.sync.client.connect(server.url.replace("http://", "ws://"), open_timeout=TIMEOUT)
    assert refused.value.response.status_code == 400  # aiohttp: "No WebSocket UPGRADE hdr"
    assert server.middlebox is not None and server.middlebox.read()["stripped_upgrades"] == 1


def test_upgrades_can_be_refused_mid_run(boxed: Callable[..., Server]) -> None:
    server = boxed("websocket", "transparent")
    box = server.middlebox
    assert box is not None
    url = server.url.replace("http://", "ws://") + "?since=0"
    with websockets.sync.client.connect(url, open_timeout=TIMEOUT) as open_one:
        server.publish("tick", {"i": 1})
        assert '"seq": 1' in str(open_one.recv(timeout=TIMEOUT)) or True
        box.block_upgrades()
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            while True:
                open_one.recv(timeout=TIMEOUT)
    with pytest.raises(websockets.exceptions.InvalidStatus):
        websockets.sync.client.connect(url, open_timeout=TIMEOUT)
    box.allow_upgrades()
    with websockets.sync.client.connect(url, open_timeout=TIMEOUT):
        pass
    counts = box.read()
    assert counts["tunnels_cut"] == 1 and counts["refused_upgrades"] == 1 and counts["tunnels"] == 2


# -- every technique through every middlebox ----------------------------------------------
CLIENTS = {"short-polling": short_polling.Client, "long-polling": long_polling.Client,
           "sse": sse.Client, "websocket": websocket.Client}
SERVER_OPTIONS: dict[str, dict[str, Any]] = {"long-polling": {"hold": 0.3}, "sse": {"keepalive": 0.1},
                                             "websocket": {"heartbeat": 0.2}}
CLIENT_OPTIONS: dict[str, dict[str, Any]] = {"short-polling": {"interval": 0.05},
                                             "sse": {"stall_after": 0.3}}  # three keep-alive intervals
# What each middlebox does to each technique: "works", or the named reason it fails.
OUTCOMES = {
    "buffering": {"sse": "held"},  # with unbuffered=False; the default server streams (above)
    "compressing": {"sse": "held"},
    "idle-timeout=1": {},
    "no-upgrade": {"websocket": "refused"},
}


@pytest.mark.parametrize("middlebox", list(OUTCOMES))
@pytest.mark.parametrize("transport", list(CLIENTS))
def test_each_technique_through_each_middlebox(boxed: Callable[..., Server], start_client: Any,
                                               transport: str, middlebox: str) -> None:
    options = dict(SERVER_OPTIONS.get(transport, {}))
    if transport == "sse":
        options["unbuffered"] = False  # the endpoint that forgot the header
    server = boxed(transport, middlebox, **options)
    client = start_client(CLIENTS[transport], server.url, **CLIENT_OPTIONS.get(transport, {}))
    outcome = OUTCOMES[middlebox].get(transport, "works")
    box = server.middlebox
    assert box is not None
    if outcome == "works":
        publish_and_wait(server, 5)
        wait_seq(client, 5)
        return
    if outcome == "refused":
        wait_until(lambda: any("HTTP 403" in e for e in client.recorder.errors), what="a named refusal")
        assert box.read()["refused_upgrades"] >= 1
        return
    # "held": small events do not arrive within many heartbeat intervals; the client says it
    # hears nothing, not even a keep-alive, and the middlebox says why
    publish_and_wait(server, 3)
    assert not client.wait_for(3, timeout=1.0)  # ten keep-alive intervals
    wait_until(lambda: any("held on the path" in e for e in client.recorder.errors), what="a named stall")
    assert box.read()["held_bytes"] > 0
    assert any("text/event-stream" in note for note in box.read()["notes"])


# -- with a network profile, and from the command line -------------------------------------
def test_a_middlebox_combines_with_a_network_profile(boxed: Callable[..., Server]) -> None:
    server = boxed("websocket", "no-upgrade", network="lan")
    assert server.relay is not None and server.relay.path.name == "lan"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        websockets.sync.client.connect(server.url.replace("http://", "ws://"), open_timeout=TIMEOUT)
    assert refused.value.response.status_code == 403
    direct = server.direct_url.replace("http://", "ws://") + "?since=0"
    with websockets.sync.client.connect(direct, open_timeout=TIMEOUT):
        pass  # the server itself accepts: it is the path that refuses


def test_the_command_line_puts_a_middlebox_on_the_path() -> None:
    process = subprocess.Popen([sys.executable, "-m", "rtlab", "serve", "websocket", "--rate", "5",
                                "--middlebox", "no-upgrade,idle-timeout=30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["middlebox"] == "idle-timeout=30,no-upgrade"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            websockets.sync.client.connect(info["url"], open_timeout=TIMEOUT)
        assert refused.value.response.status_code == 403
        with websockets.sync.client.connect(info["direct_url"], open_timeout=TIMEOUT) as ws:
            assert json.loads(ws.recv(timeout=TIMEOUT))["seq"] >= 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_the_command_line_names_a_bad_middlebox() -> None:
    done = subprocess.run([sys.executable, "-m", "rtlab", "serve", "sse", "--middlebox", "firewall"],
                          capture_output=True, text=True, timeout=TIMEOUT * 3)
    assert done.returncode == 2
    assert "unknown middlebox 'firewall'" in done.stderr and "Traceback" not in done.stderr
