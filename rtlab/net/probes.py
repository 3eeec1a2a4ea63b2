"""Looking at the wire with bare sockets: no HTTP library in between, so nothing is hidden.

Each probe plays a client by hand and returns the very bytes that crossed the socket, for a
notebook to print:

* :func:`raw_stream` — ``GET`` an event stream as an ``EventSource`` would, and keep the
  head, the bytes as the wire carried them (chunk framing and all) and the event-stream text;
* :func:`handshake` — a WebSocket opening handshake, the request and the ``101`` response;
* :func:`silent_peer` — a WebSocket client that completes the handshake and then never
  sends another byte (not even a pong): only the server's heartbeat can notice it.

The formats these bytes follow are in :mod:`rtlab.wire`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import urllib.parse
from dataclasses import dataclass

from .. import lab
from ..wire.http import dechunk, status_code
from ..wire.websocket import OPCODES, upgrade_request

__all__ = ["RawStream", "SilentPeer", "handshake", "handshake_async", "raw_stream", "silent_peer",
           "silent_peer_async"]


# -- an event stream, read by hand ------------------------------------------------------------
@dataclass(frozen=True)
class RawStream:
    """What a plain socket read from an event stream."""

    head: bytes  # status line and headers, as sent
    wire: bytes  # the body exactly as the wire carried it (HTTP/1.1 chunk framing included)
    body: bytes  # the text/event-stream bytes themselves, chunk framing removed

    def __str__(self) -> str:
        return (self.head + b"\r\n\r\n" + self.body).decode("utf-8", errors="replace")


def raw_stream(url: str, nbytes: int = 1024, seconds: float = 1.0) -> RawStream:
    """GET ``url`` over a plain socket, as an EventSource would, and return what came back.

    Reads until ``nbytes`` of event stream arrived or ``seconds`` passed, then hangs up.
    No HTTP library in between, so nothing is hidden. Blocking is fine here: the
    server runs on a thread of its own.
    """
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
    received = b""
    deadline = time.monotonic() + seconds
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=seconds) as sock:
        sock.sendall(request.encode("ascii"))
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
            if len(dechunk(*received.partition(b"\r\n\r\n")[::2])) >= nbytes:
                break
    head, _, wire = received.partition(b"\r\n\r\n")
    return RawStream(head, wire, dechunk(head, wire)[:nbytes])


# -- WebSocket by hand: a handshake, and a peer that goes silent ---------------------------------
async def _open(url: str, origin: str | None, timeout: float) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter, bytes, bytes]:
    key = base64.b64encode(os.urandom(16)).decode("ascii")  # 16 random bytes, RFC 6455 §4.1
    host, port, request = upgrade_request(url, key, origin)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.write(request)
    try:
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except BaseException:
        writer.close()
        raise
    return reader, writer, request, response


async def handshake_async(url: str, *, origin: str | None = None,
                          timeout: float = 5) -> tuple[bytes, bytes]:
    """Send the upgrade request by hand; return ``(request bytes, response head bytes)``."""
    _, writer, request, response = await _open(url, origin, timeout)
    writer.close()  # done: we only wanted to see the handshake
    return request, response


def handshake(url: str, *, origin: str | None = None, timeout: float = 5) -> tuple[bytes, bytes]:
    """The WebSocket opening handshake, done by hand over a TCP socket: what was sent, what came back.

    >>> request, response = handshake(server.url)   # response starts b"HTTP/1.1 101 ..."
    """
    return lab.client_loop().run(handshake_async(url, origin=origin, timeout=timeout), timeout + 5)


@dataclass
class SilentPeer:
    """What a client that never answers saw: the frames the server sent, and when it hung up."""

    status: int  # of the handshake (101 if it was accepted)
    frames: list[tuple[float, str, bytes]]  # (seconds after the handshake, opcode name, raw bytes)
    closed_after_s: float | None  # when the server closed the TCP connection; None: still open


async def silent_peer_async(url: str, *, timeout: float = 10) -> SilentPeer:
    """Complete the handshake, then never send another byte — not even a pong.

    This is a client whose phone went into a tunnel: the TCP connection is not closed, the
    peer is simply gone. Only the server's heartbeat (a ping it must answer) can notice.
    Reads what the server sends for up to ``timeout`` seconds.
    """
    reader, writer, _, response = await _open(url, None, timeout)
    start = time.monotonic()
    frames: list[tuple[float, str, bytes]] = []
    closed_after: float | None = None
    try:
        while (left := timeout - (time.monotonic() - start)) > 0:
            try:
                data = await asyncio.wait_for(reader.read(65536), left)
            except (asyncio.TimeoutError, ConnectionError):
                break
            now = time.monotonic() - start
            if not data:  # EOF: the server closed the connection
                closed_after = now
                break
            frames.append((now, OPCODES.get(data[0] & 0x0F, "?"), data))  # low 4 bits: the opcode
    finally:
        writer.close()
    return SilentPeer(status_code(response), frames, closed_after)


def silent_peer(url: str, *, timeout: float = 10) -> SilentPeer:
    """Blocking twin of :func:`silent_peer_async`."""
    return lab.client_loop().run(silent_peer_async(url, timeout=timeout), timeout + 10)
