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



# --- how the suite is spread over CI's two cores (pytest-xdist, ``-n 2`` in pyproject.toml) ---------
# The longest pieces of work, in the order they are handed out: longest first, so that the
# workers finish together (the short tests fill the gaps at the end). Seconds on 2 busy cores.
LONGEST_FIRST = [
    "tests/browser/test_jupyterlab.py",       # every notebook in JupyterLab, ~380 s
    "tests/browser/test_jupyterhub.py",       # a hub and three students, ~150 s
    "tests/test_notebooks.py::test_notebook_runs_twice_in_one_kernel[06_real_networks]",  # ~100 s
    "tests/test_notebooks.py::test_notebook_runs_twice_in_one_kernel[08_the_quiz_at_scale]",
    "tests/test_notebooks.py::test_notebook_runs_twice_in_one_kernel[05_showdown]",
    "tests/test_notebooks.py::test_notebook_runs_twice_in_one_kernel[07_when_the_path_fights_back]",
    "tests/browser/",                         # the other browser modules, 30-60 s each
    "tests/test_notebooks.py",                # 00-04, 10-25 s each
]


def _rank(item: pytest.Item) -> int:
    nodeid = item.nodeid.replace("\\", "/")
    return next((i for i, prefix in enumerate(LONGEST_FIRST) if nodeid.startswith(prefix)),
                len(LONGEST_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest work first (:data:`LONGEST_FIRST`), the rest in file order (a stable sort)."""
    items.sort(key=_rank)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's: unknown without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Each browser module on one worker, every other test on its own; handed out in collection
    order (:func:`pytest_collection_modifyitems`).

    A browser module's fixtures (JupyterLab's page, Chromium) are module-scoped: split over two
    workers, each would start its own. pytest-xdist's ``--dist loadgroup`` would keep a module
    together with an ``xdist_group`` mark, but with pytest 9 it silently does not: it tags the
    group onto ``item._nodeid``, which pytest 9.2 no longer reads (``nodeid`` comes from
    ``item._id``), so every test was scheduled on its own. This scheduler groups by module
    itself, through xdist's documented hook.

    Playwright's sync API keeps an asyncio loop running in the main thread while its browser
    is open, and any ``asyncio.run`` then fails ("cannot be called from a running event
    loop"): the browser fixtures stop it at the end of their module (tests/browser/conftest.py),
    and a module runs as one piece, so nothing else runs in between.
    """
    from xdist.scheduler import LoadScopeScheduling

    class BrowserModulesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module.startswith("tests/browser/") else nodeid

    config.option.loadscopereorder = False  # keep the collection order: longest first
    return BrowserModulesTogether(config, log)
