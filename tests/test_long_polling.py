"""Long polling: answer at once when there is news, hold otherwise; a cursor so nothing is lost."""

from __future__ import annotations

import threading

import httpx
import pytest
from rtlab_support import TIMEOUT, publish_and_wait, wait_seq, wait_until

from rtlab.net import long_polling


def test_answers_at_once_when_events_exist(long_polling_server):
    publish_and_wait(long_polling_server, 3)
    # hold=100 s: had the server held this request, the client timeout would fail the test.
    resp = httpx.get(long_polling_server.url, params={"since": 0, "hold": 100}, timeout=TIMEOUT)
    assert resp.status_code == 200
    body = resp.json()
    assert body["seq"] == 3
    assert [e["seq"] for e in body["events"]] == [1, 2, 3]
    assert body["events"][0]["data"] == {"i": 1}
    resp = httpx.get(long_polling_server.url, params={"since": 2, "hold": 100}, timeout=TIMEOUT)
    assert [e["seq"] for e in resp.json()["events"]] == [3]


def test_holds_then_answers_204_when_nothing_happens(start_server):
    server = start_server(long_polling.Server, hold=0.2)
    resp = httpx.get(server.url, params={"since": 0}, timeout=TIMEOUT)
    assert resp.status_code == 204
    assert resp.content == b""
    resp = httpx.get(server.url, params={"since": 0, "hold": 0}, timeout=TIMEOUT)
    assert resp.status_code == 204


def test_a_held_request_is_answered_by_the_next_publish(long_polling_server):
    server = long_polling_server
    answers = []
    request = threading.Thread(target=lambda: answers.append(httpx.get(
        server.url, params={"since": 0, "hold": 100}, timeout=TIMEOUT)))
    request.start()
    wait_until(lambda: server.waiting == 1, what="the request to be held")
    server.publish("config", {"key": "x"})
    request.join(TIMEOUT)
    assert answers and answers[0].status_code == 200
    assert [e["data"] for e in answers[0].json()["events"]] == [{"key": "x"}]
    assert server.waiting == 0


@pytest.mark.parametrize("since", ["abc", "-1", "1.0", "9" * 30, "", "٣"])
def test_bad_since_is_a_400_that_says_what_is_expected(long_polling_server, since):
    resp = httpx.get(long_polling_server.url, params={"since": since}, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert "since must be a non-negative integer" in resp.text


def test_missing_since_is_a_400_that_explains_the_cursor(long_polling_server):
    resp = httpx.get(long_polling_server.url, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert "?since=0" in resp.text


@pytest.mark.parametrize("hold", ["-1", "abc", "1e9", "nan"])
def test_bad_hold_is_a_400(long_polling_server, hold):
    resp = httpx.get(long_polling_server.url, params={"since": 0, "hold": hold}, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert "hold must be a number of seconds" in resp.text


def test_burst_of_10000_events_arrives_in_order_exactly_once(start_server, start_client):
    server = start_server(long_polling.Server, hold=5, replay=20_000)
    client = start_client(long_polling.Client, server.url, hold=5)
    wait_until(lambda: server.waiting == 1, what="the client's first poll")
    for i in range(10_000):  # as fast as this thread can go
        server.publish("tick", i)
    wait_seq(client, 10_000, timeout=60)
    rec = client.recorder
    assert rec.seqs == list(range(1, 10_001))
    assert rec.duplicates == 0
    assert rec.missed == 0
    assert rec.errors == []
    # Batching: one response carries many events (at most 1000), so far fewer requests.
    assert 10 <= rec.requests < 10_000


def test_client_resumes_from_its_cursor_after_stop_and_start(long_polling_server, start_client):
    server = long_polling_server
    client = start_client(long_polling.Client, server.url, hold=5)
    publish_and_wait(server, 5)
    wait_seq(client, 5)
    client.stop()
    publish_and_wait(server, 5)  # while nobody is polling
    client.start()
    publish_and_wait(server, 5)
    wait_seq(client, 15)
    assert client.recorder.seqs == list(range(1, 16))
    assert client.recorder.duplicates == client.recorder.missed == 0


def test_gap_is_reported_when_the_cursor_is_too_old(start_server, start_client):
    server = start_server(long_polling.Server, hold=5, replay=5)
    publish_and_wait(server, 20)
    body = httpx.get(server.url, params={"since": 3}, timeout=TIMEOUT).json()
    assert body["gap"] == {"first_missing": 4, "last_missing": 15}
    assert [e["seq"] for e in body["events"]] == [16, 17, 18, 19, 20]
    client = start_client(long_polling.Client, server.url, hold=5, since=3)
    wait_seq(client, 20)
    assert client.recorder.seqs == [16, 17, 18, 19, 20]
    assert client.recorder.missed == 12


def test_client_counts_empty_answers(start_server, start_client):
    server = start_server(long_polling.Server, hold=0.05)
    client = start_client(long_polling.Client, server.url)
    wait_until(lambda: client.recorder.empty >= 3, what="three 204 answers")
    assert client.recorder.count == 0
    assert client.recorder.requests >= client.recorder.empty
