"""Publishing into a broker's stream from a process that serves nothing: a cluster's quiz service."""

from __future__ import annotations

import time
from typing import Any

from .. import lab
from ..wire.event import checked
from .broker import _DOWN, BrokerLog, LogWriter

__all__ = ["BrokerPublisher"]


class BrokerPublisher:
    """Publish into a broker's stream with no server at all: the quiz service of a cluster.

    Thread-safe like :meth:`rtlab.net.server.Server.publish` (its own loop thread), so a
    :class:`rtlab.lessons.feed.Feed` can drive it::

        with BrokerPublisher("redis://127.0.0.1:6379") as quiz:
            quiz.publish("question", {"id": 1, ...})
    """

    def __init__(self, url: str, name: str = "publisher") -> None:
        self.url = url
        self.name = name
        self._loop_thread: lab.LoopThread | None = None
        self.log: BrokerLog | None = None
        self.writer: LogWriter | None = None

    def start(self) -> BrokerPublisher:
        self._loop_thread = lab.LoopThread(f"{self.name}-broker")
        try:
            self._loop_thread.run(self._start(), timeout=15)
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        self.log = BrokerLog(self.url)
        try:
            await self.log.open()
        except _DOWN as exc:
            raise ConnectionError(f"cannot reach the broker at {self.url}: {exc}") from None
        self.writer = LogWriter(self.log)
        self.writer.start()

    @property
    def running(self) -> bool:
        return self._loop_thread is not None and self._loop_thread.alive

    @property
    def stream_id(self) -> str:
        return self.log.stream_id if self.log else ""

    def publish(self, type: str, data: Any = None, sent_ns: int | None = None) -> None:
        """Queue one event for the broker (from any thread); the clock starts now."""
        if self._loop_thread is None or self.writer is None:
            raise RuntimeError("start() the publisher first")
        frozen, data_json = checked(type, data, sent_ns)  # BadEvent here, as Server.publish does
        stamp = time.monotonic_ns() if sent_ns is None else sent_ns
        self._loop_thread.call_soon(self.writer.put, type, frozen, stamp, data_json)

    def flush(self, timeout: float = 10) -> bool:
        """Wait until every queued publish is in the broker; ``False`` if ``timeout`` passed."""
        assert self._loop_thread is not None and self.writer is not None
        writer = self.writer

        async def idle() -> bool:
            return await lab.wait_until_async(lambda: writer.idle, timeout)

        return self._loop_thread.run(idle(), timeout + 1)

    def call(self, coro: Any, timeout: float = 15) -> Any:
        """Run a coroutine on the publisher's loop (e.g. ``pub.call(pub.log.head())``)."""
        assert self._loop_thread is not None
        return self._loop_thread.run(coro, timeout)

    def stop(self) -> None:
        loop_thread, self._loop_thread = self._loop_thread, None
        if loop_thread is None:
            return
        if loop_thread.alive:
            async def close() -> None:
                if self.writer is not None:
                    writer = self.writer
                    await lab.wait_until_async(lambda: writer.idle or writer.down_since is not None, 5)
                    await self.writer.close()
                if self.log is not None:
                    await self.log.close()
            try:
                loop_thread.run(close(), timeout=10)
            except Exception:  # noqa: BLE001 - stopping must not fail
                pass
        loop_thread.stop()

    def __enter__(self) -> BrokerPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
