"""Middleboxes: the proxies between a client and a server that change what a stream does.

An emulated network path (:mod:`rtlab.net.path`) delays bytes; a middlebox *reads* them, as
HTTP, and does what a named product does by default. Each one is a real, documented
behaviour that breaks real-time transports in production:

``buffering`` (``buffering=16k``)
    A reverse proxy with response buffering on — nginx's default (``proxy_buffering on``).
    It holds a response until the response ends or its buffer is full, then sends what it
    holds. rtlab holds up to **4 KiB** by default: nginx's ``proxy_buffers`` are "one memory
    page", 4 KiB on x86-64 Linux. A short or long poll ends, so it passes whole (late by
    nothing that matters); an SSE stream never ends, so a quiet one delivers *nothing*, not
    even its keep-alive comments, until 4 KiB have piled up. A response carrying
    ``X-Accel-Buffering: no`` is streamed unbuffered, as nginx does (nginx/nginx#1505;
    ``sse.Server(unbuffered=True)`` sends it). The head is held with the body (nginx may send
    it first; a client waiting for events sees the same nothing).
``compressing``
    gzip middleware that compresses every response whose client sent ``Accept-Encoding: gzip``
    — ``text/event-stream`` too — and flushes only every **32 KiB** of input: what Starlette's
    ``GZipMiddleware`` did before it learned to skip ``text/event-stream`` (Kludex/starlette#2753:
    "streaming responses ... buffered 32KiB at a time"); Django's ``GZipMiddleware`` and
    Express's ``compression`` without ``res.flush()`` do the same. The answer is real gzip
    (``Content-Encoding: gzip``, re-chunked), so a client must decompress it. Like Starlette it
    skips a response that already has a ``Content-Encoding`` (``identity`` is the known
    workaround), bodies shorter than 500 bytes (``minimum_size``), ``204``/``304`` and ``101``.
    ``X-Accel-Buffering: no`` does not help here: that header speaks to nginx only.
``idle-timeout=S``
    A load balancer that cuts a connection which carried nothing, either way, for ``S``
    seconds — nginx's ``proxy_read_timeout`` and AWS ALB's idle timeout are 60 s, Cloudflare's
    100 s; a lesson scales them down to a few seconds. A stream whose heartbeat comes more
    often than ``S`` survives; a quieter one is closed (FIN, no error status: that is what a
    client sees from a real one).
``no-upgrade`` (``no-upgrade=strip``)
    A corporate proxy that refuses ``Upgrade: websocket``: it answers the handshake itself with
    ``403 Forbidden`` and closes, as policy proxies (Blue Coat/Symantec ProxySG, Zscaler ...)
    answer a blocked request; a browser reports "Unexpected response code: 403". That is the
    fast, visible failure, the default so a lesson need not wait for a timeout; a proxy that
    leaves the handshake hanging is slower and quieter (socket.io#1277, meteor/meteor#1128).
    ``no-upgrade=strip`` drops ``Upgrade`` and ``Connection`` as hop-by-hop headers (Squid
    before version 5 did): the server sees a plain ``GET`` — rtlab's answers ``400``.
    :meth:`Middlebox.block_upgrades` switches it on while the path runs (and cuts the
    WebSockets already open, as a proxy restarted with the new policy would).
``transparent``
    Passes everything: a middlebox to switch on later (``block_upgrades()``).

They combine (``"buffering,idle-timeout=5"``), stacked as on a real path: the app's gzip
middleware next to the server, then the reverse proxy, the load balancer, the client's proxy.
A middlebox sees the bytes where they enter the relay (next to the server), so a refusal
comes back after the request's one-way delay, as from a proxy near the server.

What they do not model: HTTP/1.1 pipelining (a second request sent before the first answer —
no rtlab client does), responses to ``HEAD``, nginx writing a big response to a temp file.
"""

from __future__ import annotations

import collections
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..wire.http import Head, HTTPFramer, Part

__all__ = ["MIDDLEBOXES", "Middlebox", "MiddleboxSpec", "describe_middleboxes", "parse_size"]

MIDDLEBOXES = {
    "buffering": "a reverse proxy that holds a response until it ends or 4 KiB (buffering=16k) "
                 "fill; honours X-Accel-Buffering: no  [nginx proxy_buffering on, the default]",
    "compressing": "gzip middleware: compresses text/event-stream too, flushes every 32 KiB of input  "
                   "[Starlette GZipMiddleware before it skipped SSE, Kludex/starlette#2753]",
    "idle-timeout": "idle-timeout=S: cuts a connection that carried nothing for S seconds  "
                    "[nginx proxy_read_timeout / AWS ALB 60 s, Cloudflare 100 s, scaled down]",
    "no-upgrade": "refuses Upgrade: websocket with 403 Forbidden and closes (no-upgrade=strip: drops the "
                  "header, the server answers the plain GET)  [corporate proxies; meteor/meteor#1128]",
    "transparent": "passes everything (switch no-upgrade on later: block_upgrades())",
}
DEFAULT_BUFFER = 4 * 1024  # nginx proxy_buffers: one memory page (4 KiB on x86-64 Linux)
GZIP_BLOCK = 32 * 1024  # input a gzip middleware that never flushes holds back (starlette#2753)
GZIP_MINIMUM = 500  # Starlette's minimum_size: shorter bodies are not worth compressing
REFUSAL_BODY = b"Forbidden by proxy policy: WebSocket upgrade refused (rtlab middlebox no-upgrade)\n"
_CLOSE = object()  # a marker on a lane that is not the relay's reset marker: close after the data



def parse_size(text: str) -> int:
    """``"16k"``, ``"16KiB"``, ``"4096"`` → bytes."""
    raw = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = 1024 if raw.endswith("k") else 1024 * 1024 if raw.endswith("m") else 1
    try:
        value = int(float(raw.rstrip("km")) * scale)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (say 4096, 16k or 1m)") from None
    if not 1 <= value <= 64 * 1024 * 1024:
        raise ValueError(f"buffer size {text!r} out of range: 1 byte to 64 MiB")
    return value


class Middlebox:
    """The middleboxes on one path: their settings, switches that may change while it runs,
    and what they did (:meth:`read`).

    Args:
        buffer_bytes: a buffering reverse proxy's buffer (0: no buffering proxy).
        compress: a gzip middleware that flushes every ``compress_block`` bytes of input.
        idle_timeout: seconds a connection may carry nothing before it is cut (0: never).
        refuse_upgrades: answer ``Upgrade:`` requests with 403 and close. Settable from any
            thread while the path runs; :meth:`block_upgrades` also cuts open WebSockets.
        refusal: how: ``"403"`` (the proxy answers) or ``"strip"`` (it drops ``Upgrade`` and
            ``Connection`` and forwards a plain request).
    """

    def __init__(self, *, buffer_bytes: int = 0, compress: bool = False,
                 compress_block: int = GZIP_BLOCK, idle_timeout: float = 0.0,
                 refuse_upgrades: bool = False, refusal: str = "403") -> None:
        if buffer_bytes < 0 or compress_block < 1 or not 0 <= idle_timeout <= 3600:
            raise ValueError("buffer_bytes >= 0, compress_block >= 1, 0 <= idle_timeout <= 3600")
        if refusal not in ("403", "strip"):
            raise ValueError(f"refusal is '403' or 'strip', not {refusal!r}")
        self.buffer_bytes = buffer_bytes
        self.compress = compress
        self.compress_block = compress_block
        self.idle_timeout = idle_timeout
        self.refuse_upgrades = refuse_upgrades
        self.refusal = refusal
        self.flows: set[_Flow] = set()  # touched on the relay's loop only
        self.loop: Any = None  # the relay's loop, once a connection came through
        self.counts: collections.Counter[str] = collections.Counter()
        self.notes: collections.deque[str] = collections.deque(maxlen=50)  # what it did, in words

    @classmethod
    def parse(cls, spec: MiddleboxSpec) -> Middlebox | None:
        """A middlebox from ``"buffering"``, ``"buffering=16k,idle-timeout=2"``, a list of
        such names, or a :class:`Middlebox`; ``None`` gives ``None``."""
        if spec is None or isinstance(spec, Middlebox):
            return spec
        names = spec.replace("+", ",").split(",") if isinstance(spec, str) else list(spec)
        box = cls()
        for item in (n.strip() for n in names):
            name, _, value = item.lower().replace("_", "-").partition("=")
            if name == "buffering":
                box.buffer_bytes = parse_size(value) if value else DEFAULT_BUFFER
            elif name == "compressing" and not value:
                box.compress = True
            elif name == "idle-timeout" and value:
                try:
                    box.idle_timeout = float(value.removesuffix("s"))
                except ValueError:
                    raise ValueError(f"idle-timeout takes seconds: idle-timeout=5, not {item!r}") from None
                if not 0 < box.idle_timeout <= 3600:
                    raise ValueError(f"idle-timeout is 0 < S <= 3600 seconds, not {item!r}")
            elif name == "no-upgrade" and value in ("", "403", "strip"):
                box.refuse_upgrades = True
                box.refusal = value or "403"
            elif name not in ("transparent", "") or value:
                raise ValueError(f"unknown middlebox {item!r}: choose from buffering[=SIZE], compressing, "
                                 "idle-timeout=S, no-upgrade, transparent (combine with commas)")
        return box

    @property
    def spec(self) -> str:
        """The settings as :meth:`parse` reads them (``"buffering=4k,no-upgrade"``)."""
        parts = []
        if self.buffer_bytes:
            size = self.buffer_bytes
            parts.append(f"buffering={size // 1024}k" if size % 1024 == 0 else f"buffering={size}")
        if self.compress:
            parts.append("compressing")
        if self.idle_timeout:
            parts.append(f"idle-timeout={self.idle_timeout:g}")
        if self.refuse_upgrades:
            parts.append("no-upgrade=strip" if self.refusal == "strip" else "no-upgrade")
        return ",".join(parts) or "transparent"

    def block_upgrades(self, cut_open: bool = True) -> None:
        """Refuse every ``Upgrade`` from now on; with ``cut_open``, close the WebSockets already
        through (as a proxy restarted with the new policy would). Callable from any thread."""
        self.refuse_upgrades = True
        if cut_open and self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._cut_tunnels)

    def allow_upgrades(self) -> None:
        self.refuse_upgrades = False  # the tunnels it cut stay cut: clients reconnect

    def _cut_tunnels(self) -> None:
        for flow in [f for f in self.flows if f.tunnel]:  # (on the relay's loop)
            self.counts["tunnels_cut"] += 1
            self.notes.append("no-upgrade: an open WebSocket was cut (the proxy's policy changed)")
            flow.pair.close()

    def flow(self, pair: Any) -> _Flow:
        """The middlebox's state for one relayed connection (called by the relay)."""
        self.loop = pair.loop
        flow = _Flow(self, pair)
        self.flows.add(flow)
        return flow

    def read(self) -> dict[str, Any]:
        """What the middleboxes did so far: counts, bytes held right now, and the last notes."""
        return {"spec": self.spec, **dict(self.counts),
                "held_bytes": sum(f.holding() for f in list(self.flows)),
                "notes": list(self.notes)[-10:]}

    def __repr__(self) -> str:
        return f"<Middlebox {self.spec}>"


MiddleboxSpec: TypeAlias = "str | Sequence[str] | Middlebox | None"


@dataclass
class _Response:
    """What the middleboxes decided for the response passing now."""

    head: Head
    hold: bool  # the buffering proxy holds it
    gzip: Any  # a zlib compressor, or None
    pending: bytes = b""  # input the gzip middleware has not compressed yet


class _Flow:
    """One relayed connection as the middleboxes see it: HTTP both ways, until a tunnel."""

    def __init__(self, box: Middlebox, pair: Any) -> None:
        self.box, self.pair = box, pair
        self.up, self.down = HTTPFramer("request"), HTTPFramer("response")
        self.requests: collections.deque[Head] = collections.deque()  # heads not answered yet
        self.response: _Response | None = None
        self.tunnel = False  # a 101 went through: opaque bytes from now on
        self.refused = False
        self.held: list[bytes] = []  # what the buffering proxy holds, and how much
        self.held_bytes = 0
        self.last = pair.loop.time()  # the last byte either way (for the idle timeout)
        self.timer = pair.loop.call_later(box.idle_timeout, self._idle_check) if box.idle_timeout else None

    # -- the relay calls these ----------------------------------------------------------
    def received(self, role: str, data: bytes) -> bytes:
        """Bytes from ``role`` (``"client"`` or ``"server"``) → the bytes to pass on now."""
        self.last = self.pair.loop.time()
        if self.tunnel:
            return data
        return self._from_client(data) if role == "client" else self._from_server(data)

    def ended(self, role: str) -> bytes:
        """``role`` closed: what the middleboxes still hold from it goes first."""
        if role != "server" or self.tunnel:
            return b""
        return self._down_parts(self.down.close()) + self._release()

    def holding(self) -> int:
        """Bytes held back right now: in the proxy's buffer, and input the gzip middleware sits on."""
        return self.held_bytes + (len(self.response.pending) if self.response is not None else 0)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.box.flows.discard(self)

    # -- client to server: no-upgrade ---------------------------------------------------
    def _from_client(self, data: bytes) -> bytes:
        if self.refused:
            return b""
        out = []
        for part in self.up.feed(data):
            if part.kind == "head" and part.head is not None:
                if part.head.get("Upgrade") is not None and self.box.refuse_upgrades:
                    if self.box.refusal == "strip":
                        out.append(self._strip(part.head))
                        continue
                    self._refuse(part.head)
                    return b"".join(out)
                self.requests.append(part.head)
            out.append(part.raw)
        return b"".join(out)

    def _strip(self, head: Head) -> bytes:
        """Forward the request as a plain one: ``Upgrade`` and ``Connection`` are hop-by-hop."""
        self.box.counts["stripped_upgrades"] += 1
        self.box.notes.append(f"no-upgrade: {head.start.rsplit(' ', 1)[0]} asked for Upgrade: "
                              f"{head.get('Upgrade')}; the header was dropped and the request passed on")
        plain = head.replace(drop=("Upgrade", "Connection"))
        self.requests.append(plain)
        return plain.encode()

    def _refuse(self, head: Head) -> None:
        self.refused = True
        self.box.counts["refused_upgrades"] += 1
        self.box.notes.append(f"no-upgrade: {head.start.rsplit(' ', 1)[0]} asked for Upgrade: "
                              f"{head.get('Upgrade')}; answered 403 Forbidden and closed")
        answer = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(REFUSAL_BODY)) + REFUSAL_BODY
        loop, lane = self.pair.loop, self.pair.down
        # The request first crosses the path to the proxy (handshake included), then the answer comes back.
        at = max(loop.time(), self.pair.up.model.not_before) + self.pair.path.one_way_s
        loop.call_at(at, lambda: (lane.arrived(answer, loop.time()), lane.mark(_CLOSE, loop.time())))

    # -- server to client: compressing, then buffering ----------------------------------
    def _from_server(self, data: bytes) -> bytes:
        return self._down_parts(self.down.feed(data))

    def _down_parts(self, parts: list[Part]) -> bytes:
        out = []
        for part in parts:
            if part.kind == "head" and part.head is not None:
                out.append(self._release())  # the previous response cannot overtake this one
                out.append(self._head(part))
            elif part.kind == "tunnel":
                out.append(self._release() + part.raw)
            elif self.response is None:  # a body outside any response we framed: pass it
                out.append(part.raw)
            elif part.kind == "body":
                out.append(self._hold(self._gzip(part.payload) if self.response.gzip else part.raw))
            else:  # end
                tail = self._gzip(b"", final=True) if self.response.gzip else part.raw
                out.append(self._hold(tail) + self._release("the response ended"))
                self.response = None
        return b"".join(out)

    def _head(self, part: Part) -> bytes:
        head = part.head
        assert head is not None
        status = head.status or 0
        request = self.requests.popleft() if self.requests and (status >= 200 or status == 101) else None
        if status == 101:
            self.tunnel = True
            self.up.tunnel()
            self.box.counts["tunnels"] += 1
            return part.raw
        what = f"{request.start.rsplit(' ', 1)[0] if request else '?'} → {status}"
        gzip = None
        length = head.get("Content-Length")
        if (self.box.compress and request is not None and request.has_token("Accept-Encoding", "gzip")
                and head.get("Content-Encoding") is None and status not in (204, 304) and status >= 200
                and not (length is not None and length.isdigit() and int(length) < GZIP_MINIMUM)):
            gzip = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
            head = head.replace(drop=("Content-Length", "Transfer-Encoding"),
                                add=(("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked"),
                                     ("Vary", "Accept-Encoding")))
            self.box.counts["compressed"] += 1
            self.box.notes.append(f"compressing: {what} {head.get('Content-Type') or ''}: gzip, "
                                  f"flushed every {self.box.compress_block // 1024} KiB of input")
        hold = bool(self.box.buffer_bytes) and status >= 200
        if hold and (head.get("X-Accel-Buffering") or "").strip().lower() == "no":
            hold = False
            self.box.counts["unbuffered"] += 1
            self.box.notes.append(f"buffering: {what} said X-Accel-Buffering: no; streamed unbuffered")
        elif hold:
            self.box.counts["buffered"] += 1
            self.box.notes.append(f"buffering: {what} {head.get('Content-Type') or ''}: held until "
                                  f"{self.box.buffer_bytes} bytes pile up or it ends")
        self.response = _Response(head, hold, gzip)
        return self._hold(head.encode() if gzip else part.raw)

    def _gzip(self, payload: bytes, final: bool = False) -> bytes:
        response = self.response
        assert response is not None and response.gzip is not None
        response.pending += payload
        out = b""
        while len(response.pending) >= self.box.compress_block:  # a block's worth: flush it
            block, response.pending = (response.pending[:self.box.compress_block],
                                       response.pending[self.box.compress_block:])
            out += response.gzip.compress(block) + response.gzip.flush(zlib.Z_SYNC_FLUSH)
        if final:
            out += response.gzip.compress(response.pending) + response.gzip.flush(zlib.Z_FINISH)
            response.pending = b""
        chunk = b"%x\r\n%s\r\n" % (len(out), out) if out else b""
        return chunk + (b"0\r\n\r\n" if final else b"")

    def _hold(self, data: bytes) -> bytes:
        if not data or self.response is None or not self.response.hold:
            return data
        self.held.append(data)
        self.held_bytes += len(data)
        return self._release("the buffer filled") if self.held_bytes >= self.box.buffer_bytes else b""

    def _release(self, why: str = "") -> bytes:
        if not self.held:
            return b""
        if why:
            self.box.counts["released: " + why] += 1
        out, self.held, self.held_bytes = b"".join(self.held), [], 0
        return out

    # -- the idle timeout ---------------------------------------------------------------
    def _idle_check(self) -> None:
        loop, timeout = self.pair.loop, self.box.idle_timeout
        if self.pair.closed:
            return
        if not timeout or loop.time() - self.last < timeout:
            self.timer = loop.call_at(self.last + (timeout or 1.0), self._idle_check)
            return
        self.box.counts["idle_cuts"] += 1
        self.box.notes.append(f"idle-timeout: a connection carried nothing for {timeout:g} s; cut")
        self.pair.close()


def describe_middleboxes() -> str:
    """The middleboxes, one line each (for ``--help``)."""
    return "\n".join(f"  {name:<13} {text}" for name, text in MIDDLEBOXES.items())
