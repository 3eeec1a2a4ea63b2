"""The cheaper fan-out (rtlab.net.fanout): one broadcast pass writes to the connections that are
caught up, and queues only for those that are behind.

* The rule itself, on a hub with a fake writer: written directly only while the handler is
  parked with nothing queued; queued when the socket refuses, or when something is queued
  ahead; never twice (a seq at or below ``sent_seq`` is skipped).
* End to end, SSE and WebSocket: a raw client that stops reading mid-burst (its socket fills,
  the server queues for it), then reads again. It gets every seq exactly once, in order —
  through the move from direct writes to the queue and back — and a well-behaved client on the
  same server was written to directly (the broadcast did not wake its task for each event).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time

import pytest
from rtlab_support import TIMEOUT, publish_and_wait, wait_seq, wait_until

from rtlab.hub import Hub
from rtlab.net import fanout, sse, websocket
from rtlab.wire.http import dechunk

SEQ = re.compile(rb'"seq":(\d+)')


# -- the rule ------------------------------------------------------------------------------------
def test_the_rule_direct_while_parked_queue_otherwise() -> None:
    async def scenario() -> tuple[list[int], list[int], list[int]]:
        hub = Hub(queue_size=100)
        sub = hub.subscribe()
        written: list[int] = []
        socket_full = False

        def direct(event) -> bool:
            if socket_full:
                return False
            written.append(event.seq)
            return True

        sent: list[int] = []

        async def send(event) -> None:
            sent.append(event.seq)

        hub.publish("t", 1)  # before the handler follows: queued (it is sending its backlog)
        hub.publish("t", 2)
        task = asyncio.get_running_loop().create_task(
            fanout.follow(sub, send, after=1, direct=direct))  # its backlog ended at seq 1
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # it took 2 from the queue, and is parked now
        hub.publish("t", 3)  # caught up: written by the broadcast itself
        hub.publish("t", 4)
        socket_full = True
        hub.publish("t", 5)  # the socket refuses: queued, and the handler woken
        socket_full = False
        hub.publish("t", 6)  # something is queued ahead: queued too, to keep the order
        for _ in range(5):
            await asyncio.sleep(0)
        hub.publish("t", 7)  # the handler drained its queue and parked: direct again
        before_skip = list(written)
        sub.sent_seq = 9  # a seq the connection already has is never sent again
        hub.publish("t", 8)
        assert written == before_skip
        hub.close()
        await asyncio.wait_for(task, TIMEOUT)
        return written, sent, [sub.sent_seq]

    written, sent, last = asyncio.run(scenario())
    assert sent == [2, 5, 6]  # seq 1 was at or below `after`
    assert written == [3, 4, 7]
    assert last == [9]


# -- end to end ----------------------------------------------------------------------------------
def _raw_stream(server, transport: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # fills quickly: back-pressure
    sock.settimeout(TIMEOUT)
    sock.connect((server.host, server.port))
    if transport == "sse":
        head = ["GET /events HTTP/1.1", "Accept: text/event-stream"]
    else:
        head = ["GET /ws HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
                "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
    sock.sendall(("\r\n".join([*head, f"Host: 127.0.0.1:{server.port}"]) + "\r\n\r\n").encode())
    return sock


def _seqs(transport: str, wire: bytes) -> list[int]:
    head, _, body = wire.partition(b"\r\n\r\n")
    if transport == "sse":
        body = dechunk(head, body)
    return [int(m.group(1)) for m in SEQ.finditer(body)]


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_a_client_that_stalls_and_comes_back_gets_every_seq_once_in_order(
        transport, start_server, start_client, monkeypatch) -> None:
    direct_writes = []
    real_call = fanout.DirectWrite.__call__

    def counting(self, event):
        written = real_call(self, event)
        direct_writes.append(written)
        return written

    monkeypatch.setattr(fanout.DirectWrite, "__call__", counting)
    module = sse if transport == "sse" else websocket
    server = start_server(module.Server, queue_size=5_000, socket_send_buffer=16 * 1024)
    fast = start_client(module.Client, server.url)
    stalled = _raw_stream(server, transport)
    wait_until(lambda: server.read(lambda s: s.hub.subscriber_count) == 2, what="both connected")
    publish_and_wait(server, 20)  # both caught up
    wait_seq(fast, 20)
    payload = "x" * 2000
    for i in range(600):  # ~1.2 MB, far more than the stalled socket's buffers hold
        server.publish("big", {"i": i, "pad": payload})
    wait_seq(fast, 620)
    wire = b""
    deadline = time.monotonic() + TIMEOUT
    published_more = False
    while time.monotonic() < deadline:  # now read everything, and more events after it
        wire += stalled.recv(1 << 20)
        seqs = _seqs(transport, wire)
        if seqs and seqs[-1] >= 620 and not published_more:
            publish_and_wait(server, 30)  # caught up again: these go the direct way
            published_more = True
        if seqs and seqs[-1] >= 650:
            break
    stalled.close()
    seqs = _seqs(transport, wire)
    assert seqs == list(range(1, 651)), f"got {len(seqs)} seqs, first gaps at {_first_gap(seqs)}"
    assert fast.recorder.counters()["missed"] == 0 and fast.recorder.counters()["duplicates"] == 0
    assert True in direct_writes  # the broadcast wrote to sockets itself
    assert False in direct_writes  # ... and the stalled one's full socket sent it to the queue
    assert server.read(lambda s: s.hub.dropped) == 0  # behind, not dropped: its queue held


def _first_gap(seqs: list[int]) -> object:
    for a, b in zip(seqs, seqs[1:], strict=False):
        if b != a + 1:
            return (a, b)
    return None


def test_a_keep_alive_is_sent_on_a_quiet_stream(start_server) -> None:
    server = start_server(sse.Server, keepalive=0.3)
    sock = _raw_stream(server, "sse")
    wire = b""
    while b"retry:" not in wire:
        wire += sock.recv(4096)
    publish_and_wait(server, 1)  # written directly, while the handler waits with a keep-alive timer
    while b": keep-alive" not in wire:  # quiet from now on: a comment comes all the same
        wire += sock.recv(4096)
    sock.close()
    assert wire.index(b'"seq":1') < wire.index(b": keep-alive")


def test_read_server_frame_reads_what_server_frame_wrote() -> None:
    from rtlab.wire.websocket import read_server_frame, server_frame
    for size in (0, 125, 126, 65_535, 65_536):  # the 7-bit, 16-bit and 64-bit length forms
        payload = b"x" * size
        wire = server_frame(payload) + b"next"
        assert read_server_frame(wire) == (0x1, payload, b"next")
        assert read_server_frame(wire[:len(wire) - 5]) is None  # one byte short: not yet a frame
    assert read_server_frame(b"\x81") is None
