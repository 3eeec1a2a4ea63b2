"""Long polling: the server *holds* the request until there is news, then answers; the client asks again.

This is how configuration centres such as Nacos and Apollo push changes over plain
HTTP: a watcher's request is parked on the server until a change happens or the hold
time ends. An event then waits only for the answer to travel — no polling interval —
but every waiting client holds an open connection, and every event costs a fresh
request.

The cursor matters. A client sends ``since=N``, the ``seq`` of the last event it saw;
the server answers with **every** event after N, so nothing published between two polls
is lost (Apollo's ``notificationId`` idea). Without a cursor ("give me the next change")
whatever happens while the client is reconnecting slips through.

Wire format (``GET /poll?since=N&hold=S``)::

    200 OK  {"seq": 45, "events": [{"seq": 43, ...}, {"seq": 44, ...}, {"seq": 45, ...}]}
    204 No Content                               nothing new within the hold time: ask again
    400 Bad Request                              since is not a non-negative integer

The hold defaults to 20 s, well under the 300 s after which jupyter-server-proxy gives up
on a request (see the field notes).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from .client import Client as BaseClient
from .hub import Event, Gap
from .server import Server as BaseServer
from .short_polling import MAX_EVENTS_PER_RESPONSE, gap_note, parse_since

DEFAULT_HOLD_S = 20.0
MAX_HOLD_S = 120.0


class LongPollingServer(BaseServer):
    """Holds each ``GET /poll?since=N`` until an event after N exists, or ``hold`` seconds pass."""

    transport = "long-polling"
    path = "/poll"

    def __init__(self, *, hold: float = DEFAULT_HOLD_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold = hold
        self.waiting = 0  # requests parked right now: the cost of long polling, in connections

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get(self.path, self.handle_poll)

    async def handle_poll(self, request: web.Request) -> web.StreamResponse:
        since = parse_since(request)
        if since is None:
            raise web.HTTPBadRequest(
                text="long polling needs a cursor: add ?since=N, the seq of the last event you "
                "saw (?since=0 to start from the beginning)\n")
        hold = self._parse_hold(request)
        hub = self.hub
        assert hub is not None
        self.waiting += 1
        try:
            has_news = await hub.wait_after(since, hold)
        finally:
            self.waiting -= 1
        if not has_news or hub.closed:
            return web.Response(status=204)
        body: dict[str, Any] = {"seq": hub.latest_seq}
        try:
            events = hub.after(since, MAX_EVENTS_PER_RESPONSE)
        except Gap as gap:  # the client was away longer than the replay buffer reaches
            body["gap"] = gap_note(gap)
            events = hub.after(hub.oldest_seq - 1, MAX_EVENTS_PER_RESPONSE)
        body["events"] = [e.to_dict() for e in events]
        return web.json_response(body, headers={"Cache-Control": "no-cache"})

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
    """Asks ``GET /poll?since=<last seq>`` again as soon as each answer arrives."""

    transport = "long-polling"

    def __init__(self, url: str, *, hold: float | None = None, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.hold = hold

    async def run(self) -> None:
        params = {} if self.hold is None else {"hold": self.hold}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=(self.hold or MAX_HOLD_S) + 10)
        attempt = 0
        async with aiohttp.ClientSession(trace_configs=[self.connection_counter()],
                                         timeout=timeout) as session:
            while True:
                self.recorder.requests += 1
                try:
                    async with session.get(self.url_with(since=self.last_seq, **params)) as resp:
                        if resp.status == 204:
                            self.recorder.empty += 1
                            continue
                        if resp.status == 400:
                            raise ValueError(await resp.text())
                        resp.raise_for_status()
                        body = await resp.json()
                    attempt = 0
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    # The server went away (restart, network): back off, then resume from the cursor.
                    self.recorder.error(f"poll failed: {exc!r}")
                    self.recorder.reconnects += 1
                    await asyncio.sleep(self.backoff(attempt))
                    attempt += 1
                    continue
                recv_ns = time.monotonic_ns()
                if "gap" in body:
                    gap = body["gap"]
                    self.recorder.missed += gap["last_missing"] - gap["first_missing"] + 1
                    self.last_seq = gap["last_missing"]  # acknowledge the gap, then carry on
                for raw in body["events"]:
                    self.received(Event.from_dict(raw), recv_ns)


Server = LongPollingServer
Client = LongPollingClient
