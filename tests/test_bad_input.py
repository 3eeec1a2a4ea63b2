"""Bad input, case by case: each gets a clear answer, and the server carries on.

One table drives the test. Each row is something a broken or hostile client could send to
one of the four servers, the HTTP status or WebSocket close code it must get back
(RFC 9110 §15, RFC 6455 §7.4.1), and a phrase the answer must contain so that a learner
reading it knows what went wrong. After every row the same server must still serve a
well-behaved client, and nothing may be logged at ERROR or printed to stderr: in a
notebook that would be a traceback in whatever cell happens to be running.

Requests are written byte by byte on a plain socket, so nothing is tidied up by a client
library on the way (an HTTP library would refuse to send most of these).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from rtlab_support import TIMEOUT, wait_until

from rtlab.net import long_polling, probes, short_polling, sse, websocket
from rtlab.net.server import Server

MAX_MESSAGE = 4096  # the WebSocket server's max_message_bytes in this module


@dataclass(frozen=True)
class Case:
    server: str  # "short-polling", "long-polling", "sse" or "websocket"
    what: str  # the bad input, in words
    request: str = ""  # raw HTTP head without Host (for HTTP cases), "{host}" is filled in
    body: bytes = b""  # sent after the head
    frame: tuple[int, bytes] | None = None  # a WebSocket frame (opcode, payload) after a good handshake
    expect: int = 0  # HTTP status, or WebSocket close code; 0: an error message, connection stays
    says: str = ""  # a phrase the answer must contain


def http(line: str, *headers: str) -> str:
    return "\r\n".join([line, "Host: {host}", *headers]) + "\r\n\r\n"


BIG = "a" * 10_000  # over aiohttp's 8190-byte limit for one header or the request line

CASES = [
    # -- short polling: GET /state?since=N ---------------------------------------------------
    Case("short-polling", "since is not a number", http("GET /state?since=abc HTTP/1.1"),
         expect=400, says="since must be a non-negative integer"),
    Case("short-polling", "since is negative", http("GET /state?since=-1 HTTP/1.1"),
         expect=400, says="since must be a non-negative integer"),
    Case("short-polling", "since is huge (30 digits)", http("GET /state?since=" + "9" * 30 + " HTTP/1.1"),
         expect=400, says="since must be a non-negative integer"),
    Case("short-polling", "unknown path", http("GET /nope HTTP/1.1"), expect=404, says="Not Found"),
    Case("short-polling", "method not allowed (POST)",
         http("POST /state HTTP/1.1", "Content-Length: 2"), body=b"{}",
         expect=405, says="Method Not Allowed"),
    Case("short-polling", "a 10 kB header", http("GET /state HTTP/1.1", f"X-Big: {BIG}"),
         expect=400, says="Got more than 8190 bytes"),
    Case("short-polling", "a 10 kB request line", http(f"GET /state?x={BIG} HTTP/1.1"),
         expect=400, says="Got more than 8190 bytes"),
    Case("short-polling", "a 1 MB body announced", http("GET /state HTTP/1.1", "Content-Length: 1000000"),
         body=b"x" * 1000, expect=413, says="Maximum request body size"),
    Case("short-polling", "not HTTP at all", "garbage\r\n\r\n", expect=400, says="Invalid method"),
    # -- long polling: GET /poll?since=N&hold=S ----------------------------------------------
    Case("long-polling", "no cursor", http("GET /poll HTTP/1.1"), expect=400, says="needs a cursor"),
    Case("long-polling", "since is a fraction", http("GET /poll?since=1.5 HTTP/1.1"),
         expect=400, says="since must be a non-negative integer"),
    Case("long-polling", "hold is not a number", http("GET /poll?since=0&hold=abc HTTP/1.1"),
         expect=400, says="hold must be a number of seconds between 0 and 120"),
    Case("long-polling", "hold too long", http("GET /poll?since=0&hold=1000 HTTP/1.1"),
         expect=400, says="between 0 and 120"),
    Case("long-polling", "hold negative", http("GET /poll?since=0&hold=-1 HTTP/1.1"),
         expect=400, says="between 0 and 120"),
    Case("long-polling", "hold is NaN", http("GET /poll?since=0&hold=nan HTTP/1.1"),
         expect=400, says="between 0 and 120"),
    Case("long-polling", "method not allowed (DELETE)", http("DELETE /poll?since=0 HTTP/1.1"),
         expect=405, says="Method Not Allowed"),
    # -- SSE: GET /events with Last-Event-ID -------------------------------------------------
    Case("sse", "Last-Event-ID is garbage", http("GET /events HTTP/1.1", "Last-Event-ID: hello"),
         expect=400, says="Last-Event-ID (or ?since=) must be"),
    Case("sse", "Last-Event-ID is negative", http("GET /events HTTP/1.1", "Last-Event-ID: -5"),
         expect=400, says="non-negative integer"),
    Case("sse", "Last-Event-ID is huge", http("GET /events HTTP/1.1", "Last-Event-ID: " + "9" * 30),
         expect=400, says="non-negative integer"),
    Case("sse", "since is not a number", http("GET /events?since=x HTTP/1.1"),
         expect=400, says="non-negative integer"),
    Case("sse", "method not allowed (POST)", http("POST /events HTTP/1.1", "Content-Length: 0"),
         expect=405, says="Method Not Allowed"),
    # -- WebSocket: the handshake ----------------------------------------------------------------
    Case("websocket", "since is not a number", http("GET /ws?since=abc HTTP/1.1", *[
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]),
         expect=400, says="since must be a non-negative integer"),
    Case("websocket", "Origin of another site", http("GET /ws HTTP/1.1", *[
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: http://evil.example"]),
         expect=403, says="is not allowed to open a WebSocket here"),
    Case("websocket", "plain GET, no Upgrade", http("GET /ws HTTP/1.1"),
         expect=400, says="Upgrade"),
    Case("websocket", "unknown path", http("GET /ws/nope HTTP/1.1"), expect=404, says="Not Found"),
    # -- WebSocket: frames after a good handshake ---------------------------------------------------
    Case("websocket", "text frame that is not UTF-8", frame=(0x1, b"\xff\xfe bad"),
         expect=1007, says=""),
    Case("websocket", f"message over max_message_bytes ({MAX_MESSAGE})",
         frame=(0x1, b"\"" + b"a" * (MAX_MESSAGE + 100) + b"\""), expect=1009, says=""),
    Case("websocket", "binary frame", frame=(0x2, b"\x00\x01"), expect=1003,
         says="binary frames are not accepted"),
    Case("websocket", "invalid JSON", frame=(0x1, b"not json"), expect=0, says="JSON objects"),
    Case("websocket", "JSON of the wrong shape (a list)", frame=(0x1, b"[1, 2]"), expect=0,
         says="expected a JSON object with a string 'type'"),
    Case("websocket", "JSON object whose type is not a string", frame=(0x1, b'{"type": 5}'),
         expect=0, says="expected a JSON object with a string 'type'"),
]


# -- the four servers, shared by every case (so the damage would add up) ---------------------------
@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    started = {
        "short-polling": short_polling.Server(name="bad-input-short-polling"),
        "long-polling": long_polling.Server(name="bad-input-long-polling", hold=5),
        "sse": sse.Server(name="bad-input-sse", keepalive=0.5),
        "websocket": websocket.Server(name="bad-input-websocket", max_message_bytes=MAX_MESSAGE),
    }
    for server in started.values():
        server.start()
    yield started
    for server in started.values():
        server.stop()


# -- raw HTTP and raw WebSocket, on a plain socket --------------------------------------------------
def connect(server: Server) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    return sock


def read_head(sock: socket.socket) -> tuple[int, bytes, bytes]:
    """Read up to the blank line: (status, head, whatever came after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, rest


def http_exchange(server: Server, request: str, body: bytes = b"") -> tuple[int, str]:
    """Send a raw request; return the status and the body (read until the server closes)."""
    with connect(server) as sock:
        sock.sendall(request.replace("{host}", f"127.0.0.1:{server.port}").encode("latin-1") + body)
        status, head, rest = read_head(sock)
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if status in (204, 304):
            length = 0  # no body, by definition
        while length is None or len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return status, rest.decode("utf-8", errors="replace")


def ws_open(server: Server, query: str = "") -> socket.socket:
    """A WebSocket handshake done by hand (RFC 6455 §4.1); the socket after the 101."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock = connect(server)
    sock.sendall(http(f"GET /ws{query} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
                      "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Key: {key}")
                 .replace("{host}", f"127.0.0.1:{server.port}").encode())
    status, head, rest = read_head(sock)
    assert status == 101, head
    assert rest == b""  # nothing published in this module, so no event follows at once
    return sock


def ws_send(sock: socket.socket, opcode: int, payload: bytes) -> None:
    """One final frame, masked as a client must (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else (
        bytes([0x80 | 126]) + struct.pack("!H", n) if n < 65536
        else bytes([0x80 | 127]) + struct.pack("!Q", n))
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x80 | opcode]) + length + mask + masked)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the server closed the TCP connection mid-frame")
        data += chunk
    return data


def ws_recv(sock: socket.socket) -> tuple[int, bytes]:
    """One frame from the server (unmasked): (opcode, payload)."""
    first, second = recv_exactly(sock, 2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exactly(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exactly(sock, 8))[0]
    return first & 0x0F, recv_exactly(sock, n)


def ws_answer(sock: socket.socket) -> tuple[int, str]:
    """The server's answer to a frame: (close code, reason) or (0, text of a message)."""
    while True:
        opcode, payload = ws_recv(sock)
        if opcode == 0x8:  # close: 2-byte code, then a UTF-8 reason
            return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")
        if opcode == 0x1:
            return 0, payload.decode()
        # a ping (heartbeat) or anything else: keep reading


# -- what "still serves another client" means for each server ----------------------------------------
def still_serves(server: Server) -> None:
    if server.transport == "websocket":
        with ws_open(server) as sock:
            ws_send(sock, 0x1, json.dumps({"type": "echo", "id": 1}).encode())
            code, text = ws_answer(sock)
            assert code == 0 and json.loads(text)["type"] == "echo"
    elif server.transport == "sse":
        stream = probes.raw_stream(server.url, nbytes=8, seconds=TIMEOUT)
        assert stream.head.startswith(b"HTTP/1.1 200"), stream.head
    elif server.transport == "long-polling":
        assert http_exchange(server, http("GET /poll?since=0&hold=0 HTTP/1.1"))[0] == 204
    else:
        assert http_exchange(server, http("GET /state?since=0 HTTP/1.1"))[0] == 200


@pytest.mark.parametrize("case", CASES, ids=[f"{c.server}: {c.what}" for c in CASES])
def test_bad_input_gets_a_clear_answer_and_the_server_carries_on(case, servers, caplog, capfd):
    server = servers[case.server]
    caplog.set_level(logging.ERROR)
    if case.frame is None:
        status, text = http_exchange(server, case.request, case.body)
        assert status == case.expect, f"{case.what}: HTTP {status} {text!r}"
    else:
        with ws_open(server) as sock:
            ws_send(sock, *case.frame)
            status, text = ws_answer(sock)
        assert status == case.expect, f"{case.what}: close code {status} {text!r}"
        if case.expect == 0:
            assert json.loads(text)["type"] == "error"
    assert case.says in text, f"{case.what}: the answer does not say {case.says!r}: {text!r}"

    still_serves(server)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert "Traceback" not in capfd.readouterr().err


def test_the_table_covers_every_server_with_at_least_twenty_cases():
    assert len(CASES) >= 20
    assert {c.server for c in CASES} == {"short-polling", "long-polling", "sse", "websocket"}


@pytest.mark.parametrize("transport", ["long-polling", "sse"])
def test_too_many_connections_get_503_and_the_server_recovers(transport):
    """Past ``max_connections`` a request is refused with 503 and a message, not a crash.

    (Issue 11: idle connections are now closed to make room, so the server is filled with
    requests in progress — long polls, streams — instead of idle sockets.)
    """
    module = {"long-polling": long_polling, "sse": sse}[transport]
    server = module.Server(name=f"bad-input-full-{transport}", max_connections=3).start()
    target = "/poll?since=0&hold=60" if transport == "long-polling" else "/events"
    request = http(f"GET {server.path}?since=0 HTTP/1.1")
    try:
        held = [connect(server) for _ in range(3)]  # three requests in progress fill the server
        for sock in held:
            sock.sendall(http(f"GET {target} HTTP/1.1").replace("{host}", f"127.0.0.1:{server.port}")
                         .encode())
        try:
            wait_until(lambda: server.stats().connections_open == 3 and server.read(
                lambda s: sum(c.active for c in s.meter.open)) == 3, what="3 requests in progress")
            status, text = http_exchange(server, request)
            assert status == 503, text
            assert "too many connections" in text and "max_connections" in text
        finally:
            for sock in held:
                sock.close()
        wait_until(lambda: server.stats().connections_open == 0, what="all closed")
        still_serves(server)
    finally:
        server.stop()
