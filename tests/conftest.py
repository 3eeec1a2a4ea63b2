"""Shared fixtures: real servers on 127.0.0.1, each on its own loop thread, stopped after each test.

Every test gets fresh servers under unique names (so one test never replaces another's
server), and every client a test starts through ``start_client`` is stopped after it.
At the end of the session :func:`rtlab.lab.stop_all` ends whatever is left.
Helpers (``wait_until``, ``publish_and_wait``...) are in ``rtlab_support.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import rtlab
from rtlab.net import long_polling, short_polling, sse, websocket
from rtlab.net.client import Client
from rtlab.net.server import Server

_names = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def _stop_everything_at_the_end() -> Iterator[None]:
    yield
    rtlab.lab.stop_all()


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    """``start_server(sse.Server, keepalive=0.1)``: a started server, stopped after the test."""
    started: list[Server] = []

    def start(cls: type[Server], **options: Any) -> Server:
        options.setdefault("name", f"test-{cls.transport}-{next(_names)}")
        server = cls(**options).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def start_client() -> Iterator[Callable[..., Client]]:
    """``start_client(sse.Client, url, ...)``: a started client, stopped after the test."""
    started: list[Client] = []

    def start(cls: type[Client], url: str, **options: Any) -> Client:
        client = cls(url, **options).start()
        started.append(client)
        return client

    yield start
    for client in started:
        client.stop()


@pytest.fixture
def sse_server(start_server: Callable[..., Server]) -> Server:
    return start_server(sse.Server, keepalive=0.1, retry_ms=100)


@pytest.fixture
def long_polling_server(start_server: Callable[..., Server]) -> Server:
    return start_server(long_polling.Server, hold=5)


@pytest.fixture
def short_polling_server(start_server: Callable[..., Server]) -> Server:
    return start_server(short_polling.Server)


@pytest.fixture
def websocket_server(start_server: Callable[..., Server]) -> Server:
    return start_server(websocket.Server)



def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last.

    Playwright's sync API keeps an asyncio loop running in the main thread for as long as
    its session-wide browser is open; any later test that calls ``asyncio.run`` would fail
    with "cannot be called from a running event loop". Last, they also fail last: the fast
    tests report first.
    """
    items.sort(key=lambda item: "browser" in item.keywords)
