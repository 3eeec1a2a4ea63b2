"""The hub on its own: numbering, replay, gaps, bounded subscriber queues, waiting for news.

The hub must be used on one event loop, so each test runs a small coroutine with
``asyncio.run`` (the test's own loop; no server involved).
"""

from __future__ import annotations

import asyncio

import pytest

from rtlab.hub import Event, Gap, Hub, SubscriberOverflow


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_seq_numbers_are_consecutive_from_one_and_state_keeps_the_latest_per_type():
    hub = Hub()
    events = [hub.publish("score", {"home": 0}), hub.publish("minute", 1),
              hub.publish("score", {"home": 1})]
    assert [e.seq for e in events] == [1, 2, 3]
    assert hub.latest_seq == 3
    assert hub.oldest_seq == 1
    assert hub.state == {"score": {"home": 1}, "minute": 1}
    assert all(isinstance(e.sent_ns, int) and e.sent_ns > 0 for e in events)
    assert hub.publish("x", sent_ns=123).sent_ns == 123


def test_event_round_trips_through_json_dict():
    event = Event(7, "token", {"text": "héllo"}, 42)
    assert Event.from_dict(event.to_dict()) == event
    assert '"héllo"' in event.to_json()  # ensure_ascii=False: readable on the wire


def test_empty_hub_oldest_is_one_past_latest():
    hub = Hub()
    assert hub.oldest_seq == 1
    assert hub.after(0) == []


def test_after_replays_everything_newer_than_the_cursor():
    hub = Hub()
    for i in range(5):
        hub.publish("tick", i)
    assert [e.seq for e in hub.after(0)] == [1, 2, 3, 4, 5]
    assert [e.seq for e in hub.after(3)] == [4, 5]
    assert hub.after(5) == []
    assert hub.after(99) == []  # a cursor from the future (e.g. an older server): nothing yet
    assert [e.seq for e in hub.after(1, limit=2)] == [2, 3]


def test_gap_when_the_cursor_is_older_than_the_replay_buffer():
    hub = Hub(replay=3)
    for i in range(10):
        hub.publish("tick", i)
    assert hub.oldest_seq == 8
    assert [e.seq for e in hub.after(7)] == [8, 9, 10]  # exactly at the edge: no gap
    with pytest.raises(Gap) as info:
        hub.after(2)
    assert (info.value.first_missing, info.value.last_missing) == (3, 7)
    assert "3..7" in str(info.value)
    with pytest.raises(Gap):
        hub.after(0)


def test_replay_and_queue_sizes_must_be_positive():
    with pytest.raises(ValueError):
        Hub(replay=0)
    with pytest.raises(ValueError):
        Hub(queue_size=0)


def test_subscriber_gets_every_event_published_after_subscribing():
    async def scenario():
        hub = Hub()
        hub.publish("before", 0)  # not delivered: a subscriber replays with after() instead
        with hub.subscribe() as sub:
            for i in range(3):
                hub.publish("tick", i)
            got = [await sub.get(timeout=1) for _ in range(3)]
            assert await sub.get(timeout=0.01) is None  # nothing more: time for a keep-alive
        return got

    assert [e.seq for e in run(scenario())] == [2, 3, 4]


def test_bounded_queue_overflow_drops_only_the_slow_subscriber():
    async def scenario():
        hub = Hub(queue_size=1000)
        slow = hub.subscribe(queue_size=3)
        fast = hub.subscribe()
        for i in range(4):  # one more than the slow queue holds
            hub.publish("tick", i)
        assert slow.overflowed
        assert len(slow.queue) == 0  # the policy frees the memory at once
        with pytest.raises(SubscriberOverflow, match="3 events behind"):
            await slow.get()
        hub.publish("tick", 4)  # publishing goes on; the dropped one is not refilled
        assert len(slow.queue) == 0
        assert [(await fast.get()).seq for _ in range(5)] == [1, 2, 3, 4, 5]
        assert not fast.overflowed

    run(scenario())


def test_overflow_wakes_a_subscriber_that_is_waiting():
    async def scenario():
        hub = Hub(queue_size=1)
        sub = hub.subscribe()
        waiter = asyncio.create_task(sub.get())
        await asyncio.sleep(0)  # let it start waiting
        hub.publish("a")  # delivered to the waiter's queue...
        hub.publish("b")  # ...and this one overflows it before it runs: "a" is dropped too
        with pytest.raises(SubscriberOverflow):
            await waiter

    run(scenario())


def test_closing_the_hub_ends_iteration_and_refuses_new_work():
    async def scenario():
        hub = Hub()
        sub = hub.subscribe()
        received = []

        async def consume():
            async for event in sub:
                received.append(event.seq)

        task = asyncio.create_task(consume())
        hub.publish("tick")
        await asyncio.sleep(0.01)
        hub.close()
        await task  # ends, no exception
        assert received == [1]
        assert hub.subscriber_count == 0
        with pytest.raises(RuntimeError):
            hub.publish("late")
        with pytest.raises(RuntimeError):
            hub.subscribe()

    run(scenario())


def test_wait_after_returns_true_at_once_when_news_exists():
    async def scenario():
        hub = Hub()
        hub.publish("tick")
        assert await hub.wait_after(0, timeout=10) is True

    run(scenario())


def test_wait_after_times_out_false_when_nothing_happens():
    async def scenario():
        hub = Hub()
        hub.publish("tick")
        assert await hub.wait_after(1, timeout=0.05) is False

    run(scenario())


def test_wait_after_wakes_every_waiter_on_publish():
    async def scenario():
        hub = Hub()
        waiters = [asyncio.create_task(hub.wait_after(0, timeout=10)) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert not any(w.done() for w in waiters)
        hub.publish("tick")
        assert await asyncio.gather(*waiters) == [True, True, True]
        # A new wait after that publish needs a new event: the old wakeup is not reused.
        assert await hub.wait_after(1, timeout=0.05) is False

    run(scenario())


def test_wait_after_returns_when_the_hub_closes():
    async def scenario():
        hub = Hub()
        waiter = asyncio.create_task(hub.wait_after(0, timeout=10))
        await asyncio.sleep(0.01)
        hub.close()
        assert await waiter is True  # "look now": the caller sees hub.closed

    run(scenario())
