"""Clients that vanish, go silent or read too slowly: the server frees what they held, and
nobody else notices.

* **Vanished**: the TCP connection is reset with no goodbye (a killed browser tab).
  The server finds out the next time it writes (an SSE keep-alive, an event) or at once
  (WebSocket reads), and releases the subscription.
* **Silent**: a WebSocket peer that stays connected but never answers (a phone in a tunnel).
  Only the heartbeat notices: a ping with no pong closes it within ~1.5 heartbeats.
* **Slow**: a consumer that reads far slower than events arrive. Once the kernel's socket
  buffers are full, its queue on the server fills up to ``queue_size`` and the hub's
  policy drops it (:class:`rtlab.hub.SubscriberOverflow`): the SSE stream ends, a
  WebSocket closes with 1013. It reconnects from its cursor and, within the replay
  buffer, loses nothing. A fast client on the same server gets every event.

The slow readers use a socket with a small receive buffer, so TCP back-pressure reaches the
server quickly; they sleep between reads — that *is* the slowness under test. No
assertion is about time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Iterator

import aiohttp
import pytest
from rtlab_support import TIMEOUT, publish_and_wait, server_call, wait_seq, wait_until
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from rtlab.lessons.feed import Feed
from rtlab.net import long_polling, sse, websocket
from rtlab.net.server import Server
from rtlab.wire.sse import SSEParser

SLOW_EVENTS = 4_000  # x ~2 kB each: about 8 MB, more than the kernel buffers on both sides
QUEUE = 200  # the servers' queue_size here: what a slow client may cost the server, in events


def subscribers(server: Server) -> int:
    return server_call(server, lambda: server.hub.subscriber_count)


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0): no FIN, no close frame, nothing polite."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def raw_get(server: Server, target: str, *headers: str) -> socket.socket:
    """Open a connection and send a GET; the caller reads (or does not)."""
    sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    head = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", *headers]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before {marker!r}: {data[:200]!r}"
        data += chunk
    return data


WS_UPGRADE = ("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")


# -- vanished and silent clients ---------------------------------------------------------------------
def test_vanished_sse_client_is_freed_and_the_other_client_carries_on(start_server, start_client):
    server = start_server(sse.Server, keepalive=0.2)
    other = start_client(sse.Client, server.url)
    wait_until(lambda: server.streams == 1, what="the well-behaved stream")
    gone = raw_get(server, "/events", "Accept: text/event-stream")
    read_until(gone, b"retry:")  # the stream is open
    assert server.streams == 2 and subscribers(server) == 2
    reset(gone)
    # The next keep-alive write fails: the handler ends and its subscription is closed.
    wait_until(lambda: server.streams == 1 and subscribers(server) == 1,
               what="the vanished stream to be released")
    publish_and_wait(server, 20)
    wait_seq(other, 20)
    assert other.recorder.seqs == list(range(1, 21))
    assert other.recorder.reconnects == 0


def test_vanished_websocket_client_is_freed_at_once(start_server, start_client):
    server = start_server(websocket.Server)
    other = start_client(websocket.Client, server.url)
    wait_until(lambda: subscribers(server) == 1, what="the well-behaved client")
    gone = raw_get(server, "/ws", *WS_UPGRADE)
    read_until(gone, b"\r\n\r\n")
    wait_until(lambda: subscribers(server) == 2, what="the raw client to subscribe")
    reset(gone)
    wait_until(lambda: subscribers(server) == 1 and len(server.sockets) == 1,
               what="the reset connection to be released")
    publish_and_wait(server, 20)
    wait_seq(other, 20)
    assert other.recorder.seqs == list(range(1, 21))


def test_silent_websocket_peer_is_dropped_by_the_heartbeat(start_server, start_client):
    # Connected, but it never reads a byte nor answers a ping: only the heartbeat can tell.
    server = start_server(websocket.Server, heartbeat=0.5)
    other = start_client(websocket.Client, server.url)
    wait_until(lambda: subscribers(server) == 1, what="the well-behaved client")
    silent = raw_get(server, "/ws", *WS_UPGRADE)
    try:
        read_until(silent, b"\r\n\r\n")
        wait_until(lambda: subscribers(server) == 2, what="the silent client to subscribe")
        wait_until(lambda: subscribers(server) == 1, what="the heartbeat to drop the silent peer")
    finally:
        silent.close()
    publish_and_wait(server, 20)
    wait_seq(other, 20)
    assert other.recorder.seqs == list(range(1, 21))
    assert other.recorder.reconnects == 0  # the rtlab client answers pings (aiohttp does it)


def test_vanished_long_poll_is_released_when_its_hold_ends(start_server, start_client):
    server = start_server(long_polling.Server, hold=0.5)
    other = start_client(long_polling.Client, server.url)
    gone = raw_get(server, "/poll?since=0&hold=1")
    wait_until(lambda: server.waiting == 2, what="both polls to be parked")
    reset(gone)
    # A parked poll holds no subscription, only a timer: it is gone when the hold ends.
    wait_until(lambda: server.waiting <= 1, what="the vanished poll to be released")
    publish_and_wait(server, 20)
    wait_seq(other, 20)
    assert other.recorder.seqs == list(range(1, 21))


# -- slow consumers ----------------------------------------------------------------------------------
def big_events(count: int) -> Iterator[tuple[str, dict]]:
    for i in range(1, count + 1):
        yield "tick", {"i": i, "pad": "x" * 2000}


def small_buffer_socket(addr_info: tuple) -> socket.socket:
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family, type_, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # fills at once: back-pressure
    return sock


async def slow_sse_reader(url: str, feed: Feed) -> tuple[list[int], list[bytes]]:
    """An EventSource that reads 2 kB every 10 ms while the feed runs, then catches up.

    Reconnects with Last-Event-ID whenever its stream ends. Returns the seqs it got and
    how each stream ended (the server's last comment line, if any).
    """
    seqs: list[int] = []
    endings: list[bytes] = []
    last_id = ""
    connector = aiohttp.TCPConnector(socket_factory=small_buffer_socket)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while len(seqs) < SLOW_EVENTS:
            headers = {"Last-Event-ID": last_id} if seqs else {}  # the id as sent (issue 11)
            async with session.get(url, headers=headers) as response:
                assert response.status == 200
                parser, tail = SSEParser(), b""
                while len(seqs) < SLOW_EVENTS:
                    chunk = await response.content.read(2048)
                    if not chunk:
                        break  # the server ended the stream
                    tail = (tail + chunk)[-300:]
                    for message in parser.feed(chunk):
                        last_id = message.id  # <stream>-<seq>
                        seqs.append(int(message.id.rpartition("-")[2]))
                    if feed.running:
                        await asyncio.sleep(0.01)  # slow: ~200 kB/s against ~4 MB/s published
                endings.append(tail)
    return seqs, endings


def test_slow_sse_consumer_is_dropped_resumes_and_loses_nothing(start_server, start_client):
    server = start_server(sse.Server, queue_size=QUEUE, keepalive=1)
    fast = start_client(sse.Client, server.url)
    wait_until(lambda: server.streams == 1, what="the fast client")
    feed = Feed(server, big_events(SLOW_EVENTS), rate=2000)

    async def scenario():
        reader = asyncio.ensure_future(slow_sse_reader(server.url, feed))
        while server.streams < 2:
            await asyncio.sleep(0.005)
        feed.start()
        return await asyncio.wait_for(reader, 90)

    seqs, endings = asyncio.run(scenario())
    assert seqs == list(range(1, SLOW_EVENTS + 1)), "the slow client lost or repeated events"
    assert len(endings) >= 2 and b"closing: client fell 200 events behind" in endings[0]
    assert server_call(server, lambda: server.hub.dropped) >= 1
    wait_seq(fast, SLOW_EVENTS, timeout=60)
    assert fast.recorder.seqs == list(range(1, SLOW_EVENTS + 1))
    assert fast.recorder.duplicates == 0 and fast.recorder.missed == 0


def test_slow_websocket_consumer_is_closed_1013_resumes_and_loses_nothing(start_server,
                                                                         start_client):
    server = start_server(websocket.Server, queue_size=QUEUE)
    fast = start_client(websocket.Client, server.url)
    wait_until(lambda: subscribers(server) == 1, what="the fast client")
    feed = Feed(server, big_events(SLOW_EVENTS), rate=2000)
    url = server.url.replace("http://", "ws://")

    async def slow_reader() -> tuple[list[int], list[int | None]]:
        seqs: list[int] = []
        close_codes: list[int | None] = []
        while len(seqs) < SLOW_EVENTS:
            sock = small_buffer_socket((socket.AF_INET, socket.SOCK_STREAM, 0, "", ()))
            sock.connect((server.host, server.port))
            # max_queue=2: the library stops reading the socket when we do not call recv().
            async with ws_connect(f"{url}?since={seqs[-1] if seqs else 0}", sock=sock,
                                  compression=None, max_queue=2, max_size=None) as ws:
                if not seqs:
                    feed.start()
                try:
                    while len(seqs) < SLOW_EVENTS:
                        seqs.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["seq"])
                        if feed.running:
                            await asyncio.sleep(0.01)  # slow: ~100 frames/s against 2,000 published
                except ConnectionClosed as closed:
                    close_codes.append(closed.rcvd.code if closed.rcvd else None)
        return seqs, close_codes

    seqs, close_codes = asyncio.run(asyncio.wait_for(slow_reader(), 90))
    assert seqs == list(range(1, SLOW_EVENTS + 1)), "the slow client lost or repeated events"
    assert close_codes and close_codes[0] == 1013  # "try again later": it was too slow
    assert server_call(server, lambda: server.hub.dropped) >= 1
    wait_seq(fast, SLOW_EVENTS, timeout=60)
    assert fast.recorder.seqs == list(range(1, SLOW_EVENTS + 1))
    assert fast.recorder.duplicates == 0 and fast.recorder.missed == 0


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_a_dropped_subscriber_costs_at_most_queue_size_events(transport, start_server):
    # The memory bound itself, without sockets: a subscriber nobody reads from.
    server = start_server(sse.Server if transport == "sse" else websocket.Server, queue_size=10)

    def fill() -> tuple[int, bool, int]:
        sub = server.hub.subscribe()
        for i in range(1000):
            server.hub.publish("tick", {"i": i})
        return len(sub.queue), sub.overflowed, server.hub.dropped

    queued, overflowed, dropped = server_call(server, fill)
    assert queued <= 10 and overflowed and dropped == 1
