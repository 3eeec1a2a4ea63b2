"""``serve("auto")``: one session, three techniques — a server a negotiating client can move around on.

The packets and the rules are in :mod:`rtlab.wire.negotiation` (what is taken from Engine.IO
v4 and from SignalR, and what is simplified); the client is :mod:`rtlab.net.auto_client`.
Everything lives under the server's path (``/auto``)::

    GET|POST /auto/negotiate             → {"sid": "…", "upgrades": ["websocket", "sse"],
                                            "pingInterval": 1000, "pingTimeout": 1000, …}
    GET  /auto/poll?sid=S&since=<cursor> → held up to pingInterval:
                                            {"seq": …, "stream": …, "events": [...]}  news
                                            {"packet": "2", …}                         a ping: nothing new
    GET  /auto/ws?sid=S  (Upgrade)       ← "2probe"  → "3probe"  ← "5{"since": "<cursor>"}"
                                            → "4{event}" …, "2" every pingInterval ← "3"
    GET  /auto/sse?sid=S                 → event: probe / data: 3probe   (then waits)
    POST /auto/upgrade?sid=S&since=<cursor>   the SSE stream's "5": it starts sending from
                                            the cursor, "event: ping" every pingInterval
    400 {"code": 1, "message": "Session ID unknown"}   a sid this process never gave (or lost)

The session's outbound buffer is the hub's replay log, read from the cursor the client sends
on every poll and with every ``5``: a switch re-sends at most what the client already has
(which it drops by seq) and never skips anything. Sessions live in the process: a crash
forgets them (the hub, "outside the process", survives), so clients negotiate again and
resume from their cursors.

Faults on purpose, for the lessons and tests: :meth:`AutoServer.crash` (inherited),
:meth:`AutoServer.drop_streams` (cut every WebSocket and SSE stream, as a proxy restart does)
and :meth:`AutoServer.stall_streams` (the streams stop delivering, heartbeat included, but stay
open: what a path that silently eats traffic looks like).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from ..hub import SubscriberOverflow, parse_token
from ..wire.negotiation import LADDER, MESSAGE, PING, PONG, PROBE, UPGRADE, OpenPacket, decode_packet
from ..wire.sse import encode_event, encode_rtlab_event
from .requests import cursor_param, json_answer
from .server import Server

__all__ = ["AutoServer", "Server", "Session"]

MAX_SESSIONS = 20_000  # sessions held at once; past it a negotiate gets 503


@dataclass
class Session:
    """One client's session: outlives any one connection (the cursor is on the client)."""

    sid: str
    last_seen: float = field(default_factory=time.monotonic)
    transport: str = "long-polling"
    streams: int = 0  # open WebSocket / SSE connections of this session
    go: asyncio.Future[str] | None = None  # the SSE stream's upgrade ("5"), with the cursor


class AutoServer(Server):
    """Long polling, SSE and WebSocket on one session each; see the module docstring."""

    transport = "auto"
    path = "/auto"

    def __init__(self, *, ping_interval: float = 1.0, ping_timeout: float | None = None,
                 upgrades: tuple[str, ...] = ("websocket", "sse"), **kwargs: Any) -> None:
        """A negotiating server, not yet started.

        Args:
            ping_interval: seconds between heartbeats (Engine.IO's ``pingInterval``; its default
                is 25 s, scaled down here so a lesson sees a fall-back within seconds).
            ping_timeout: how much longer a client waits for a ping before it gives up
                (``pingTimeout``); ``None``: as long as ``ping_interval``.
            upgrades: what the ``open`` packet offers to probe, best first.
            **kwargs: as :class:`rtlab.net.server.Server` (host, port, name, replay, network).
        """
        super().__init__(**kwargs)
        if not ping_interval > 0:
            raise ValueError(f"ping_interval must be a positive number of seconds; got {ping_interval!r}")
        bad = [u for u in upgrades if u not in LADDER[:-1]]
        if bad:
            raise ValueError(f"upgrades: {bad[0]!r} is not one of {', '.join(LADDER[:-1])}")
        self.ping_interval = float(ping_interval)
        self.ping_timeout = float(ping_interval if ping_timeout is None else ping_timeout)
        self.upgrades = tuple(upgrades)
        self.sessions: dict[str, Session] = {}
        self.upgraded: dict[str, int] = {name: 0 for name in LADDER}  # "5"s received, by transport
        self._streams: set[Any] = set()  # the transports of open WebSocket/SSE connections
        self._stalled_until = 0.0

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_route("*", self.path + "/negotiate", self.handle_negotiate)
        app.router.add_get(self.path + "/poll", self.handle_poll)
        app.router.add_get(self.path + "/ws", self.handle_ws)
        app.router.add_get(self.path + "/sse", self.handle_sse)
        app.router.add_post(self.path + "/upgrade", self.handle_upgrade)

    @property
    def upgrade_wait(self) -> float:
        """Seconds a probed connection may wait for its ``5``: longer than any client's probe
        may take (at least 2 s), so that the connection is still there when the ``5`` comes."""
        return max(5.0, 4 * (self.ping_interval + self.ping_timeout))

    # -- the session ------------------------------------------------------------------------
    def open_packet(self, sid: str) -> OpenPacket:
        assert self.hub is not None
        return OpenPacket(sid, self.upgrades, round(self.ping_interval * 1000),
                          round(self.ping_timeout * 1000), self.max_request_bytes, self.hub.epoch)

    async def handle_negotiate(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "POST"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        self._expire()
        if len(self.sessions) >= MAX_SESSIONS:
            raise web.HTTPServiceUnavailable(text="too many sessions; try again later\n",
                                             headers={"Retry-After": "1"})
        sid = secrets.token_urlsafe(12)
        self.sessions[sid] = Session(sid)
        return web.Response(text=self.open_packet(sid).to_json(), content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    def session(self, request: web.Request) -> Session:
        """The request's session, or Engine.IO's ``400 {"code": 1, ...}`` for an unknown sid."""
        session = self.sessions.get(request.query.get("sid", ""))
        if session is None:
            raise web.HTTPBadRequest(text=json.dumps({"code": 1, "message": "Session ID unknown"}),
                                     content_type="application/json")
        session.last_seen = time.monotonic()
        return session

    def _expire(self) -> None:
        """Forget sessions with no connection that asked nothing for four heartbeat timeouts."""
        horizon = time.monotonic() - 4 * (self.ping_interval + self.ping_timeout)
        for sid in [s.sid for s in self.sessions.values() if s.streams == 0 and s.last_seen < horizon]:
            del self.sessions[sid]

    async def _crash(self) -> int:
        self.sessions.clear()  # sessions lived in the crashed process; the hub's log did not
        return await super()._crash()

    # -- long polling: the floor ------------------------------------------------------------
    async def handle_poll(self, request: web.Request) -> web.Response:
        hub = self.hub
        assert hub is not None
        session = self.session(request)
        session.transport = "long-polling"
        stream, since = cursor_param(request) or (None, 0)
        headers = {"Cache-Control": "no-cache"}
        if hub.reset_note(since, stream) is None and not await hub.wait_after(since, self.ping_interval):
            # Nothing new within the heartbeat: answer with a ping, so a client can tell a
            # quiet stream from a dead path.
            return json_answer({"packet": PING, "seq": hub.latest_seq, "stream": hub.epoch}, headers=headers)
        resume = hub.resume(since, 1_000, stream=stream, max_bytes=256 * 1024)
        fields: dict[str, Any] = {"seq": hub.latest_seq, "stream": hub.epoch, **resume.notes()}
        return json_answer(fields, events=resume.events, headers=headers)

    # -- WebSocket ------------------------------------------------------------------------------
    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        session = self.session(request)
        ws = web.WebSocketResponse(max_msg_size=self.max_request_bytes, autoping=True)
        await ws.prepare(request)
        session.streams += 1
        self._streams.add(request.transport)
        pusher: asyncio.Task[None] | None = None
        deadline = time.monotonic() + self.upgrade_wait
        try:
            while True:  # the probe, the upgrade, then pongs
                # A connection that never upgrades is closed at the deadline: it would hold a
                # slot forever, carrying nothing.
                wait = None if pusher is not None else max(0.0, deadline - time.monotonic())
                try:
                    msg = await ws.receive(timeout=wait)
                except asyncio.TimeoutError:
                    await ws.close(code=1008, message=b"no upgrade (5) in time")
                    break
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    kind, data = decode_packet(msg.data)
                except ValueError as exc:
                    await ws.close(code=1003, message=str(exc)[:120].encode())
                    break
                session.last_seen = time.monotonic()
                if kind == PING and data == PROBE:
                    await self._unless_stalled()  # a stalled path stalls the probe too
                    await ws.send_str(PONG + PROBE)
                elif kind == UPGRADE and pusher is None:
                    since = _since(data)
                    session.transport = "websocket"
                    self.upgraded["websocket"] += 1
                    pusher = asyncio.create_task(self._push_ws(ws, since))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if pusher is not None:
                pusher.cancel()
                await asyncio.gather(pusher, return_exceptions=True)
            session.streams -= 1
            self._streams.discard(request.transport)
        return ws

    async def _push_ws(self, ws: web.WebSocketResponse, cursor: str) -> None:
        try:
            async for kind, item in self._outbound(cursor):
                await self._unless_stalled()
                if kind == "event":
                    await ws.send_str(MESSAGE + item.to_json())
                elif kind == "note":
                    await ws.send_str(MESSAGE + json.dumps(item))
                else:
                    await ws.send_str(PING)
        except ValueError as exc:  # the upgrade's cursor is not a cursor
            await ws.close(code=1008, message=str(exc)[:120].encode())
        except (ConnectionError, SubscriberOverflow, RuntimeError):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"stream ended")

    # -- SSE ---------------------------------------------------------------------------------------
    async def handle_sse(self, request: web.Request) -> web.StreamResponse:
        session = self.session(request)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a buffering proxy that honours it lets the stream through
        })
        await response.prepare(request)
        session.streams += 1
        self._streams.add(request.transport)
        loop = asyncio.get_running_loop()
        session.go = loop.create_future()
        try:
            await self._unless_stalled()  # a stalled path stalls the probe too
            await response.write(encode_event(PONG + PROBE, event="probe"))
            cursor = await asyncio.wait_for(asyncio.shield(session.go), self.upgrade_wait)
            session.transport = "sse"
            self.upgraded["sse"] += 1
            assert self.hub is not None
            epoch = self.hub.epoch
            async for kind, item in self._outbound(cursor):
                await self._unless_stalled()
                if kind == "event":
                    await response.write(encode_rtlab_event(item, epoch))
                elif kind == "note":  # a reset or gap note
                    await response.write(encode_event(json.dumps(item), event=item["type"]))
                else:
                    await response.write(encode_event(PING, event="ping"))
        except (ConnectionError, asyncio.TimeoutError, SubscriberOverflow, RuntimeError, ValueError):
            pass  # gone, never upgraded, too slow, or the server is stopping: the client falls back
        finally:
            session.streams -= 1
            session.go = None
            self._streams.discard(request.transport)
        return response

    async def handle_upgrade(self, request: web.Request) -> web.Response:
        """The SSE stream's ``5``, sent the SignalR way: a POST beside the stream."""
        session = self.session(request)
        raw = request.query.get("since", "0")
        cursor_param(request)  # a bad cursor is a 400 here, not a broken stream later
        if session.go is None or session.go.done():
            raise web.HTTPConflict(text="no SSE stream of this session is waiting for an upgrade\n")
        session.go.set_result(raw)
        return web.Response(text=UPGRADE, headers={"Cache-Control": "no-store"})

    # -- what every stream sends ---------------------------------------------------------------
    async def _outbound(self, cursor: str) -> AsyncIterator[tuple[str, Any]]:
        """The session's outbound buffer from ``cursor`` on, then the live events, as
        ``("event", Event)``, ``("note", reset or gap note)`` and ``("ping", None)`` for each
        heartbeat. The one resume rule (:meth:`rtlab.hub.Hub.resume`): subscribe, then read
        the backlog, so nothing falls between the two. ``ValueError`` for a bad cursor.
        """
        hub = self.hub
        assert hub is not None
        stream, since = parse_token(cursor, "since")
        with hub.subscribe() as subscription:
            resume = hub.resume(since, stream=stream)
            if resume.reset is not None:
                yield "note", {"type": "reset", **resume.reset}
            if resume.gap is not None:
                yield "note", {"type": "gap", **resume.gap.note()}
            for event in resume.events:
                yield "event", event
            last = resume.last_seq
            while True:
                try:
                    event = await subscription.get(timeout=self.ping_interval)
                except StopAsyncIteration:
                    return
                if event is None:
                    yield "ping", None  # the heartbeat: nothing new for a whole interval
                elif event.seq > last:
                    last = event.seq
                    yield "event", event

    # -- faults ------------------------------------------------------------------------------------
    async def _unless_stalled(self) -> None:
        while time.monotonic() < self._stalled_until:
            await asyncio.sleep(min(0.05, self._stalled_until - time.monotonic()))

    def stall_streams(self, seconds: float) -> None:
        """For ``seconds``, the open streams deliver nothing, heartbeat included, and stay open.

        What a path that silently eats traffic looks like from the client (a NAT that forgot
        the flow, a proxy wedged on a full buffer). Polls are not affected: they are new
        requests each time. Thread-safe.
        """
        self._stalled_until = time.monotonic() + seconds

    def drop_streams(self) -> int:
        """Cut every WebSocket and SSE connection (a proxy restarting); returns how many."""
        async def cut() -> int:
            streams = list(self._streams)
            for transport in streams:
                if transport is not None:
                    transport.abort()
            return len(streams)

        return self.call(cut(), timeout=10)


def _since(data: str) -> str:
    """The cursor an upgrade packet carries (``5{"since": "<epoch>-<seq>"}``); ``"0"`` if none."""
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {}
    since = body.get("since", "0") if isinstance(body, dict) else "0"
    return str(since)[:200]


Server = AutoServer
