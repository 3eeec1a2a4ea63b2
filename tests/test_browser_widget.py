"""The browser clients' kernel side, without a browser: the widget, its URLs, ``GET /clock``
and the WebSocket origin handshake. The JavaScript itself runs in tests/browser/."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import websockets.sync.client
from rtlab_support import publish_and_wait
from websockets.exceptions import InvalidStatus

from rtlab.lessons import browser
from rtlab.net import long_polling, short_polling, sse, websocket
from rtlab.net.server import Server

SERVERS = [short_polling.Server, long_polling.Server, sse.Server, websocket.Server]
PAGE = "http://127.0.0.1:8888"  # the origin of a Jupyter page, as the browser would report it


@pytest.mark.parametrize("cls", SERVERS, ids=lambda c: c.transport)
def test_widget_describes_its_server(start_server: Callable[..., Server], cls: type[Server]) -> None:
    server = start_server(cls)
    widget = browser.client(server, interval=0.25, hold=60)
    assert (widget.transport, widget.port, widget.path) == (server.transport, server.port, server.path)
    assert widget.interval_ms == 250
    assert widget.hold_s == 20.0  # capped: jupyter-server-proxy gives up on a request after 300 s
    assert "token" in widget.event_types and "message" in widget.event_types
    # Nobody displayed it: nothing received, and it says it waits for a browser.
    assert widget.received == 0 and widget.latencies_ms == [] and "waiting" in widget.status
    widget.close()


@pytest.mark.parametrize(("base_url", "expected"), [
    ("/", "/proxy/8765/events"),
    ("/user/alice/", "/user/alice/proxy/8765/events"),  # a JupyterHub user's server
    ("/user/alice", "/user/alice/proxy/8765/events"),
])
def test_proxy_url(base_url: str, expected: str) -> None:
    assert browser.proxy_url(base_url, 8765, "/events") == expected


def test_the_javascript_ships_with_the_package() -> None:
    js = Path(browser.__file__).with_name("browser.js")
    assert js.is_file() and "export default" in js.read_text()
    assert "*.js" in (Path(browser.__file__).parents[2] / "pyproject.toml").read_text()


@pytest.mark.parametrize("cls", SERVERS, ids=lambda c: c.transport)
def test_clock_route(start_server: Callable[..., Server], cls: type[Server]) -> None:
    server = start_server(cls)
    publish_and_wait(server, 3)
    before = time.monotonic_ns()
    with urllib.request.urlopen(f"{server.base_url}/clock", timeout=5) as response:
        clock = json.loads(response.read())
    after = time.monotonic_ns()
    assert before <= clock["monotonic_ns"] <= after  # the same clock that stamps sent_ns
    assert clock["seq"] == 3  # where a browser starts from, so old events do not count as late


def test_a_replaced_widget_is_closed(start_server: Callable[..., Server]) -> None:
    server = start_server(sse.Server)
    first = browser.client(server)
    second = browser.client(server)
    assert first.comm is None and second.comm is not None  # a re-run cell: the old one closes
    second.close()


def test_a_stopped_server_is_refused(start_server: Callable[..., Server]) -> None:
    server = start_server(sse.Server)
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        browser.client(server)


def _handshake(server: Server, origin: str) -> None:
    url = server.url.replace("http://", "ws://", 1)
    with websockets.sync.client.connect(url, origin=origin, open_timeout=5):  # type: ignore[arg-type]
        pass


def test_origin_handshake_allows_exactly_the_page(start_server: Callable[..., Server]) -> None:
    server = start_server(websocket.Server)
    widget = browser.client(server)
    with pytest.raises(InvalidStatus, match="403"):  # before: the page's origin is foreign
        _handshake(server, PAGE)
    assert widget.go is False

    widget.origin = PAGE  # what the JavaScript does: reports location.origin
    assert widget.go is True and server.origins == {PAGE}
    _handshake(server, PAGE)  # now the page may connect
    with pytest.raises(InvalidStatus, match="403"):
        _handshake(server, "https://evil.example")  # and no other site
    widget.close()


def test_origin_is_ignored_by_http_servers(start_server: Callable[..., Server]) -> None:
    server = start_server(sse.Server)
    widget = browser.client(server)
    widget.origin = PAGE
    assert widget.go is False and not hasattr(server, "origins")
    widget.close()
