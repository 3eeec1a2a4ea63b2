"""A :class:`Feed` publishes a scenario's events to one or more servers, at a rate.

It runs on the client loop (:mod:`rtlab.lab`), so a notebook cell that blocks does not
stop it, and stamps every server's copy of an event with the same ``sent_ns``: one stream,
compared across techniques.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterable
from typing import Any

from .. import lab
from .scenarios import SCENARIOS, Item

__all__ = ["Feed"]


class Feed:
    """Publishes a scenario's events to one or more servers, ``rate`` events per second.

    All servers get each event with the same ``sent_ns``, so one stream can be compared
    across transports. Runs on the client loop; :meth:`start` returns at once,
    :meth:`wait` blocks until ``count`` events are out.

    ``arrivals="regular"`` publishes on a fixed grid (every ``1/rate`` s);
    ``"poisson"`` draws seeded random gaps with the same mean, as independent real-world
    events arrive. The difference matters for short polling: on a regular grid whose period
    divides the poll interval, every event lands at the same spot before a poll and the
    "uniform(0, interval)" theory does not apply.
    """

    def __init__(self, servers: Any, scenario: Iterable[Item] | str = "ticker", *,
                 rate: float = 20.0, count: int | None = None, seed: int = 0,
                 arrivals: str = "regular") -> None:
        """A feed, not yet started (:meth:`start`).

        Args:
            servers: one server or a list; each gets every event.
            scenario: a name from :data:`rtlab.lessons.scenarios.SCENARIOS` or any iterable
                of ``(type, data)`` pairs.
            rate: events per second (the mean rate, for Poisson arrivals).
            count: stop after this many events; ``None`` runs until the scenario ends.
            seed: seeds the scenario and the Poisson gaps, so a run can be repeated.
            arrivals: ``"regular"`` (a fixed grid) or ``"poisson"`` (seeded random gaps).
        """
        if arrivals not in ("regular", "poisson"):
            raise ValueError("arrivals must be 'regular' or 'poisson'")
        self.arrivals = arrivals
        self._gaps = random.Random(seed + 1)
        self.servers = list(servers) if isinstance(servers, list | tuple) else [servers]
        if isinstance(scenario, str):
            scenario = SCENARIOS[scenario](seed=seed)
        self.items = iter(scenario)
        if rate <= 0:
            raise ValueError("rate must be > 0 events per second")
        self.rate = rate
        self.count = count
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self._done = threading.Event()

    async def _run(self) -> None:
        try:
            next_at = time.monotonic()
            for type_, data in self.items:
                if self.count is not None and self.published >= self.count:
                    break
                live = [server for server in self.servers if server.running]
                if not live:
                    break  # its servers were stopped or replaced (a re-run cell): nobody to tell
                sent_ns = time.monotonic_ns()
                for server in live:
                    server.publish(type_, data, sent_ns)
                self.published += 1
                if self.count is not None and self.published >= self.count:
                    break  # the last one is out: waiting one more gap would be waiting for nothing
                # A schedule of absolute times: the rate holds even if a publish is slow.
                if self.arrivals == "poisson":
                    next_at += self._gaps.expovariate(self.rate)
                else:
                    next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            self._done.set()

    async def _spawn(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._run(), name="rtlab-feed")

    def start(self) -> Feed:
        self._done.clear()
        self._task = lab.client_loop().run(self._spawn())
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the feed has published ``count`` events (or the scenario ended)."""
        return self._done.wait(timeout)

    async def wait_async(self) -> None:
        await lab.wait_until_async(self._done.is_set, timeout=float("inf"))

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            lab.client_loop().call_soon(task.cancel)
            self._done.wait(5)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def __enter__(self) -> Feed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
