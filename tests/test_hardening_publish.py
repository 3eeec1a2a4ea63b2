"""A bad event is refused at ``publish()``, in the publisher's thread, and never enters the hub.

Before: ``publish()`` returned normally and each connection encoded the event later, so a
payload JSON cannot carry (a lone surrogate, a ``set``, 10,000-deep nesting), NaN/Infinity
(not JSON: a browser's ``JSON.parse`` throws) or an SSE event type with a line break broke
every stream that met it — SSE clients reconnected forever, the WebSocket pusher died
silently, polling answered 500. Now the publisher gets a :class:`BadEvent` (a ``ValueError``)
that names the field, and the stream carries on.

``publish()`` also used to keep a reference to the payload: a dict reused in a loop arrived
ten times with its last value. It is copied (frozen) at publish now.
"""

from __future__ import annotations

import itertools

import pytest
from rtlab_support import server_call, wait_seq, wait_until

from rtlab.hub import Hub
from rtlab.net import long_polling, short_polling, sse, websocket
from rtlab.wire.event import BadEvent

SERVERS = {
    "short-polling": (short_polling.Server, {}, short_polling.Client, {"interval": 0.02}),
    "long-polling": (long_polling.Server, {"hold": 5}, long_polling.Client, {}),
    "sse": (sse.Server, {"retry_ms": 100}, sse.Client, {}),
    "websocket": (websocket.Server, {}, websocket.Client, {}),
}
_names = itertools.count(1)


def deep(n: int) -> list:
    value: list = []
    for _ in range(n):
        value = [value]
    return value


BAD = [  # (what, type, data, the field the error must name)
    ("a lone surrogate", "tick", {"text": "\ud800"}, "data"),
    ("a set", "tick", {"s": {1, 2}}, "data"),
    ("10,000-deep nesting", "tick", deep(10_000), "data"),
    ("NaN", "tick", {"x": float("nan")}, "data"),
    ("Infinity", "tick", {"x": float("-inf")}, "data"),
    ("an object JSON cannot encode", "tick", object(), "data"),
    ("a type with a line break", "a\nb", {}, "type"),
    ("a type with a carriage return", "a\rb", {}, "type"),
    ("a type that is not a string", 7, {}, "type"),
    ("a type with a lone surrogate", "\udc00", {}, "type"),
]


@pytest.fixture(scope="module")
def servers():
    started = {name: cls(name=f"hardening-publish-{name}-{next(_names)}", **opts).start()
               for name, (cls, opts, _, _) in SERVERS.items()}
    yield started
    for server in started.values():
        server.stop()


def test_bad_event_is_a_value_error():
    assert issubclass(BadEvent, ValueError)


@pytest.mark.parametrize("transport", list(SERVERS))
@pytest.mark.parametrize("what, type_, data, field", BAD, ids=[b[0] for b in BAD])
def test_a_bad_event_raises_at_publish_naming_the_field(servers, transport, what, type_, data, field):
    server = servers[transport]
    before = server_call(server, lambda: server.hub.latest_seq)
    with pytest.raises(BadEvent, match=field):
        server.publish(type_, data)
    server.publish("tick", {"ok": True})  # a good one after it is numbered right after the last good one
    wait_until(lambda: server_call(server, lambda: server.hub.latest_seq) >= before + 1,
               what="the good event")
    assert server_call(server, lambda: server.hub.latest_seq) == before + 1, f"{what} entered the hub"


@pytest.mark.parametrize("what, type_, data, field", BAD, ids=[b[0] for b in BAD])
def test_the_hub_refuses_a_bad_event_too(what, type_, data, field):
    hub = Hub()
    with pytest.raises(BadEvent, match=field):
        hub.publish(type_, data)
    assert hub.latest_seq == 0 and not hub.buffer


@pytest.mark.parametrize("transport", list(SERVERS))
def test_the_stream_carries_on_after_a_refused_event(transport, start_server, start_client):
    server_cls, server_opts, client_cls, client_opts = SERVERS[transport]
    server = start_server(server_cls, **server_opts)
    seen: list = []
    client = start_client(client_cls, server.url, on_event=lambda e: seen.append(e.data), **client_opts)
    if transport in ("sse", "websocket"):
        wait_until(lambda: server_call(server, lambda: server.hub.subscriber_count) == 1,
                   what="the client to subscribe")
    server.publish("tick", {"i": 1})
    for _, type_, data, _ in BAD:
        with pytest.raises(BadEvent):
            server.publish(type_, data)
    server.publish("tick", {"i": 2})
    wait_seq(client, 2)
    assert seen[-2:] == [{"i": 1}, {"i": 2}]
    assert client.recorder.reconnects == 0 and not client.recorder.errors
    late = start_client(client_cls, server.url, **client_opts)  # a new client gets the whole stream
    wait_seq(late, 2)
    assert late.recorder.seqs == [1, 2]


@pytest.mark.parametrize("transport", ["sse", "websocket", "long-polling"])
def test_a_payload_reused_in_a_loop_arrives_with_each_value(transport, start_server, start_client):
    server_cls, server_opts, client_cls, client_opts = SERVERS[transport]
    server = start_server(server_cls, **server_opts)
    seen: list = []
    client = start_client(client_cls, server.url, on_event=lambda e: seen.append(e.data), **client_opts)
    if transport in ("sse", "websocket"):
        wait_until(lambda: server_call(server, lambda: server.hub.subscriber_count) == 1,
                   what="the client to subscribe")
    payload = {"i": 0, "history": []}
    for i in range(1, 11):  # the learner's loop: one dict, changed and published each time
        payload["i"] = i
        payload["history"].append(i)
        server.publish("tick", payload)
    wait_seq(client, 10)
    assert [d["i"] for d in seen] == list(range(1, 11))
    assert [len(d["history"]) for d in seen] == list(range(1, 11))


def test_the_state_short_polling_shows_is_a_copy(start_server):
    server = start_server(short_polling.Server)
    payload = {"score": "0-0"}
    server.publish("score", payload)
    payload["score"] = "9-9"  # changed after publishing: the server must not see it
    wait_until(lambda: server_call(server, lambda: server.hub.latest_seq) == 1, what="the event")
    assert server_call(server, lambda: server.hub.state["score"]) == {"score": "0-0"}
