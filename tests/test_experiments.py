"""Experiments: measure() and compare() deliver everything and report sane costs.

Only robust claims: counts, structure, orders of magnitude. No timing thresholds
(a loaded machine is slower, not wrong); speed lives in benchmarks/.
"""

from __future__ import annotations

import math

import pytest

from rtlab.lessons.experiments import TRANSPORTS, compare, measure, table, transport_module
from rtlab.metrics import percentile, summarize


def check_delivered_exactly_once(result, events: int) -> None:
    assert result.events == events
    assert result.delivered == events * result.clients
    for rec in result.recorders:
        assert rec.seqs == list(range(1, events + 1)), rec.counters()
        assert rec.duplicates == rec.missed == 0
        assert rec.errors == []


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_measure_each_transport_delivers_everything(transport):
    result = measure(transport, clients=2, events=20, rate=200, interval=0.05)
    check_delivered_exactly_once(result, 20)
    s = result.summary()
    assert s.count == 40
    assert 0 <= s.p50 <= s.p90 <= s.p99 <= s.max
    assert s.max < 60_000  # milliseconds: a sanity bound, not a speed claim
    assert result.bytes_per_event > 0 and math.isfinite(result.bytes_per_event)
    assert result.bytes_in_per_event + result.bytes_out_per_event == pytest.approx(
        result.bytes_per_event)
    assert result.cpu_us_per_event >= 0
    assert result.row()["transport"] == transport
    assert transport in repr(result)


def test_push_transports_make_one_request_per_connection_not_per_event():
    for transport in ("sse", "websocket"):
        result = measure(transport, clients=1, events=20, rate=200)
        assert result.recorders[0].requests == 1
        # Counted at the server from the first event on: the one connection was set-up.
        assert result.server.requests == 0
        assert result.requests_per_event == 0


def test_short_polling_asks_far_more_often_than_events_come_when_they_are_rare():
    # 10 events over 2 s, a poll every 10 ms: ~200 polls nominal. Even ten times fewer
    # polls (a very loaded machine) is still more than one request per event.
    result = measure("short-polling", events=10, rate=5, interval=0.01)
    check_delivered_exactly_once(result, 10)
    assert result.requests_per_event > 1
    assert result.empty_responses > 0
    long = measure("long-polling", events=10, rate=50)
    check_delivered_exactly_once(long, 10)
    # Each long-poll answer carries at least one event (the 20 s hold never ends here).
    assert long.requests_per_event <= (10 + 1) / 10
    assert long.empty_responses == 0
    assert result.requests_per_event > long.requests_per_event


def test_compare_runs_all_four_on_one_stream():
    results = compare(events=20, rate=100, interval=0.05)
    assert list(results) == list(TRANSPORTS)
    for result in results.values():
        check_delivered_exactly_once(result, 20)
        assert result.bytes_per_event > 0
    # One stream: every technique saw the same events with the same publish times.
    sent = {t: r.recorders[0].sent_ns for t, r in results.items()}
    assert len({tuple(v) for v in sent.values()}) == 1
    # Structural, not timing: a long-poll answer repeats HTTP headers (~300 B) that a
    # WebSocket frame (2 bytes of header) does not, and carries the same JSON event.
    assert results["long-polling"].bytes_per_event > results["websocket"].bytes_per_event
    text = table(results)
    for transport in TRANSPORTS:
        assert transport in text
    assert "20/20" in text


def test_transport_names_are_forgiving_and_unknown_ones_are_explained():
    assert transport_module("Long_Polling") is TRANSPORTS["long-polling"]
    with pytest.raises(ValueError, match="choose one of"):
        transport_module("smoke-signals")


def test_summaries():
    s = summarize([3, 1, 2, 4])
    assert (s.count, s.mean, s.p50, s.max) == (4, 2.5, 2.5, 4)
    assert percentile([1, 2, 3, 4, 5], 90) == pytest.approx(4.6)
    empty = summarize([])
    assert empty.count == 0 and math.isnan(empty.p50)


def test_independent_samples_count_distinct_arrival_moments():
    from rtlab.lessons.experiments import Result
    from rtlab.metrics import Recorder
    from rtlab.net.server import ServerStats

    recorders = []
    for offset_ms in (0, 1, 2, 50, 51, 120):  # three moments: 0–2 ms, 50–51 ms, 120 ms
        rec = Recorder(f"c{offset_ms}", "short-polling")
        rec.record(1, 0, int(offset_ms * 1e6))
        recorders.append(rec)
    result = Result("short-polling", 1, recorders, ServerStats("short-polling"), 1.0)
    assert result.delivered == 6
    assert result.independent_samples == 3


def test_short_pollers_poll_at_independent_phases():
    # Started together, pollers poll in lockstep and every event reaches all of them at the
    # same poll: one sample, not six. compare()/measure() start each at its own seeded phase.
    result = measure("short-polling", clients=6, events=10, rate=20, interval=0.2)
    check_delivered_exactly_once(result, 10)
    assert result.independent_samples > 2 * result.events
    assert "indep." in table({"short-polling": result})
