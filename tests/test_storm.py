"""Reconnect storms: every client comes back with every event once, whatever its policy;
the policies' waits are what they say (pure arithmetic, no clock)."""

from __future__ import annotations

import random

import pytest

from rtlab.lessons.storm import STORM_POLICIES, storm
from rtlab.net.retry import Retry


def test_immediate_and_fixed_waits():
    assert [Retry("immediate").delay(n) for n in range(5)] == [0.0] * 5
    assert [Retry("fixed", base=0.3, cap=0.3).delay(n) for n in range(5)] == [0.3] * 5


def test_exponential_backoff_has_full_jitter_under_a_capped_window():
    retry = Retry("exponential", base=0.1, cap=1.0)
    assert [retry.window(n) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    rng = random.Random(7)
    delays = [retry.delay(3, rng) for _ in range(2_000)]
    assert all(0 <= d <= 0.8 for d in delays)
    assert min(delays) < 0.05 and max(delays) > 0.75  # spread over the whole window, not 0.5–1×
    assert 0.35 < sum(delays) / len(delays) < 0.45  # uniform: the mean is half the window


def test_a_bad_policy_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="immediate, fixed, exponential"):
        Retry("sometimes")


@pytest.mark.parametrize("transport", ["websocket", "sse", "long-polling"])
@pytest.mark.parametrize("policy", list(STORM_POLICIES))
def test_every_client_comes_back_with_every_event_once(transport, policy):
    result = storm(transport, clients=40, policy=policy, events=3)
    assert result.exactly_once, result
    assert result.back_s == result.back_s  # not NaN: all 40 were back before the timeout
    assert len(result.arrivals_s) >= 40  # the server saw each one reconnect
    assert result.resets >= 40
