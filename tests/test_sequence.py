"""Sequence diagrams are drawn from the trace: the items match what was recorded, in count, order, time.

These check the data a picture is drawn from (:func:`rtlab.lessons.plots.sequence_items`), not
pixels; one test renders each technique's diagram to PNG, so drawing cannot crash either.
"""

from __future__ import annotations

import threading

import pytest
from rtlab_support import wait_seq, wait_until

from rtlab.lessons import plots, widgets
from rtlab.lessons.plots.sequence import DOWN, UP
from rtlab.net import long_polling, short_polling, sse, websocket
from rtlab.trace import Mark, Trace


def traced_pair(module, server_options=None, client_options=None):
    server = module.Server(name=f"seq-{module.Server.transport}", trace=True,
                           **(server_options or {})).start()
    client = module.Client(server.url, name=f"seq-client-{module.Server.transport}", trace=True,
                           **(client_options or {})).start()
    return server, client


def subscribed(server, count=1):
    wait_until(lambda: server.read(lambda s: s.hub.subscriber_count) >= count, what="a subscriber")


def test_short_polling_items_are_the_recorded_requests_and_answers():
    server, client = traced_pair(short_polling, client_options={"interval": 0.05})
    try:
        wait_until(lambda: client.recorder.requests >= 2, what="two polls")
        for i in range(3):
            server.publish("tick", {"i": i})
        wait_seq(client, 3)
        wait_until(lambda: client.recorder.requests >= 8, what="a few more polls")
    finally:
        client.stop()
        server.stop()
    marks = client.recorder.trace.marks()
    d = plots.sequence_items(marks, server.trace.marks(), transport="short-polling", client=client.name)
    requests = [m for m in marks if m.kind == "request"]
    responses = [m for m in marks if m.kind == "response"]
    drawn_requests = [a for a in d.arrows if a.kind == "request"]
    drawn_responses = [a for a in d.arrows if a.kind == "response"]
    # Every one, in order -- but the last poll, if the client stopped before it reached the server.
    assert [a.start_ns for a in drawn_requests] == [m.t_ns for m in requests][:len(drawn_requests)]
    assert len(drawn_requests) >= len(requests) - 1
    assert [a.end_ns for a in drawn_responses] == [m.t_ns for m in responses]
    assert all(a.direction == UP for a in drawn_requests)
    assert all(a.direction == DOWN for a in drawn_responses)
    assert all(a.label.startswith("GET /state?since=") for a in drawn_requests)
    assert "client=" not in drawn_requests[0].label  # the bookkeeping parameter is not drawn
    # With the server traced, a request arrives when the server saw it (after it was sent).
    assert all(a.end_ns >= a.start_ns for a in drawn_requests)
    # Each event: a publish dot at its real publish time, leaving with the answer that carried it.
    publishes = [dot for dot in d.dots if dot.kind == "publish"]
    assert [dot.t_ns for dot in publishes] == client.recorder.sent_ns
    assert all(dot.left_ns is not None and dot.left_ns >= dot.t_ns for dot in publishes)
    assert not [a for a in d.arrows if a.kind == "event"]  # polling: events ride in answers
    assert sum("(1 events)" in a.label or "(2 events)" in a.label or "(3 events)" in a.label
               for a in drawn_responses) >= 1


def test_a_parked_long_poll_is_a_held_bar_and_a_204():
    server, client = traced_pair(long_polling, client_options={"hold": 0.3})
    try:
        wait_until(lambda: client.recorder.empty >= 1, what="a 204 after the hold")
        server.publish("tick", {"i": 1})
        wait_seq(client, 1)
    finally:
        client.stop()
        server.stop()
    d = plots.sequence_items(client.recorder.trace.marks(), server.trace.marks(),
                             transport="long-polling", client=client.name)
    assert any(a.label.startswith("204 after") for a in d.arrows if a.kind == "response")
    assert d.holds and all(h.end_ns - h.start_ns >= 200_000_000 for h in d.holds[:1])  # ~0.3 s parked
    assert any(a.label == "200 (1 events)" for a in d.arrows)


@pytest.mark.parametrize("module", [sse, websocket], ids=["sse", "websocket"])
def test_pushed_events_are_one_arrow_each_at_their_real_times(module):
    server, client = traced_pair(module)
    try:
        subscribed(server)
        for i in range(6):
            server.publish("tick", {"i": i})
        wait_seq(client, 6)
    finally:
        client.stop()
        server.stop()
    d = plots.sequence_items(client.recorder.trace.marks(), server.trace.marks(),
                             transport=module.Server.transport, client=client.name)
    events = [a for a in d.arrows if a.kind == "event"]
    assert [a.end_ns for a in events] == client.recorder.recv_ns  # received when recorded
    assert [a.start_ns for a in events] == client.recorder.sent_ns  # left when published
    assert [a.label for a in events] == [f"#{seq} tick" for seq in range(1, 7)]
    assert [a.kind for a in d.arrows if a.kind in ("request", "response")] == ["request", "response"]
    sampled = plots.sequence_items(client.recorder.trace.marks(), server.trace.marks(),
                                   transport=module.Server.transport, client=client.name,
                                   max_event_arrows=2)
    assert sampled.sampled == 3 and sum(a.kind == "event" for a in sampled.arrows) == 2


def test_a_websocket_ping_and_its_pong_are_traced():
    server, client = traced_pair(websocket, server_options={"heartbeat": 0.2})
    try:
        wait_until(lambda: any(m.kind == "pong" for m in client.recorder.trace.marks()), what="a pong")
    finally:
        client.stop()
        server.stop()
    kinds = [m.kind for m in client.recorder.trace.marks()]
    assert kinds.index("ping") < kinds.index("pong")


def test_without_a_server_trace_arrows_are_flat_not_invented():
    trace = Trace()
    trace.note("request", "GET /poll?since=0", t_ns=1_000)
    trace.note("response", "200 (1 events)", t_ns=5_000)
    trace.note("event", "#1 tick", seq=1, t_ns=5_000)
    d = plots.sequence_items(trace.marks(), [], transport="long-polling")
    request, response = d.arrows
    assert (request.start_ns, request.end_ns) == (1_000, 1_000)
    assert (response.start_ns, response.end_ns) == (5_000, 5_000)
    assert d.dots == []  # no publish time known: no dot drawn


def test_every_technique_renders(tmp_path):
    for module in (short_polling, long_polling, sse, websocket):
        server, client = traced_pair(module, client_options={"interval": 0.05} if module is short_polling
                                     else None)
        try:
            if module in (sse, websocket):
                subscribed(server)
            server.publish("tick", {"i": 1})
            wait_seq(client, 1)
            png = plots.figure_to_png(plots.sequence(client, server))
        finally:
            client.stop()
            server.stop()
        assert png.startswith(b"\x89PNG")


def test_untraced_client_gets_a_clear_error():
    with pytest.raises(ValueError, match="trace=True"):
        plots.sequence(type("Untraced", (), {"recorder": type("R", (), {"trace": None})()})())


def test_live_sequence_rerun_keeps_one_refresher_and_no_threads(tmp_path):
    server, client = traced_pair(sse)
    try:
        before = threading.active_count()
        for _ in range(5):
            widgets.sequence(client, server, name="sequence-view")
        assert widgets.refresher.names.count("sequence-view") == 1
        assert threading.active_count() <= before + 1  # at most the one refresher thread
    finally:
        widgets.stop_live_views()
        client.stop()
        server.stop()


def test_marks_are_bounded():
    trace = Trace(maxlen=10)
    for i in range(100):
        trace.note("event", seq=i)
    assert len(trace) == 10 and trace.marks()[0] == Mark(trace.marks()[0].t_ns, "event", "", 90)


def test_a_request_still_on_its_way_is_not_drawn_as_arrived():
    ms = 1_000_000
    client = [Mark(0, "request", "GET /poll?since=0"), Mark(200 * ms, "response", "200"),
              Mark(210 * ms, "request", "GET /poll?since=1")]  # read before this one reached the server
    server = [Mark(85 * ms, "arrive", "GET /poll", client="c"), Mark(115 * ms, "answer", "200", client="c")]
    d = plots.sequence_items(client, server, transport="long-polling", client="c")
    assert [(a.start_ns, a.end_ns) for a in d.arrows if a.kind == "request"] == [(0, 85 * ms)]
    # Without the server's trace the one-way time is unknown: every request is drawn, arriving at once.
    d = plots.sequence_items(client, [], transport="long-polling", client="c")
    assert [(a.start_ns, a.end_ns) for a in d.arrows if a.kind == "request"] == [(0, 0), (210 * ms, 210 * ms)]
