"""Short polling: the client asks "anything new?" every ``interval`` seconds; the server answers at once.

It is the simplest technique — plain HTTP requests, nothing held open — and the article's
*live scoreboard* uses it. What it costs follows from the timing: an event waits on
average half an ``interval`` for the next poll (its latency is uniform between 0 and
``interval``, plus the request time), and most polls come back empty.

Wire format (``GET /state?since=N``)::

    HTTP/1.1 200 OK
    ETag: "3f9a1c02-42"
    Cache-Control: no-cache
    Content-Type: application/json

    {"seq": 42, "stream": "3f9a1c02", "state": {...latest payload of each event type...},
     "events": [...events with seq > N, if N was given...]}

``seq`` is the latest event's number; with the stream id (:mod:`rtlab.hub`) it is the ETag.
A client that sends ``If-None-Match: "3f9a1c02-42"`` while nothing has changed gets
``304 Not Modified`` with no body: a conditional request, the cheapest "nothing new". The
comparison is RFC 9110's (§13.1.2): weak, over a list, and ``*`` matches
(:func:`rtlab.wire.http.if_none_match`); the 304 carries the same ``Cache-Control`` as the 200
(§15.4.5), so a cache treats both alike. ``events`` holds at most 1,000 events and 256 kB of
them (``max_answer_bytes``), so one answer stays small; the cursor fetches the rest.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from ..hub import Event
from ..wire.http import if_none_match
from .client import Client as BaseClient
from .requests import MAX_ANSWER_BYTES, MAX_EVENTS_PER_ANSWER, cursor_param, json_answer
from .server import Server as BaseServer

__all__ = ["Client", "Server", "ShortPollingClient", "ShortPollingServer"]


class ShortPollingServer(BaseServer):
    """Answers every ``GET /state`` immediately with the current state."""

    transport = "short-polling"
    path = "/state"

    def __init__(self, *, max_answer_bytes: int = MAX_ANSWER_BYTES, **kwargs: Any) -> None:
        """A short-polling server, not yet started.

        Args:
            max_answer_bytes: bytes of events one answer carries at most (always one event).
            **kwargs: as :class:`rtlab.net.server.Server` (host, port, name, replay, limits).
        """
        super().__init__(**kwargs)
        self.max_answer_bytes = max_answer_bytes

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get(self.path, self.handle_state)

    async def handle_state(self, request: web.Request) -> web.StreamResponse:
        cursor = cursor_param(request)
        hub = self.hub
        assert hub is not None
        etag = f'"{hub.token()}"'  # the stream id too: a restarted server at the same seq differs
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if if_none_match(request.headers.get("If-None-Match", ""), etag):
            return web.Response(status=304, headers=headers)
        fields: dict[str, Any] = {"seq": hub.latest_seq, "stream": hub.epoch}
        if cursor is None:
            return json_answer(fields, state=hub.state_text(), headers=headers)
        stream, since = cursor  # the hub's resume rule: reset, gap, then the events after since
        resume = hub.resume(since, MAX_EVENTS_PER_ANSWER, stream=stream, max_bytes=self.max_answer_bytes)
        fields.update(resume.notes())
        return json_answer(fields, state=hub.state_text(), events=resume.events, headers=headers)


class ShortPollingClient(BaseClient):
    """Polls every ``interval`` seconds with ``?since=<last seq>``.

    ``conditional=True`` adds ``If-None-Match`` so that "nothing new" costs a bodiless 304.
    """

    transport = "short-polling"

    def __init__(self, url: str, *, interval: float = 0.5, conditional: bool = False,
                 **kwargs: Any) -> None:
        """A short-polling client, not yet started.

        Args:
            url: the server's ``/state`` URL.
            interval: seconds between polls (a fixed grid; the next poll reads it again,
                so it can be changed while the client runs).
            conditional: send ``If-None-Match`` with the last ETag, so that "nothing new"
                is a bodiless 304.
            **kwargs: as :class:`rtlab.net.client.Client` (name, on_event, since, recorder).
        """
        super().__init__(url, **kwargs)
        if interval <= 0:
            raise ValueError("interval must be > 0 seconds")
        self.interval = interval
        self.conditional = conditional
        self.etag: str | None = None
        self.state: dict[str, Any] = {}

    async def run(self) -> None:
        async with aiohttp.ClientSession(trace_configs=[self.connection_counter()]) as session:
            # Polls are scheduled on a fixed grid (not "sleep after each answer"), so the
            # interval is what the learner set even though each request takes some time.
            next_poll = time.monotonic()
            while True:
                await self.poll_once(session)
                next_poll += self.interval
                await asyncio.sleep(max(0.0, next_poll - time.monotonic()))

    async def poll_once(self, session: aiohttp.ClientSession) -> int:
        """One request. Returns how many new events it brought."""
        headers = {"If-None-Match": self.etag} if self.conditional and self.etag else {}
        self.recorder.requests += 1
        try:
            async with session.get(self.url_with(since=self.cursor()), headers=headers) as resp:
                if resp.status == 304:
                    self.recorder.empty += 1
                    self.note("response", "304 Not Modified")
                    return 0
                resp.raise_for_status()
                body = await resp.json()
                self.etag = resp.headers.get("ETag")
        except aiohttp.ClientError as exc:
            self.recorder.error(f"poll failed: {exc}")
            return 0
        recv_ns = time.monotonic_ns()
        self.state = body.get("state", {})
        self.take_notes(body)
        new = [Event.from_dict(e) for e in body.get("events", [])]
        self.note("response", f"200 ({len(new)} events)", t_ns=recv_ns)
        if not new:
            self.recorder.empty += 1
        for event in new:
            self.received(event, recv_ns)
        return len(new)


# Short names for the notebooks: ``short_polling.Server`` and ``short_polling.Client``.
Server = ShortPollingServer
Client = ShortPollingClient
