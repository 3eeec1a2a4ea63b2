"""Thousands of scripted quiz players in one process: WebSocket spoken by hand, one small object each.

An rtlab :class:`~rtlab.net.websocket.WebSocketClient` is a full client — its own HTTP session,
a recorder, traces, hooks — and a few hundred of them in a notebook's kernel is about the limit
of a 2-core machine. A *swarm* player is a bare ``asyncio.Protocol``: it sends the upgrade
request itself, reads the server's frames (:mod:`rtlab.wire.websocket` draws them), answers
pings, masks what it sends (RFC 6455 §5.3: a client must), and keeps only what the lesson
measures. So 3,000 of them fit in one loop thread, and the cost of a broadcast stays on the
gateways' side, where it belongs.

Each player, like the real clients:

* is given **every** gateway URL, starts on one (player ``i`` on gateway ``i % n``), and moves to
  the next when its connection is lost or refused, resuming with ``?since=<stream>-<seq>``;
* checks its seqs: each must be the last one plus one; duplicates and gaps are counted, never
  hidden; a reset (another stream) starts it over;
* answers each question once, after a seeded "thinking" pause, with ``sent_ns`` so the quiz
  service can time the trip, and times the gateway's ack (the broker has the answer by then).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import random
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from .. import lab
from ..wire.websocket import read_server_frame

__all__ = ["Player", "Swarm"]

UPGRADE = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: {key}\r\n")
CONNECT_AT_ONCE = 200  # handshakes in flight at once: the gateways' listen backlog stays happy
KEEP_ARRIVALS = 256  # recent (seq, arrival) pairs kept per player, for timing a broadcast
_running: dict[str, Swarm] = {}  # by prefix: a re-run cell's swarm replaces the old one


def masked_text_frame(payload: bytes) -> bytes:
    """A client's text frame: FIN, opcode 1, the mask bit, a random 4-byte key, the payload XORed."""
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n <= 125 else bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
    key = os.urandom(4)
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return head + key + (int.from_bytes(payload, "big") ^ mask).to_bytes(n, "big")


class Player(asyncio.Protocol):
    """One scripted player on one connection at a time (see the module docstring)."""

    def __init__(self, swarm: Swarm, index: int) -> None:
        self.swarm, self.index = swarm, index
        self.name = f"{swarm.prefix}{index}"
        self.rng = random.Random(swarm.seed * 1_000_003 + index)
        self.gateway = index % len(swarm.urls)  # which URL of the list it is on
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.head_done = False
        self.stream = ""
        self.last_seq = 0
        self.events = self.duplicates = self.missed = self.resets = self.moves = 0
        self.arrivals: dict[int, int] = {}  # seq -> time.monotonic_ns() it arrived (recent ones)
        self.answered: set[int] = set()  # question ids answered (once each, whatever is replayed)
        self.closed: set[int] = set()  # question ids whose result it has seen (a replayed old quiz)
        self.asked_ns: dict[int, int] = {}  # question id -> when its answer was sent
        self.acks_ms: list[float] = []
        self.refused: list[str] = []  # reasons the gateway gave for not taking an answer
        self.connected = False

    @property
    def url(self) -> str:
        return self.swarm.urls[self.gateway]

    # -- the connection ---------------------------------------------------------------------------
    async def connect(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self, parts.hostname, parts.port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer, self.head_done = b"", False
        parts = urllib.parse.urlsplit(self.url)
        since = f"{self.stream}-{self.last_seq}" if self.stream else str(self.last_seq)
        target = f"{parts.path}?client={self.name}&hello=1&since={since}"
        key = "dGhlIHNhbXBsZSBub25jZQ=="  # any 16 bytes in base64: the check is the server's answer
        self.transport.write((f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                              + UPGRADE.format(key=key) + "\r\n").encode())

    def data_received(self, data: bytes) -> None:
        recv_ns = time.monotonic_ns()
        self.buffer += data
        if not self.head_done:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.transport.close()  # type: ignore[union-attr]  # refused: move on
                return
            self.head_done, self.buffer, self.connected = True, rest, True
        self._frames(recv_ns)

    def _frames(self, recv_ns: int) -> None:
        buf = self.buffer
        while (frame := read_server_frame(buf)) is not None:
            opcode, payload, buf = frame
            if opcode == 0x1:
                self._message(json.loads(payload), recv_ns)
            elif opcode == 0x9 and self.transport is not None:  # ping: a pong, masked, same payload
                key = os.urandom(4)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + key
                                     + bytes(b ^ key[i % 4] for i, b in enumerate(payload)))
            elif opcode == 0x8 and self.transport is not None:  # the server closes: so do we
                self.transport.close()
        self.buffer = buf

    def _message(self, message: dict[str, Any], recv_ns: int) -> None:
        seq = message.get("seq")
        if seq is None:
            kind = message.get("type")
            if kind == "hello":
                self.stream = message.get("stream", "")
            elif kind == "reset":  # another stream: start over from its seq 1
                self.resets += 1
                self.last_seq = 0
            elif kind == "gap":
                self.missed += message["last_missing"] - max(self.last_seq, message["first_missing"] - 1)
                self.last_seq = message["last_missing"]
            elif kind == "ack":
                self._acked(message, recv_ns)
            return
        if seq <= self.last_seq:
            self.duplicates += 1
            return
        self.missed += seq - self.last_seq - 1
        self.last_seq = seq
        self.events += 1
        self.arrivals[seq] = recv_ns
        if len(self.arrivals) > KEEP_ARRIVALS:
            del self.arrivals[next(iter(self.arrivals))]
        if message.get("type") == "result" and isinstance(message.get("data"), dict):
            self.closed.add(message["data"].get("question"))
        elif message.get("type") == "question" and self.swarm.choose is not None:
            question = message["data"]
            if question["id"] not in self.answered:
                self.answered.add(question["id"])
                delay = self.rng.uniform(*self.swarm.thinking)
                asyncio.get_running_loop().call_later(delay, self._answer, question)

    def _answer(self, question: dict[str, Any]) -> None:
        if self.transport is None or self.transport.is_closing() or self.swarm.choose is None:
            return  # gone meanwhile: the answer is lost with the connection, as a person's would be
        if question["id"] in self.closed:
            return  # its result came while "thinking" (a backlog of old questions): nothing to answer
        choice = self.swarm.choose(question, self.rng)
        sent_ns = time.monotonic_ns()
        self.asked_ns[question["id"]] = sent_ns
        text = json.dumps({"type": "answer", "data": {"question": question["id"], "choice": choice},
                           "sent_ns": sent_ns}, separators=(",", ":"))
        self.transport.write(masked_text_frame(text.encode()))

    def _acked(self, message: dict[str, Any], recv_ns: int) -> None:
        sent_ns = self.asked_ns.pop(message.get("question", 0), None)
        if message.get("accepted") and sent_ns is not None:
            self.acks_ms.append((recv_ns - sent_ns) / 1e6)
        elif not message.get("accepted"):
            self.refused.append(str(message.get("reason"))[:80])

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport, self.connected = None, False
        if not self.swarm.stopping:
            self.swarm.reconnect(self)


class Swarm:
    """``count`` :class:`Player` objects on one loop thread, spread over ``urls``."""

    def __init__(self, urls: list[str], count: int, *, prefix: str = "player-", seed: int = 0,
                 choose: Callable[[dict[str, Any], random.Random], int] | None = None,
                 thinking: tuple[float, float] = (0.05, 0.5)) -> None:
        """Args:
            urls: every gateway's ``ws://…/ws`` URL.
            count: how many players.
            prefix: their names: ``<prefix><index>``.
            seed: seeds each player's thinking time and choices.
            choose: ``choose(question, rng)``: the choice a player sends; ``None``: no answers.
            thinking: a player's pause before it answers, in seconds (uniform between the two).
        """
        self.urls = [u.replace("http://", "ws://", 1) for u in urls]
        self.prefix, self.seed, self.choose, self.thinking = prefix, seed, choose, thinking
        self.stopping = False
        self._loop_thread = lab.LoopThread("swarm")
        self.players = [Player(self, i) for i in range(count)]
        self.reconnects = 0

    def start(self, timeout: float = 60) -> Swarm:
        """Connect every player (``CONNECT_AT_ONCE`` at a time); returns once all are in.

        A swarm already running under the same ``prefix`` (a re-run cell) is stopped first."""
        old = _running.pop(self.prefix, None)
        if old is not None and old is not self:
            old.stop()
        _running[self.prefix] = self
        async def connect_all() -> None:
            gate = asyncio.Semaphore(CONNECT_AT_ONCE)

            async def one(player: Player) -> None:
                async with gate:
                    try:
                        await player.connect()
                    except OSError:
                        self.reconnect(player)

            await asyncio.gather(*(one(p) for p in self.players))

        self._loop_thread.run(connect_all(), timeout)
        lab.wait_until(lambda: self.connected == len(self.players), timeout)
        return self

    def reconnect(self, player: Player, attempt: int = 0) -> None:
        """Move ``player`` to the next gateway in its list, after a short random pause."""
        player.gateway = (player.gateway + 1) % len(self.urls)
        player.moves += 1
        self.reconnects += 1
        delay = player.rng.uniform(0.05, 0.25) * min(4, 2 ** attempt)  # at most ~1 s between tries
        loop = self._loop_thread.loop

        async def again() -> None:
            await asyncio.sleep(delay)
            if self.stopping:
                return
            try:
                await player.connect()
            except OSError:  # refused (that gateway is down too): the next one, a little later
                self.reconnect(player, attempt + 1)

        loop.call_soon_threadsafe(lambda: loop.create_task(again()))

    # -- what the notebook reads (plain attributes: a moment's view, good enough to show) ----------
    @property
    def connected(self) -> int:
        return sum(p.connected for p in self.players)

    def by_gateway(self) -> dict[str, list[Player]]:
        groups: dict[str, list[Player]] = {url: [] for url in self.urls}
        for player in self.players:
            groups[player.url].append(player)
        return groups

    def stop(self) -> None:
        """Close every connection and end the loop thread."""
        self.stopping = True
        if _running.get(self.prefix) is self:
            del _running[self.prefix]

        async def close_all() -> None:
            for player in self.players:
                if player.transport is not None:
                    player.transport.close()
            await asyncio.sleep(0.05)

        if self._loop_thread.alive:
            try:
                self._loop_thread.run(close_all(), 10)
            except Exception:  # noqa: BLE001 - stopping must not fail
                pass
            self._loop_thread.stop()

    def __enter__(self) -> Swarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for swarm in list(_running.values()):
        swarm.stop()
