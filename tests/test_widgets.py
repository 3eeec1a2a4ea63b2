"""Live views re-run as a learner re-runs a cell: one listener and one refresh job per view, always.

Each view is created five times on the same real client (a re-run cell); then one event goes
through a real server, and the view must have heard it once — not five times — while the
learner's own ``on_event`` still runs, once.
"""

from __future__ import annotations

import threading

import pytest
from rtlab_support import TIMEOUT, wait_seq, wait_until

from rtlab.lessons import widgets
from rtlab.lessons.widgets import refresher
from rtlab.net import long_polling, sse, websocket

RERUNS = 5


def refresher_threads() -> int:
    return sum(t.name == "rtlab-widgets" for t in threading.enumerate())


@pytest.fixture(autouse=True)
def no_live_views_left():
    yield
    widgets.stop_live_views()


def learner_callback(calls: list[int]):
    def on_event(event):
        calls.append(event.seq)
    return on_event


def test_token_stream_rerun_keeps_one_listener():
    calls: list[int] = []
    with sse.Server(name="widgets-tokens") as server, \
            sse.Client(server.url, name="widgets-tokens-client", on_event=learner_callback(calls)) as client:
        views = [widgets.token_stream(client, name="tokens-view") for _ in range(RERUNS)]
        assert len(client.rtlab_view_listeners["on_event"]) == 1
        wait_until(lambda: server.read(lambda s: s.hub.subscriber_count) == 1, what="the stream")
        server.publish("token", {"index": 0, "text": "Hello "})
        wait_seq(client, 1)
        assert views[-1].parts == ["Hello "]  # the newest view heard it, once
        assert all(v.parts == [] for v in views[:-1])  # the replaced ones are not called any more
        assert calls == [1]
        assert refresher.names.count("tokens-view") == 1
    assert refresher_threads() <= 1


def test_quiz_rerun_keeps_one_listener_per_direction():
    calls: list[int] = []
    with websocket.Server(name="widgets-quiz") as server, \
            websocket.Client(server.url, name="widgets-quiz-client",
                             on_event=learner_callback(calls)) as client:
        views = [widgets.quiz(client, name="quiz-view") for _ in range(RERUNS)]
        assert len(client.rtlab_view_listeners["on_event"]) == 1
        assert len(client.rtlab_view_listeners["on_message"]) == 1
        wait_until(lambda: server.read(lambda s: s.hub.subscriber_count) == 1, what="the socket")
        server.publish("question", {"id": 1, "text": "?", "choices": ["a", "b"]})
        wait_seq(client, 1)
        assert views[-1].question == {"id": 1, "text": "?", "choices": ["a", "b"]}
        assert all(v.question is None for v in views[:-1])
        assert calls == [1]
        assert refresher.names.count("quiz-view") == 1


def test_config_watchers_rerun_keeps_one_listener_per_client():
    with long_polling.Server(name="widgets-config", hold=1) as server:
        clients = [long_polling.Client(server.url, name=f"widgets-watcher-{i}").start() for i in range(2)]
        try:
            for _ in range(RERUNS):
                widgets.config_watchers(clients, server, name="config-view")
            for client in clients:
                assert len(client.rtlab_view_listeners["on_event"]) == 1
            server.publish("config", {"key": "timeout_ms", "value": 30, "version": 1})
            for client in clients:
                wait_seq(client, 1, timeout=TIMEOUT)
            assert refresher.names.count("config-view") == 1
        finally:
            for client in clients:
                client.stop()


def test_counters_and_plots_rerun_keep_one_refresh_job():
    with sse.Server(name="widgets-counters") as server, \
            sse.Client(server.url, name="widgets-counters-client") as client:
        for _ in range(RERUNS):
            widgets.counters(client.recorder, server, name="counters-view")
            widgets.latency_plot(client.recorder, name="plot-view")
        assert refresher.names.count("counters-view") == 1
        assert refresher.names.count("plot-view") == 1
    assert refresher_threads() <= 1
