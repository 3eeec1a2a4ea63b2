"""What every rtlab client shares: it runs on the client loop, keeps a cursor, records each event.

A transport module subclasses :class:`Client` and writes one coroutine, :meth:`Client.run`,
that talks its protocol and calls :meth:`Client.received` for each event. The base class:

* starts and stops that coroutine on the shared client loop (:func:`rtlab.lab.client_loop`);
* keeps ``last_seq``, the cursor a client resumes from after a reconnect, and skips
  duplicates (so a resumed stream delivers each event exactly once);
* holds the **one client-side resume rule**: what a reset (:meth:`Client.on_reset`) and a
  gap (:meth:`Client.on_gap`) do to the cursor, whichever transport brought the news;
* records every event's latency in a :class:`~rtlab.metrics.Recorder`;
* calls ``on_event(event)`` — for example a widget update — on the client loop.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any, ClassVar

import aiohttp

from .. import lab
from ..hub import Event
from ..metrics import Recorder
from ..trace import Trace
from .path import Relay
from .path_mixin import relay_for_url
from .path_model import NetworkPath
from .retry import Retry

__all__ = ["Client"]

_counter = 0


def _next_name(transport: str) -> str:
    global _counter
    _counter += 1
    return f"{transport}-{_counter}"


class Client:
    """Base class of the four clients."""

    transport: ClassVar[str] = "base"

    def __init__(
        self,
        url: str | list[str],
        *,
        name: str | None = None,
        on_event: Callable[[Event], Any] | None = None,
        since: int = 0,
        recorder: Recorder | None = None,
        trace: bool | Trace = False,
        retry: Retry | str | None = None,
        network: str | NetworkPath | dict[str, Any] | None = None,
    ) -> None:
        """A client, not yet started (:meth:`start`, or use :func:`rtlab.connect`).

        Args:
            url: the server's URL (``server.url``), or a list of gateways' URLs serving one
                stream (a cluster on a broker): the client picks one (by its name, so clients
                spread) and moves to the next each time it has to reconnect, resuming from its
                cursor there — what mobile clients do with DNS round robin.
            name: the name it is registered under; starting another client with the same
                name (a re-run cell) stops this one. It is also sent as ``?client=``, so the
                server counts this client's bytes apart.
            on_event: called with each new :class:`~rtlab.hub.Event`, on the client loop:
                store, never block (a widget draws later, from the refresher thread).
            since: the cursor to start from: 0 for everything the server still has.
            recorder: where to record what arrived (a new one by default).
            trace: keep a :class:`~rtlab.trace.Trace` of every request, response, event, frame
                and connection (``recorder.trace``), to draw a sequence diagram from.
            retry: how to wait before reconnecting (:mod:`rtlab.net.retry`): ``"immediate"``,
                ``"fixed"`` or ``"exponential"`` (full jitter, the default), or a
                :class:`~rtlab.net.retry.Retry`.
            network: an emulated network path of this client's own in front of ``url`` (a
                profile name such as ``"3g"``, or a :class:`~rtlab.net.path_model.NetworkPath`):
                one phone on 3G beside others on Wi-Fi. A server's own ``network=`` already
                puts a path in front of every client; this adds one more, for this client only.
        """
        self.name = name or _next_name(self.transport)
        self.gateways = [url] if isinstance(url, str) else list(url)
        if not self.gateways:
            raise ValueError("url: give a URL, or a non-empty list of gateway URLs")
        self.url = self.gateways[random.Random(self.name).randrange(len(self.gateways))]
        self.moves = 0  # times this client moved to another gateway
        if network is not None and len(self.gateways) > 1:
            raise ValueError("network= puts a path in front of one server: give one URL, not a list")
        self.direct_url = self.url  # what ``url`` was before a network path was put in front of it
        self.network = network
        self.relay: Relay | None = None
        self.on_event = on_event
        self.last_seq = since  # the cursor: the last seq this client has seen
        self.stream: str | None = None  # the epoch of the stream last_seq counts in, once a server said it
        self.recorder = recorder or Recorder(self.name, self.transport)
        self.retry_policy_given = retry is not None  # SSE: None means "as the server's retry: says"
        self.retry = Retry.of(retry)
        if trace:
            self.recorder.trace = trace if isinstance(trace, Trace) else Trace()
        self._task: asyncio.Task[None] | None = None
        self._loop_thread: lab.LoopThread | None = None

    # -- what a subclass writes ---------------------------------------------------------
    async def run(self) -> None:
        """Talk the protocol until cancelled, calling :meth:`received` for each event."""
        raise NotImplementedError

    def received(self, event: Event, recv_ns: int | None = None) -> bool:
        """Record one event (on the client loop). ``False`` if it was a duplicate."""
        recv_ns = time.monotonic_ns() if recv_ns is None else recv_ns
        if event.seq <= self.last_seq:
            self.recorder.duplicates += 1
            return False
        if event.seq > self.last_seq + 1 and self.counts_jumps_as_missed:
            self.recorder.missed += event.seq - self.last_seq - 1
        self.last_seq = event.seq
        self.recorder.record(event.seq, event.sent_ns, recv_ns)
        if self.recorder.trace is not None:  # the timed path: no label is formatted unless tracing
            self.recorder.trace.note("event", f"#{event.seq} {event.type}", seq=event.seq, t_ns=recv_ns)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception as exc:  # noqa: BLE001 - a broken callback must not stop the client
                self.recorder.error(f"on_event raised {exc!r}")
        return True

    # Push clients get every seq; a jump means events were lost. Short polling shows
    # state, so skipping intermediate seqs is expected there and it sets this False.
    counts_jumps_as_missed: ClassVar[bool] = True

    def url_with(self, **params: Any) -> str:
        """``self.url`` with query parameters added (and this client's name, for byte counts)."""
        from yarl import URL

        return str(URL(self.url).update_query(client=self.name, **params))

    def connection_counter(self) -> aiohttp.TraceConfig:
        """aiohttp trace hooks: count each TCP connection this client opens, and trace it and
        each request when tracing is on."""
        hooks = aiohttp.TraceConfig()
        started: list[int] = []

        async def on_create_start(*_: Any) -> None:
            started.append(time.monotonic_ns())

        async def on_create(*_: Any) -> None:
            self.recorder.connections += 1
            if started:
                self.note("connect", "TCP handshake", t_ns=started.pop(), until_ns=time.monotonic_ns())

        async def on_request(_session: Any, _context: Any, params: aiohttp.TraceRequestStartParams) -> None:
            if self.recorder.trace is not None:
                target = params.url.with_query({k: v for k, v in params.url.query.items() if k != "client"})
                self.note("request", f"{params.method} {target.raw_path_qs}")

        hooks.on_connection_create_start.append(on_create_start)
        hooks.on_connection_create_end.append(on_create)
        hooks.on_request_start.append(on_request)
        return hooks

    def note(self, kind: str, label: str = "", **details: Any) -> None:
        """Add a mark to this client's trace (see :mod:`rtlab.trace`), if it keeps one."""
        if self.recorder.trace is not None:
            self.recorder.trace.note(kind, label, **details)

    def reconnecting(self, why: str = "") -> None:
        """The connection was lost and the client is about to try again: count it (and trace it)."""
        self.recorder.reconnects += 1
        self.note("reconnect", why[:60] or "reconnect")
        if len(self.gateways) > 1:  # its gateway may be gone: try the next one, with the same cursor
            self.url = self.gateways[(self.gateways.index(self.url) + 1) % len(self.gateways)]
            self.moves += 1

    # -- the one resume rule, on the client's side ------------------------------------------
    def cursor(self) -> str:
        """The resume token to send back: ``<epoch>-<last seq>`` (see :mod:`rtlab.hub`), or a bare
        seq until a server has said which stream it serves."""
        if self.stream and self.last_seq:
            return f"{self.stream}-{self.last_seq}"
        return str(self.last_seq)

    def on_stream(self, stream: str | None) -> None:
        """The server said which stream (epoch) the events it sends belong to."""
        if stream:
            self.stream = stream

    def on_reset(self, note: dict[str, Any] | None = None) -> None:
        """The server's stream is not the one our cursor came from: start over from seq 1."""
        self.last_seq = 0
        self.recorder.resets += 1
        if note:
            self.on_stream(note.get("stream"))

    def on_gap(self, note: dict[str, Any]) -> None:
        """The server announced events ``first_missing..last_missing`` as lost to us.

        Count them as missed, and move the cursor past them, so that the jump they leave
        in the seqs is not counted a second time by :meth:`received`. ``max``: a gap can
        never move the cursor back.
        """
        first, last = int(note["first_missing"]), int(note["last_missing"])
        self.recorder.missed += last - first + 1
        self.last_seq = max(self.last_seq, last)

    def take_notes(self, notes: dict[str, Any]) -> None:
        """Apply the ``"reset"`` and ``"gap"`` fields of an answer (see :meth:`rtlab.hub.Resume.notes`).

        A reset comes first: the gap, if any, is then about the new stream. A ``"stream"``
        field (every polling answer has one) says which stream the events belong to.
        """
        if "reset" in notes:
            self.on_reset(notes["reset"])
        if "stream" in notes:
            self.on_stream(notes["stream"])
        if "gap" in notes:
            self.on_gap(notes["gap"])

    def backoff(self, attempt: int) -> float:
        """How long to wait before reconnect number ``attempt``, by this client's ``retry`` policy."""
        return self.retry.delay(attempt)

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> Client:
        """Start the client on the client loop. Returns at once."""
        if self.running:
            return self
        lab.register_client(self.name, self)
        if self.network is not None and self.relay is None:
            self.relay = relay_for_url(self.direct_url, self.network, name=self.name)
            if self.relay is not None:
                self.url = self.relay.url_for(self.direct_url)
        self._loop_thread = lab.client_loop()
        self._task = self._loop_thread.run(self._spawn())
        return self

    async def _spawn(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._main(), name=self.name)

    async def _main(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep the message for the learner
            self.recorder.error(f"{type(exc).__name__}: {exc}")
            self.failure = exc

    failure: Exception | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stop(self) -> None:
        """Stop the client and close its connection."""
        task, self._task = self._task, None
        if task is not None and self._loop_thread is not None and self._loop_thread.alive:
            self._loop_thread.run(self._cancel(task), timeout=10)
        relay, self.relay = self.relay, None
        if relay is not None:
            relay.stop()
            self.url = self.direct_url
        lab.unregister_client(self.name, self)

    @staticmethod
    async def _cancel(*tasks: asyncio.Task[None]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def stop_many(clients: list[Client]) -> None:
        """Stop ``clients`` together: one trip to each loop cancels all their tasks at once.

        The same as ``client.stop()`` for each, without a round trip to the (busy) client loop per
        client: 400 clients stopped one by one cost ~0.6 s on two cores.
        """
        tasks: dict[lab.LoopThread, list[asyncio.Task[None]]] = {}
        for client in clients:
            task, client._task = client._task, None
            if task is not None and client._loop_thread is not None and client._loop_thread.alive:
                tasks.setdefault(client._loop_thread, []).append(task)
        for loop_thread, group in tasks.items():
            loop_thread.run(Client._cancel(*group), timeout=10)
        for client in clients:
            client.stop()  # what is left: the relay, the registry (the task is gone already)

    def wait_for(self, seq: int, timeout: float = 10) -> bool:
        """Block until this client has seen ``seq`` (or ``timeout`` seconds passed)."""
        lab.wait_until(lambda: self.last_seq >= seq or self.failure is not None, timeout)
        if self.failure is not None:
            raise RuntimeError(f"{self.name} failed: {self.failure}") from self.failure
        return self.last_seq >= seq

    async def wait_for_async(self, seq: int, timeout: float = 10) -> bool:
        """``await`` version of :meth:`wait_for`, for a notebook cell."""
        return await lab.wait_until_async(lambda: self.last_seq >= seq, timeout)

    def __enter__(self) -> Client:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} last_seq={self.last_seq} {self.url}>"
