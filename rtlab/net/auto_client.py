"""``connect("auto", url)``: a client that negotiates its transport, and moves without losing an event.

What it does, in the order it happens (the packets and their sources: :mod:`rtlab.wire.negotiation`;
the server: :mod:`rtlab.net.negotiate`):

1. **negotiate** — ``POST /auto/negotiate`` gives the ``open`` packet: a session id, the
   upgrades to try, the heartbeat (``pingInterval``, ``pingTimeout``);
2. **start on long polling**, the technique that always works (Engine.IO's choice: any proxy
   that passes a web page passes a poll). Events flow from the first second;
3. **probe the better ones, best first** (SignalR's order: WebSocket, then SSE): open the
   connection beside the polls and check that a probe comes back over it (``2probe`` →
   ``3probe``; for SSE an ``event: probe`` that must get through the stream — a buffering proxy
   holds it back, and the probe times out). A refusal (``no-upgrade``: the proxy answers the
   ``Upgrade`` with an error status) or a silent probe puts that rung off
   (:class:`~rtlab.wire.negotiation.Ladder`: exponential backoff with full jitter) and the
   next rung is probed;
4. **switch**: stop polling, send ``5`` with the cursor (over the WebSocket, or as a POST beside
   the SSE stream); the server sends everything after that cursor on the new connection;
5. **fall back** to long polling when the stream breaks — closed, reset, or *silent*: nothing
   at all, not even a heartbeat, for ``pingInterval + pingTimeout`` (two heartbeat intervals) —
   and probe again later;
6. **reconnect** — a poll that fails is retried with exponential backoff and full jitter
   (:mod:`rtlab.net.retry`); a server that forgot the session (it restarted) gets a new
   ``negotiate``, and the cursor carries over.

**Exactly once, in order, across every switch**: each transport asks for "everything after my
cursor", the cursor only moves when an event is handed to the application, and an event at or
below the cursor is dropped as a duplicate (:meth:`rtlab.net.client.Client.received`). A switch
may overlap two connections; it can never open a hole.

``client.transport`` is the technique in use now; ``client.switches`` the history, a list of
:class:`~rtlab.wire.negotiation.Switch` ``(time, from_, to, why)``; ``client.probes`` every probe
that failed and why. Probes are made from long polling only, as Engine.IO does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from ..hub import Event
from ..wire.negotiation import MESSAGE, PING, PONG, PROBE, UPGRADE, Ladder, OpenPacket, Switch, decode_packet
from ..wire.sse import SSEParser
from .client import Client

__all__ = ["PROBE_TIMEOUT_MIN_S", "AutoClient", "Client"]


PROBE_TIMEOUT_MIN_S = 2.0


class _Refused(Exception):
    """A probe or an upgrade did not go through; the message says how."""


class _SessionLost(Exception):
    """The server does not know our session (it restarted): negotiate again."""


class AutoClient(Client):
    """Negotiates, starts on long polling, upgrades, falls back; see the module docstring."""

    transport = "auto"  # the class's name for it; each client's ``transport`` is the one in use

    def __init__(self, url: str | list[str], *, upgrade: bool = True,
                 on_switch: Callable[[Switch], Any] | None = None, **kwargs: Any) -> None:
        """A negotiating client, not yet started.

        Args:
            url: the server's URL (``server.url`` of ``serve("auto")``, ending in ``/auto``).
            upgrade: probe the upgrades the server offers; ``False`` stays on long polling.
            on_switch: called with each :class:`~rtlab.wire.negotiation.Switch`, on the client loop.
            **kwargs: as :class:`rtlab.net.client.Client` (name, on_event, since, recorder, retry).
        """
        super().__init__(url, **kwargs)
        self.transport: str = "long-polling"  # type: ignore[misc] - the one in use, now
        self.upgrade = upgrade
        self.on_switch = on_switch
        self.switches: list[Switch] = []
        self.probes: list[tuple[float, str, str]] = []  # (time, transport, why it failed)
        self.open: OpenPacket | None = None
        self.sessions = 0  # negotiations so far: more than one means the server forgot us

    # -- the session, from negotiate to loss ------------------------------------------------
    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        async with aiohttp.ClientSession(trace_configs=[self.connection_counter()],
                                         timeout=timeout) as http:
            attempt = 0
            while True:
                try:
                    self.open = await self._negotiate(http)
                except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                    self.recorder.error(f"negotiate failed: {exc!r}")
                    self.reconnecting(f"negotiate failed: {type(exc).__name__}")
                    await asyncio.sleep(self.backoff(attempt))
                    attempt += 1
                    continue
                attempt = 0
                try:
                    await self._session(http, self.open)
                except _SessionLost as exc:
                    self.recorder.error(str(exc))
                    self.reconnecting(str(exc))

    async def _negotiate(self, http: aiohttp.ClientSession) -> OpenPacket:
        self.recorder.requests += 1
        async with http.post(self._at("negotiate"), timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status == 503:
                raise aiohttp.ClientResponseError(resp.request_info, (), status=503, message="busy")
            if resp.status != 200:
                hint = (" (is this the url that serve(\"auto\") gives, ending in /auto?)"
                        if resp.status == 404 else "")
                raise RuntimeError(f"negotiate: HTTP {resp.status} from {resp.url.path}{hint}: "
                                   f"{(await resp.text())[:200]}")
            packet = OpenPacket.from_json(await resp.text())
        self.sessions += 1
        # Not self.on_stream(packet.stream): the cursor must go on naming the stream its seq
        # counts in. A new process has a new stream; the first answer tells us (a "reset").
        self.note("response", f"open sid={packet.sid[:6]}…")
        return packet

    async def _session(self, http: aiohttp.ClientSession, packet: OpenPacket) -> None:
        interval = packet.ping_interval_ms / 1000
        ladder = Ladder(packet.upgrades if self.upgrade else (), base=interval, cap=30 * interval)
        while True:
            name, conn = await self._poll_until_probed(http, packet, ladder)
            try:
                await self._commit(http, packet, name, conn)
            except (_Refused, aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                await _close(conn)
                self._probe_failed(ladder, name, f"upgrade failed: {exc}")
                continue
            except BaseException:  # stopped (cancelled) mid-upgrade: leave no connection open
                await _close(conn)
                raise
            self._switch(name, "probe answered: upgraded")
            started = time.monotonic()
            try:
                why = await self._carry(packet, name, conn)
            finally:
                await _close(conn)
            if time.monotonic() - started > 10 * packet.broken_after_s:
                ladder.worked(name)  # it held: the next failure starts the backoff afresh
            ladder.failed(name, time.monotonic())  # ... but do not probe it again at once
            self._switch("long-polling", why)

    def _switch(self, to: str, why: str) -> None:
        switch = Switch(time.monotonic(), self.transport, to, why)
        self.switches.append(switch)
        del self.switches[:-1000]  # a long session: keep the latest thousand
        self.transport = to
        self.note("switch", f"{switch.from_} → {to}: {why}"[:60])
        if self.on_switch is not None:
            try:
                self.on_switch(switch)
            except Exception as exc:  # noqa: BLE001 - a broken callback must not stop the client
                self.recorder.error(f"on_switch raised {exc!r}")

    def _probe_failed(self, ladder: Ladder, name: str, why: str) -> None:
        self.probes.append((time.monotonic(), name, why))
        del self.probes[:-1000]
        ladder.failed(name, time.monotonic())
        self.note("probe", f"{name}: {why}"[:60])

    def _at(self, endpoint: str, **params: Any) -> str:
        from yarl import URL

        return str(URL(self.url.rstrip("/") + "/" + endpoint).update_query(client=self.name, **params))

    # -- long polling, and the probes beside it ------------------------------------------------
    async def _poll_until_probed(self, http: aiohttp.ClientSession, packet: OpenPacket,
                                 ladder: Ladder) -> tuple[str, Any]:
        """Poll until a probe succeeds; return ``(transport, its probed connection)``."""
        poller = asyncio.create_task(self._poll_forever(http, packet))
        prober: asyncio.Task[Any] | None = None
        try:
            while True:
                name, wait = ladder.next_probe(time.monotonic())
                if name is None:
                    await asyncio.wait({poller}, timeout=min(wait, 60.0))
                    if poller.done():
                        poller.result()  # _SessionLost, or a bug
                    continue
                prober = asyncio.create_task(self._probe(http, packet, name))
                done, _ = await asyncio.wait({poller, prober}, return_when=asyncio.FIRST_COMPLETED)
                if poller in done:
                    prober.cancel()
                    result = await asyncio.gather(prober, return_exceptions=True)
                    await _close(result[0])
                    poller.result()
                try:
                    return name, prober.result()
                except _Refused as exc:
                    self._probe_failed(ladder, name, str(exc))
        finally:
            # Stop polling before the upgrade: the poll in flight is abandoned, and what it
            # would have carried comes on the new connection, from the cursor.
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            if prober is not None and not prober.done():  # the client is stopping mid-probe
                prober.cancel()
                await _close((await asyncio.gather(prober, return_exceptions=True))[0])

    async def _poll_forever(self, http: aiohttp.ClientSession, packet: OpenPacket) -> None:
        attempt = 0
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=packet.broken_after_s)
        while True:
            self.recorder.requests += 1
            try:
                async with http.get(self._at("poll", sid=packet.sid, since=self.cursor()),
                                    timeout=timeout) as resp:
                    if resp.status == 400:
                        await _raise_for_session(resp)
                    resp.raise_for_status()
                    body = await resp.json()
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, ValueError) as exc:
                # ValueError: a body that is not JSON (cut short by a proxy): ask again, same cursor
                self.recorder.error(f"poll failed: {exc!r}")
                self.reconnecting(f"poll failed: {type(exc).__name__}")
                await asyncio.sleep(self.backoff(attempt))
                attempt += 1
                continue
            attempt = 0
            recv_ns = time.monotonic_ns()
            if body.get("packet") == PING:
                self.recorder.empty += 1
                continue
            self.take_notes(body)
            for raw in body.get("events", []):
                self.received(Event.from_dict(raw), recv_ns)

    async def _probe(self, http: aiohttp.ClientSession, packet: OpenPacket, name: str) -> Any:
        """Open ``name`` beside the polls and check that the probe comes back over it."""
        # As long as a stream may stay silent, and never under 2 s: a probe that a busy machine
        # answers late is not a refusal, and polling carries the events meanwhile.
        limit = max(PROBE_TIMEOUT_MIN_S, packet.broken_after_s)
        if name == "websocket":
            try:
                ws = await _within(http.ws_connect(
                    self._at("ws", sid=packet.sid), autoping=True, max_msg_size=0), limit)
            except aiohttp.WSServerHandshakeError as exc:
                raise _Refused(f"the Upgrade was refused: HTTP {exc.status}") from None
            except asyncio.TimeoutError:
                raise _Refused(f"no answer to the Upgrade within {limit:g} s") from None
            except (aiohttp.ClientError, ConnectionError) as exc:
                raise _Refused(f"could not connect: {type(exc).__name__}") from None
            try:
                await ws.send_str(PING + PROBE)
                msg = await ws.receive(timeout=limit)
            except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError):
                await _close(ws)
                raise _Refused(f"no 3probe within {limit:g} s") from None
            if msg.type != aiohttp.WSMsgType.TEXT or msg.data != PONG + PROBE:
                await _close(ws)
                raise _Refused(f"the probe came back as {str(msg.data)[:40]!r}, not 3probe")
            return ws
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        try:
            resp = await _within(http.get(self._at("sse", sid=packet.sid), headers=headers,
                                                   timeout=aiohttp.ClientTimeout(total=None)), limit)
        except asyncio.TimeoutError:
            raise _Refused(f"no answer to the stream request within {limit:g} s") from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise _Refused(f"could not connect: {type(exc).__name__}") from None
        content_type = resp.headers.get("Content-Type", "")
        if resp.status != 200 or not content_type.startswith("text/event-stream"):
            resp.close()
            raise _Refused(f"not an event stream: HTTP {resp.status}, {content_type!r}")
        parser = SSEParser()
        deadline = time.monotonic() + limit
        try:
            while True:
                chunk = await _within(resp.content.readany(), max(0.0, deadline - time.monotonic()))
                if not chunk:
                    raise _Refused("the stream ended before its probe")
                if any(m.event == "probe" for m in parser.feed(chunk)):
                    return resp, parser
        except asyncio.TimeoutError:
            resp.close()
            raise _Refused(f"the stream's probe did not arrive within {limit:g} s "
                           "(a proxy buffering it?)") from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            resp.close()
            raise _Refused(f"the stream broke before its probe: {type(exc).__name__}") from None
        except BaseException:
            resp.close()
            raise

    async def _commit(self, http: aiohttp.ClientSession, packet: OpenPacket, name: str, conn: Any) -> None:
        """Send ``5`` with the cursor: the server starts sending from there on ``conn``."""
        if name == "websocket":
            await conn.send_str(UPGRADE + json.dumps({"since": self.cursor()}))
            return
        async with http.post(self._at("upgrade", sid=packet.sid, since=self.cursor()),
                             timeout=aiohttp.ClientTimeout(total=packet.broken_after_s)) as resp:
            if resp.status == 400:
                await _raise_for_session(resp)
            if resp.status != 200:
                raise _Refused(f"HTTP {resp.status}: {(await resp.text())[:100]}")

    # -- on the upgraded connection ---------------------------------------------------------
    async def _carry(self, packet: OpenPacket, name: str, conn: Any) -> str:
        """Deliver events from ``conn`` until it breaks; return why it broke."""
        silent = packet.broken_after_s
        stalled = f"stalled: nothing, not even a heartbeat, for {silent:g} s"
        try:
            if name == "websocket":
                while True:
                    msg = await conn.receive(timeout=silent)  # aiohttp's timeout: safe to cancel
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return f"closed: WebSocket {msg.type.name.lower()}, code {conn.close_code}"
                    kind, data = decode_packet(msg.data)
                    if kind == PING:
                        await conn.send_str(PONG)
                    elif kind == MESSAGE:
                        self._message(json.loads(data), time.monotonic_ns())
            resp, parser = conn
            while True:
                chunk = await _within(resp.content.readany(), silent)
                if not chunk:
                    return "closed: the stream ended"
                recv_ns = time.monotonic_ns()
                for message in parser.feed(chunk):
                    if message.event in ("reset", "gap"):
                        self.take_notes({message.event: json.loads(message.data)})
                    elif message.event not in ("ping", "probe"):
                        self._message(json.loads(message.data) | {"type": message.event}, recv_ns)
        except asyncio.TimeoutError:
            return stalled
        except (aiohttp.ClientError, ConnectionError, ValueError) as exc:
            return f"broken: {type(exc).__name__}"

    def _message(self, body: dict[str, Any], recv_ns: int) -> None:
        if "seq" in body and "sent_ns" in body:
            self.received(Event.from_dict(body), recv_ns)
        elif body.get("type") in ("reset", "gap"):  # resume notes: the client base's rule
            self.take_notes({body["type"]: body})


async def _within(awaitable: Any, seconds: float) -> Any:
    """``await awaitable``, or ``asyncio.TimeoutError`` after ``seconds``.

    Not ``asyncio.wait_for``: before Python 3.12 it can swallow a cancellation that arrives just
    as the awaitable finishes, and a client told to stop then carries on (``stop()`` times out).
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        result = (await asyncio.gather(task, return_exceptions=True))[0]
        await _close(result)  # a connection it opened just then must not leak
        raise
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise asyncio.TimeoutError
    return task.result()


async def _raise_for_session(resp: aiohttp.ClientResponse) -> None:
    """A 400 from the server: our session is unknown (negotiate again), or a real error."""
    text = await resp.text()
    with contextlib.suppress(ValueError):
        if json.loads(text).get("code") == 1:
            raise _SessionLost("the server does not know this session (restarted?): negotiating again")
    raise RuntimeError(f"the server refused the request: HTTP 400: {text[:200]}")


async def _close(conn: Any) -> None:
    """Close a probed connection without waiting on a path that may be stalled."""
    if conn is None or isinstance(conn, BaseException):
        return
    if isinstance(conn, tuple):  # (the SSE response, its parser)
        conn = conn[0]
    close = getattr(conn, "close", None)
    if close is None:
        return
    with contextlib.suppress(Exception):
        closing = close()  # a WebSocket's is a coroutine (a close handshake), a response's is not
        if asyncio.iscoroutine(closing):
            await _within(closing, 0.2)


Client = AutoClient
