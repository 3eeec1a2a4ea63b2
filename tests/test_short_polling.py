"""Short polling: the current state at once, events after a cursor, and the ETag shortcut."""

from __future__ import annotations

import httpx
import pytest
from rtlab_support import TIMEOUT, publish_and_wait, wait_seq, wait_until

from rtlab.net import short_polling


def get(server, **kwargs):
    return httpx.get(server.url, timeout=TIMEOUT, **kwargs)


def test_state_and_seq(short_polling_server):
    resp = get(short_polling_server)
    assert resp.status_code == 200
    epoch = short_polling_server.read(lambda s: s.hub.epoch)
    assert resp.json() == {"seq": 0, "stream": epoch, "state": {}}  # the stream id: issue 11
    short_polling_server.publish("score", {"home": 1})
    short_polling_server.publish("minute", 12)
    short_polling_server.publish("score", {"home": 2})
    wait_until(lambda: get(short_polling_server).json()["seq"] == 3, what="3 events")
    body = get(short_polling_server).json()
    assert body["state"] == {"score": {"home": 2}, "minute": 12}
    assert "events" not in body  # only asked for with ?since


def test_since_returns_the_events_after_the_cursor(short_polling_server):
    publish_and_wait(short_polling_server, 5)
    body = get(short_polling_server, params={"since": 3}).json()
    assert body["seq"] == 5
    assert [e["seq"] for e in body["events"]] == [4, 5]
    assert get(short_polling_server, params={"since": 5}).json()["events"] == []


def test_etag_and_if_none_match_give_a_bodiless_304(short_polling_server):
    publish_and_wait(short_polling_server, 2)
    epoch = short_polling_server.read(lambda s: s.hub.epoch)  # ETags name the stream (issue 11)
    first = get(short_polling_server)
    assert first.headers["ETag"] == f'"{epoch}-2"'
    again = get(short_polling_server, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == f'"{epoch}-2"'
    publish_and_wait(short_polling_server, 1)
    changed = get(short_polling_server, headers={"If-None-Match": f'"{epoch}-2"'})
    assert changed.status_code == 200
    assert changed.headers["ETag"] == f'"{epoch}-3"'


@pytest.mark.parametrize("since", ["abc", "-1", "2.5", "9" * 30, ""])
def test_bad_since_is_a_400_that_says_what_is_expected(short_polling_server, since):
    resp = get(short_polling_server, params={"since": since})
    assert resp.status_code == 400
    assert "since must be a non-negative integer" in resp.text


def test_client_counts_empty_responses(short_polling_server, start_client):
    client = start_client(short_polling.Client, short_polling_server.url, interval=0.02)
    wait_until(lambda: client.recorder.requests >= 4, what="four polls")
    assert client.recorder.empty >= 3  # nothing was published: every answer was empty
    assert client.recorder.count == 0


def test_conditional_client_gets_304s_and_still_sees_every_event(short_polling_server,
                                                                  start_client):
    server = short_polling_server
    client = start_client(short_polling.Client, server.url, interval=0.02, conditional=True)
    publish_and_wait(server, 3)
    wait_seq(client, 3)
    empty_before = client.recorder.empty
    wait_until(lambda: client.recorder.empty >= empty_before + 3, what="three 304s")
    assert client.etag == f'"{server.read(lambda s: s.hub.epoch)}-3"'  # names the stream (issue 11)
    publish_and_wait(server, 2, type="score")
    wait_seq(client, 5)
    assert client.recorder.seqs == [1, 2, 3, 4, 5]
    assert client.state == {"tick": {"i": 3}, "score": {"i": 5}}
    assert client.recorder.missed == client.recorder.duplicates == 0


def test_interval_must_be_positive():
    with pytest.raises(ValueError):
        short_polling.Client("http://127.0.0.1:1/state", interval=0)
