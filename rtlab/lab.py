"""The lab loop: asyncio event loops that rtlab owns, each in a daemon thread.

Why not the notebook's own loop? A Jupyter kernel already runs an asyncio loop,
and a server on it stalls whenever a cell runs blocking code (``time.sleep``,
a plain ``urllib`` request to that very server deadlocks). ``nest_asyncio`` is
not an answer either: it hangs "Run All" in JupyterLab. So every server gets a
loop of its own in a background thread, and all clients share one more
(the *client loop*). The notebook, a script or pytest talk to them through
:meth:`LoopThread.run` (blocking) or :meth:`LoopThread.run_async` (``await``).

Everything started here is stopped at interpreter exit, and a server started
again under the same name replaces the old one (a re-run cell).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_all_threads: weakref.WeakSet[LoopThread] = weakref.WeakSet()


class LoopThread:
    """One asyncio event loop running forever in one daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=f"rtlab-{name}", daemon=True)
        self._thread.start()
        _all_threads.add(self)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # run_forever returned: stop() asked us to end. Cancel what is left, then close.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    @property
    def thread_id(self) -> int | None:
        return self._thread.ident

    def in_this_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on this loop from any thread; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run ``coro`` on this loop and block the calling thread until it is done."""
        if self.in_this_thread():
            coro.close()
            raise RuntimeError("LoopThread.run() called from its own loop: await the coroutine")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except (KeyboardInterrupt, concurrent.futures.TimeoutError):
            # The learner pressed "interrupt kernel", or we gave up: do not leave it running.
            future.cancel()
            raise

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """``await`` ``coro`` running on this loop, from a coroutine on another loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Call a plain function on this loop, from any thread."""
        if self.in_this_thread():
            callback(*args)
        else:
            self.loop.call_soon_threadsafe(callback, *args)

    def stop(self, timeout: float = 5) -> None:
        """Stop the loop (cancelling its tasks) and join the thread."""
        if self._thread.is_alive() and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.in_this_thread():
            self._thread.join(timeout)


# ---------------------------------------------------------------------------
# The shared client loop, and the registry of running servers.

_client_loop: LoopThread | None = None
_client_lock = threading.Lock()
_servers: dict[str, Any] = {}  # name -> Server, so a re-run cell replaces its server
_servers_lock = threading.Lock()
_clients: dict[str, Any] = {}  # name -> Client, so a re-run cell replaces its client too


def client_loop() -> LoopThread:
    """The loop every rtlab client runs on (started on first use)."""
    global _client_loop
    with _client_lock:
        if _client_loop is None or not _client_loop.alive:
            _client_loop = LoopThread("clients")
        return _client_loop


def register_server(name: str, server: Any) -> None:
    """Remember ``server`` under ``name``, stopping any server already there (and its clients:
    they would only knock on a closed port forever)."""
    with _servers_lock:
        old = _servers.pop(name, None)
    if old is not None and old is not server:
        for client in list(running_clients().values()):
            url = getattr(client, "direct_url", client.url)  # a client's own network path aside
            if old.port and (client.url.startswith(old.base_url)
                             or url.startswith(getattr(old, "direct_base_url", old.base_url))):
                client.stop()
        old.stop()
    with _servers_lock:
        _servers[name] = server


def register_client(name: str, client: Any) -> None:
    """Remember ``client`` under ``name``, stopping a running client of the same name."""
    with _servers_lock:
        old = _clients.pop(name, None)
        _clients[name] = client
    if old is not None and old is not client:
        old.stop()


def unregister_client(name: str, client: Any) -> None:
    with _servers_lock:
        if _clients.get(name) is client:
            del _clients[name]


def running_clients() -> dict[str, Any]:
    """A snapshot of the clients rtlab is running, by name."""
    with _servers_lock:
        return dict(_clients)


def unregister_server(name: str, server: Any) -> None:
    with _servers_lock:
        if _servers.get(name) is server:
            del _servers[name]


def running_servers() -> dict[str, Any]:
    """A snapshot of the servers rtlab is running, by name."""
    with _servers_lock:
        return dict(_servers)


def stop_all() -> None:
    """Stop every server and the client loop. Safe to call twice."""
    global _client_loop
    for client in list(running_clients().values()):
        client.stop()
    for server in list(running_servers().values()):
        server.stop()
    with _client_lock:
        loop, _client_loop = _client_loop, None
    if loop is not None:
        loop.stop()
    for thread in list(_all_threads):
        thread.stop(timeout=1)


atexit.register(stop_all)


# ---------------------------------------------------------------------------
# Quiet while measuring.
#
# A live view that draws a picture (a PNG, ~30-50 ms of matplotlib) holds the GIL while it
# draws, and the loops being timed wait for it: a short poll's latency grew by half in a test
# while a sequence diagram redrew itself in the background. So a measurement says it is
# running, and the views that draw pictures skip their turn until it is over.

_measuring = 0
_measuring_lock = threading.Lock()


@contextlib.contextmanager
def measuring() -> Iterator[None]:
    """While this block runs, live views that draw pictures wait (see above). Nests."""
    global _measuring
    with _measuring_lock:
        _measuring += 1
    try:
        yield
    finally:
        with _measuring_lock:
            _measuring -= 1


def is_measuring() -> bool:
    """Whether a measurement is running right now (in any thread)."""
    return _measuring > 0


# ---------------------------------------------------------------------------
# Waiting for something real to happen, instead of guessing with sleep().

POLL_S = 0.002  # how often a wait looks: short next to any latency the lab measures


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> bool:
    """Block until ``condition()`` is true or ``timeout`` seconds passed; ``False`` on timeout.

    For waiting on a real event — "every watcher is parked", "the client has seq 40" — rather
    than sleeping for a guessed time. The one polling wait loop in rtlab: the clients'
    ``wait_for``, the experiments and the exercises all wait through it.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


async def wait_until_async(condition: Callable[[], object], timeout: float = 5.0) -> bool:
    """``await`` twin of :func:`wait_until`: the calling loop keeps running while it waits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True
