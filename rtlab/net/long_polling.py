"""Long polling: the server *holds* the request until there is news, then answers; the client asks again.

This is how configuration centres push changes over plain HTTP — Apollo to this day, Nacos
until 1.x (Nacos 2.x, 2021, moved its listeners to gRPC long connections): a watcher's request
is parked on the server until a change happens or the hold time ends. An event then waits
only for the answer to travel — no polling interval — but every waiting client holds an open
connection, and every event costs a fresh request.

The cursor matters. A client sends ``since=N``, the ``seq`` of the last event it saw;
the server answers with **every** event after N, so nothing published between two polls
is lost (Apollo's ``notificationId`` idea). Without a cursor ("give me the next change")
whatever happens while the client is reconnecting slips through: ``?wait=next`` and
``Client(naive=True)`` keep that naive protocol, so notebook 02 can show what it loses.

Wire format (``GET /poll?since=N&hold=S``)::

    200 OK  {"seq": 45, "stream": "3f9a1c02", "events": [{"seq": 43, ...}, ..., {"seq": 45, ...}]}
    204 No Content                               nothing new within the hold time: ask again
    400 Bad Request                              since is not a resume token or a seq

``seq`` is the latest event on the server; ``events`` holds at most ``max_events`` of them and
``max_answer_bytes`` of them (always one), so the next cursor is the seq of the *last event
received*, not ``seq``. rtlab's client sends it back as ``since=<stream>-<seq>`` (see
"Stream identity" in :mod:`rtlab.hub`); a bare ``since=N`` is taken as this stream's. Both
answers carry ``Cache-Control: no-cache``: a 204 is heuristically cacheable (RFC 9110
§15.3.5), and a cached "nothing new" would hide the next change.
``GET /poll?wait=next`` (no cursor) answers with the one change that comes after the
request arrives — the naive protocol.

The hold defaults to 20 s, well under the 300 s after which jupyter-server-proxy gives up
on a request (see the field notes).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from ..hub import Event
from .client import Client as BaseClient
from .requests import MAX_ANSWER_BYTES, MAX_EVENTS_PER_ANSWER, cursor_param, json_answer
from .server import Server as BaseServer

__all__ = ["DEFAULT_HOLD_S", "MAX_HOLD_S", "Client", "LongPollingClient", "LongPollingServer", "Server"]

DEFAULT_HOLD_S = 20.0
MAX_HOLD_S = 120.0


class LongPollingServer(BaseServer):
    """Holds each ``GET /poll?since=N`` until an event after N exists, or ``hold`` seconds pass."""

    transport = "long-polling"
    path = "/poll"

    def __init__(self, *, hold: float = DEFAULT_HOLD_S, max_events: int = MAX_EVENTS_PER_ANSWER,
                 max_answer_bytes: int = MAX_ANSWER_BYTES, **kwargs: Any) -> None:
        """A long-polling server, not yet started.

        Args:
            hold: how long a request waits for news before the answer is 204 (seconds);
                a client may ask for less or more with ``?hold=`` (up to 120 s).
            max_events: events per answer at most; the client asks again for more.
            max_answer_bytes: bytes of events per answer at most (always one event).
            **kwargs: as :class:`rtlab.net.server.Server` (host, port, name, replay, limits).
        """
        super().__init__(**kwargs)
        self.hold = hold
        self.max_events = max_events
        self.max_answer_bytes = max_answer_bytes
        self.waiting = 0  # requests parked right now: the cost of long polling, in connections

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get(self.path, self.handle_poll)

    async def handle_poll(self, request: web.Request) -> web.StreamResponse:
        hub = self.hub
        assert hub is not None
        limit = self.max_events
        stream: str | None = None
        if request.query.get("wait") == "next":
            # The naive protocol: no cursor, so all the server can do is answer with the
            # next change after this request arrived. Changes made while the client was
            # between two polls are never sent to it.
            since, limit = hub.latest_seq, 1
        else:
            cursor = cursor_param(request)
            if cursor is None:
                raise web.HTTPBadRequest(
                    text="long polling needs a cursor: add ?since=N, the seq of the last event you "
                    "saw (?since=0 to start from the beginning)\n")
            stream, since = cursor
        hold = self._parse_hold(request)
        headers = {"Cache-Control": "no-cache"}
        if hub.reset_note(since, stream) is None:  # a cursor from another stream is answered at once
            self.waiting += 1
            try:
                has_news = await hub.wait_after(since, hold)
            finally:
                self.waiting -= 1
            if not has_news or hub.closed:
                return web.Response(status=204, headers=headers)
        # the hub's rule: reset, gap, then the events after since
        resume = hub.resume(since, limit, stream=stream, max_bytes=self.max_answer_bytes)
        fields: dict[str, Any] = {"seq": hub.latest_seq, "stream": hub.epoch, **resume.notes()}
        return json_answer(fields, events=resume.events, headers=headers)

    def _parse_hold(self, request: web.Request) -> float:
        raw = request.query.get("hold")
        if raw is None:
            return self.hold
        try:
            hold = float(raw)
        except ValueError:
            hold = -1.0
        if not 0 <= hold <= MAX_HOLD_S:
            raise web.HTTPBadRequest(
                text=f"hold must be a number of seconds between 0 and {MAX_HOLD_S:g}; got {raw[:40]!r}\n")
        return hold


class LongPollingClient(BaseClient):
    """Asks ``GET /poll?since=<last seq>`` again as soon as each answer arrives.

    ``naive=True`` asks ``GET /poll?wait=next`` instead — no cursor — and loses every change
    made while it is between two polls (the lost-update race of notebook 02).
    """

    transport = "long-polling"

    def __init__(self, url: str, *, hold: float | None = None, naive: bool = False,
                 **kwargs: Any) -> None:
        """A long-polling client, not yet started.

        Args:
            url: the server's ``/poll`` URL.
            hold: ask the server to hold each request at most this long (seconds);
                ``None`` takes the server's default.
            naive: poll with ``?wait=next`` and no cursor, to see what that loses.
            **kwargs: as :class:`rtlab.net.client.Client` (name, on_event, since, recorder).
        """
        super().__init__(url, **kwargs)
        self.hold = hold
        self.naive = naive

    async def run(self) -> None:
        params = {} if self.hold is None else {"hold": self.hold}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=(self.hold or MAX_HOLD_S) + 10)
        attempt = 0
        async with aiohttp.ClientSession(trace_configs=[self.connection_counter()],
                                         timeout=timeout) as session:
            while True:
                self.recorder.requests += 1
                asked_ns = time.monotonic_ns()
                try:
                    cursor = {"wait": "next"} if self.naive else {"since": self.cursor()}
                    async with session.get(self.url_with(**cursor, **params)) as resp:
                        if resp.status == 204:
                            self.recorder.empty += 1
                            held_s = (time.monotonic_ns() - asked_ns) / 1e9
                            self.note("response", f"204 after {held_s:.2g} s hold")
                            continue
                        if resp.status == 400:
                            raise ValueError(await resp.text())
                        resp.raise_for_status()
                        body = await resp.json()
                    attempt = 0
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    # The server went away (restart, network): back off, then resume from the cursor.
                    self.recorder.error(f"poll failed: {exc!r}")
                    self.reconnecting(f"poll failed: {type(exc).__name__}")
                    await asyncio.sleep(self.backoff(attempt))
                    attempt += 1
                    continue
                recv_ns = time.monotonic_ns()
                self.note("response", f"200 ({len(body['events'])} events)", t_ns=recv_ns)
                self.take_notes(body)
                for raw in body["events"]:
                    self.received(Event.from_dict(raw), recv_ns)


Server = LongPollingServer
Client = LongPollingClient
