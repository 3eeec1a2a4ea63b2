"""Faults: a server that crashes mid-stream and comes back, and clients that lose nothing.

``Server.restart()`` cuts every connection with a TCP reset and listens again on the same
port with the same hub (the event log survives, as if it lived in a database). Each client
then resumes from its cursor — ``Last-Event-ID`` (SSE), ``?since=`` (WebSocket, polling) —
and must end with every event exactly once, in order. When the client was away longer than
the replay buffer reaches, it must be *told* (the "gap" message), never silently skipped.

Also here: the security defaults (loopback only; nothing turns Jupyter's token off).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from rtlab_support import publish_and_wait, server_call, wait_seq, wait_until

from rtlab.lessons.feed import Feed
from rtlab.net import long_polling, short_polling, sse, websocket

EVENTS = 600  # published by the feed while the servers crash ten times
RESTARTS = 10

# transport -> (server class, server options, client class, client options)
TRANSPORTS = {
    "sse": (sse.Server, {"retry_ms": 20, "keepalive": 0.5}, sse.Client, {}),
    "websocket": (websocket.Server, {}, websocket.Client, {}),
    "long-polling": (long_polling.Server, {"hold": 5}, long_polling.Client, {}),
    "short-polling": (short_polling.Server, {}, short_polling.Client, {"interval": 0.02}),
}


def test_ten_restarts_while_a_feed_publishes_lose_and_repeat_nothing(start_server, start_client):
    servers = {name: start_server(cls, **opts) for name, (cls, opts, _, _) in TRANSPORTS.items()}
    clients = {name: start_client(TRANSPORTS[name][2], server.url, **TRANSPORTS[name][3])
               for name, server in servers.items()}
    ports = {name: server.port for name, server in servers.items()}
    feed = Feed(list(servers.values()), rate=300, count=EVENTS).start()
    try:
        for rep in range(RESTARTS):
            # Crash at points spread over the stream (by progress, not by the clock).
            wait_until(lambda rep=rep: feed.published >= (rep + 1) * EVENTS // (RESTARTS + 2),
                       what="the feed to get going")
            for server in servers.values():
                server.restart()
            # Wait for the push clients to be back, so that every crash cuts a live stream.
            wait_until(lambda: servers["sse"].streams == 1
                       and server_call(servers["websocket"], lambda: len(servers["websocket"].sockets)) == 1,
                       what="the push clients to reconnect")
        assert feed.wait(60), "the feed did not finish"
    finally:
        feed.stop()

    for name, client in clients.items():
        wait_seq(client, EVENTS, timeout=60)
        recorder = client.recorder
        assert recorder.seqs == list(range(1, EVENTS + 1)), f"{name}: events lost or out of order"
        assert recorder.duplicates == 0, name
        assert recorder.missed == 0, name
        assert servers[name].port == ports[name], "a restart must keep the port"
    # Push clients lose their connection at each crash and come back each time.
    for name in ("sse", "websocket"):
        assert clients[name].recorder.reconnects >= RESTARTS, clients[name].recorder.counters()


def test_restart_keeps_the_hub_and_cuts_every_connection(start_server, start_client):
    server = start_server(sse.Server, retry_ms=20, keepalive=0.5)
    client = start_client(sse.Client, server.url)
    wait_until(lambda: server.streams == 1, what="the stream to open")
    hub = server.hub
    publish_and_wait(server, 3)
    assert server.crash() >= 1  # the stream's connection, at least
    assert server.streams == 0
    server.publish("tick", {"while": "down"})  # still numbered: the event log survives
    wait_until(lambda: server_call(server, lambda: hub.latest_seq) == 4, what="seq 4")
    server.recover()
    assert server.hub is hub
    wait_seq(client, 4)
    assert client.recorder.seqs == [1, 2, 3, 4]
    assert client.recorder.errors, "the client should have seen the connection break"


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_away_longer_than_the_replay_buffer_is_announced_as_a_gap(transport, start_server,
                                                                  start_client):
    server_cls, options, client_cls, client_options = TRANSPORTS[transport]
    server = start_server(server_cls, replay=10, **options)
    client = start_client(client_cls, server.url, **client_options)
    publish_and_wait(server, 5)
    wait_seq(client, 5)

    server.crash()
    publish_and_wait(server, 50)  # the client is away for 50 events; the buffer keeps 10
    server.recover()
    wait_seq(client, 55)

    recorder = client.recorder
    assert recorder.seqs == [1, 2, 3, 4, 5, *range(46, 56)]  # what the buffer still held
    assert recorder.missed == 40  # events 6..45: told, not silently skipped
    assert recorder.duplicates == 0


# -- security defaults ---------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10"])
def test_binding_beyond_loopback_warns(host):
    with pytest.warns(UserWarning, match="reachable from other machines"):
        sse.Server(host=host)  # constructed only: nothing is bound


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_binding_loopback_does_not_warn(host):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sse.Server(host=host)


ROOT = Path(__file__).resolve().parent.parent
# Ways to switch Jupyter's login token or XSRF check off (an empty token is no token).
TOKEN_OFF = re.compile(
    r"""\.token\s*=\s*(''|"")"""  # c.ServerApp.token = ''
    r"""|\.token=(["'\s,\]]|$)"""  # --ServerApp.token= on a command line
    r"|disable_check_xsrf",
    re.IGNORECASE | re.MULTILINE,
)


def test_nothing_turns_the_jupyter_token_off():
    checked = []
    for pattern in ("binder/*", "*.yml", "*.toml", "*.cfg", ".ci/*", "rtlab/*.py",
                    "notebooks/*.ipynb", "benchmarks/**/*.py", "tests/**/*.py"):
        for path in ROOT.glob(pattern):
            if not path.is_file() or path.name == "test_faults.py":
                continue
            checked.append(path)
            text = path.read_text(errors="replace")
            match = TOKEN_OFF.search(text)
            assert match is None, f"{path.relative_to(ROOT)} turns Jupyter's token off: {match[0]!r}"
    assert checked


@pytest.mark.parametrize("name", list(TRANSPORTS))
def test_a_new_server_on_the_same_port_tells_clients_to_start_over(name, start_server, start_client):
    """A *new* server numbers from 1 again. A client whose cursor came from the old stream is
    told so ("reset") and starts over, instead of silently waiting for seqs it has seen."""
    server_cls, server_options, client_cls, client_options = TRANSPORTS[name]
    old = start_server(server_cls, **server_options)
    client = start_client(client_cls, old.url, **client_options)
    if name in ("sse", "websocket"):  # push clients must be connected before the first event
        wait_until(lambda: server_call(old, lambda: old.hub.subscriber_count) == 1,
                   what="the client to connect")
    publish_and_wait(old, 5)
    wait_seq(client, 5)
    port = old.port
    old.stop()

    new = start_server(server_cls, port=port, **server_options)  # same port, fresh hub
    wait_until(lambda: client.recorder.resets == 1, what="the client to be told to start over")
    publish_and_wait(new, 3)
    wait_seq(client, 3)
    recorder = client.recorder
    assert recorder.seqs == [1, 2, 3, 4, 5, 1, 2, 3], f"{name}: {recorder.counters()}"
    assert recorder.resets == 1 and recorder.duplicates == 0 and recorder.missed == 0
