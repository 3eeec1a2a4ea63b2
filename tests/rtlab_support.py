"""Helpers the rtlab tests share: wait for a condition, publish and wait, call on a server's loop.

They live here and not in ``conftest.py`` because ``from conftest import ...`` is ambiguous
once a sub-folder (``tests/browser``) has a conftest of its own.

Nothing here sleeps to "let things happen": tests wait for a condition with a generous
timeout (:func:`wait_until`), so a loaded machine makes them slower, not flaky.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from rtlab.net.client import Client
from rtlab.net.server import Server

TIMEOUT = 20.0  # seconds to wait for anything that should take milliseconds


def wait_until(predicate: Callable[[], Any], timeout: float = TIMEOUT, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail the test with ``what`` if ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.005)


def wait_seq(client: Client, seq: int, timeout: float = TIMEOUT) -> None:
    """Wait until ``client`` has seen ``seq``; fail with what it did see otherwise."""
    if not client.wait_for(seq, timeout):
        pytest.fail(f"{client!r} did not reach seq {seq}: {client.recorder.counters()} "
                    f"errors={client.recorder.errors[:3]}")


def server_call(server: Server, fn: Callable[[], Any]) -> Any:
    """Run a plain function on the server's loop (hub methods must run there): ``Server.read``."""
    return server.read(lambda _: fn())


def publish_and_wait(server: Server, count: int, type: str = "tick") -> None:
    """Publish ``count`` events ``{"i": n}`` and wait until the hub has numbered them all."""
    start = server_call(server, lambda: server.hub.latest_seq)
    for i in range(count):
        server.publish(type, {"i": start + i + 1})
    wait_until(lambda: server_call(server, lambda: server.hub.latest_seq) >= start + count,
               what=f"{count} events published")
