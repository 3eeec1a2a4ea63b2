"""The lab loop: nothing leaks over many start/stop cycles, re-runs replace, blocking cells are fine."""

from __future__ import annotations

import gc
import socket
import threading
import time

import psutil
import pytest
from rtlab_support import TIMEOUT, wait_seq, wait_until

import rtlab
from rtlab import lab
from rtlab.lessons.feed import Feed
from rtlab.net import long_polling, short_polling, sse, websocket

TRANSPORTS = [
    (short_polling, {"interval": 0.02}),
    (long_polling, {"hold": 5}),
    (sse, {}),
    (websocket, {}),
]


def client_loop_tasks() -> int:
    """Tasks alive on the shared client loop (not counting the one asking)."""
    import asyncio

    async def count() -> int:
        return len(asyncio.all_tasks()) - 1

    return lab.client_loop().run(count())


def resources() -> tuple[int, int, int, int]:
    gc.collect()
    process = psutil.Process()
    return (threading.active_count(), process.num_fds(),
            len(process.net_connections(kind="inet")), client_loop_tasks())


def one_cycle(module, options, index: int) -> None:
    server = module.Server(name="leak-test").start()
    client = module.Client(server.url, **options).start()
    server.publish("tick", {"i": index})
    wait_seq(client, 1)
    # Half the cycles stop the client first, half pull the server out from under it
    # (the client is then reconnecting when it is stopped).
    if index % 2:
        client.stop()
        server.stop()
    else:
        server.stop()
        client.stop()


def test_twenty_start_stop_cycles_of_each_server_leak_nothing():
    for module, options in TRANSPORTS:  # warm up: imports, the client loop, lazy caches
        one_cycle(module, options, 1)
    before = resources()
    for index in range(20):
        for module, options in TRANSPORTS:
            one_cycle(module, options, index)
    # Sockets close asynchronously (the peer's FIN): wait for the counts to settle.
    wait_until(lambda: all(now <= then for now, then in zip(resources(), before, strict=True)),
               what=f"threads, fds, sockets, tasks to come back to {before}")
    threads, fds, connections, tasks = resources()
    assert threads <= before[0], [t.name for t in threading.enumerate()]
    assert fds <= before[1]
    assert connections <= before[2], psutil.Process().net_connections(kind="inet")
    assert tasks <= before[3]
    assert "leak-test" not in rtlab.running_servers()


def test_starting_a_server_with_the_same_name_replaces_the_old_one():
    old = sse.Server(name="replace-me").start()
    old_port = old.port
    new = sse.Server(name="replace-me").start()
    try:
        assert not old.running
        assert new.running
        assert rtlab.running_servers()["replace-me"] is new
        # The old port is released: nothing listens there any more...
        with pytest.raises(ConnectionRefusedError), socket.socket() as probe:
            probe.connect(("127.0.0.1", old_port))
        # ...and it can be bound again (SO_REUSEADDR does not allow that while listening).
        with socket.socket() as again:
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", old_port))
            again.listen()
    finally:
        new.stop()
    assert "replace-me" not in rtlab.running_servers()


def test_serve_twice_replaces_by_transport_name():
    from rtlab.lessons.experiments import serve

    first = serve("long_polling")
    second = serve("long-polling")
    try:
        assert not first.running and second.running
        assert rtlab.running_servers()["long-polling"] is second
    finally:
        second.stop()


def test_a_blocking_main_thread_does_not_stop_the_server(start_server, start_client):
    server = start_server(sse.Server)
    client = start_client(sse.Client, server.url)
    wait_until(lambda: server.streams == 1, what="the client to connect")
    feed = Feed(server, "ticker", rate=50, count=25).start()
    try:
        sleep_started = time.monotonic_ns()
        time.sleep(1.0)  # a notebook cell doing blocking work
        sleep_ended = time.monotonic_ns()
        wait_seq(client, 25)
    finally:
        feed.stop()
    during = [t for t in client.recorder.recv_ns if sleep_started <= t <= sleep_ended]
    assert during, "no event arrived while the main thread was blocked"


def test_server_on_another_host_warns_but_loopback_does_not():
    with pytest.warns(UserWarning, match="reachable from other machines"):
        sse.Server(host="0.0.0.0")  # constructed, never started: we bind loopback only
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sse.Server(host="127.0.0.1")
        sse.Server(host="localhost")


def test_server_is_a_context_manager_and_stop_is_idempotent():
    with websocket.Server(name="ctx") as server:
        assert server.running
        assert server.url.startswith("http://127.0.0.1:")
    assert not server.running
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        server.publish("tick")


def test_loop_thread_run_from_its_own_loop_is_refused():
    thread = lab.LoopThread("test")
    try:
        async def inner():
            return thread.run(asyncio_sleep0())

        with pytest.raises(RuntimeError, match="await the coroutine"):
            thread.run(inner(), timeout=TIMEOUT)
    finally:
        thread.stop()
    assert not thread.alive


async def asyncio_sleep0():
    import asyncio

    await asyncio.sleep(0)


def test_a_stopped_server_keeps_no_events_in_memory():
    # aiohttp caches request handlers, so a stopped server object may live on; its replay
    # buffer must not (a notebook that restarts servers all afternoon would grow otherwise).
    import gc

    from rtlab.hub import Event
    from rtlab.net.sse import SSEServer

    server = SSEServer(name="test-stopped-memory").start()
    for i in range(500):
        server.publish("stopped-memory", i)
    server.call(_noop())  # the publishes above ran on the server loop before this
    assert server.hub is not None and len(server.hub.buffer) == 500
    server.stop()
    gc.collect()
    assert len(server.hub.buffer) == 0
    assert not [o for o in gc.get_objects() if isinstance(o, Event) and o.type == "stopped-memory"]


async def _noop() -> None:
    return None
