"""The network path's arithmetic (rtlab.net.path_model): pure, so checked with numbers alone."""

from __future__ import annotations

import random

import pytest

from rtlab.net.path_model import MSS, PROFILES, Direction, NetworkPath, TokenBucket, resolve


def test_a_burst_leaves_after_one_delay_together_and_in_order():
    lane = Direction(NetworkPath(rtt_ms=100))
    leaves = [lane.schedule(10, 1.0 + i * 1e-5)[0][0] for i in range(20)]
    assert leaves == sorted(leaves)
    assert leaves[0] == pytest.approx(1.05)
    assert leaves[-1] - leaves[0] < 0.001  # twenty chunks, one delay: not twenty


def test_jitter_never_reorders_a_connection():
    lane = Direction(NetworkPath(rtt_ms=20, jitter_ms=10, seed=3))
    leaves = [lane.schedule(100, i * 0.001)[0][0] for i in range(500)]
    assert leaves == sorted(leaves)
    assert min(b - a for a, b in zip([i * 0.001 for i in range(500)], leaves, strict=True)) >= 0


def test_the_token_bucket_keeps_the_long_run_rate():
    bucket = TokenBucket(rate=1000, burst=100)
    times = [bucket.take(100, 0.0) for _ in range(11)]
    assert times[0] == 0.0  # the full bucket lets the first burst through
    assert times[-1] == pytest.approx(1.0)  # then 1000 bytes take one second
    assert times == sorted(times)


def test_a_capped_stream_queues_and_its_latency_grows():
    lane = Direction(NetworkPath(rtt_ms=10, down_kbit=80), kbit=80)  # 10,000 bytes/s
    delays = []
    for i in range(50):  # 2,000 bytes every 0.1 s = 20,000 bytes/s: twice the cap
        arrived = i * 0.1
        delays.append(lane.schedule(2000, arrived)[-1][0] - arrived)
    assert delays[-1] > delays[10] > delays[0]
    # 100,000 bytes by 4.9 s; the bucket passed its first 8 KiB at once, the rest at 10,000 B/s
    assert delays[-1] == pytest.approx(0.005 + (100_000 - 8192) / 10_000 - 4.9, abs=0.01)


def test_a_big_chunk_is_split_into_bucket_sized_pieces_in_order():
    path = NetworkPath(down_kbit=8, burst_bytes=100)  # 1,000 bytes/s
    pieces = Direction(path, kbit=8).schedule(1000, 0.0)
    assert sum(n for _, n in pieces) == 1000 and all(n <= 100 for _, n in pieces)
    assert [t for t, _ in pieces] == sorted(t for t, _ in pieces)
    assert pieces[-1][0] == pytest.approx(0.9)


def test_a_new_connection_waits_for_its_handshake_and_tls():
    path = NetworkPath(rtt_ms=100, tls=2)
    assert path.setup_s == pytest.approx(0.3)
    up = Direction(path, 0, not_before=5.0 + path.setup_s)
    assert up.schedule(10, 5.0)[0][0] == pytest.approx(5.35)  # 3 RTTs, then one way
    assert up.schedule(10, 9.0)[0][0] == pytest.approx(9.05)  # later chunks: one way only


def test_a_lost_segment_stalls_everything_behind_it_for_one_rto():
    path = NetworkPath(rtt_ms=100, loss=0.5, seed=1)
    assert path.rto_s == pytest.approx(0.3)
    assert NetworkPath(rtt_ms=10).rto_s == pytest.approx(0.2)
    lane = Direction(path, 0, rng=random.Random(1))
    leaves = [lane.schedule(10, i * 0.01)[0][0] for i in range(100)]
    assert lane.stalls > 10
    assert leaves == sorted(leaves)
    assert max(leaves[i] - i * 0.01 for i in range(100)) >= 0.05 + 0.3 - 1e-9


def test_loss_is_per_segment():
    lane = Direction(NetworkPath(loss=0.01, seed=2))
    small = sum(lane.lost(10) for _ in range(20_000)) / 20_000
    big = sum(lane.lost(50 * MSS) for _ in range(4_000)) / 4_000
    assert small == pytest.approx(0.01, abs=0.005)
    assert big == pytest.approx(1 - 0.99 ** 50, abs=0.05)


def test_profiles_resolve_and_loopback_means_no_relay():
    assert resolve(None) is None and resolve("loopback") is None and resolve(NetworkPath()) is None
    assert resolve("4G") is PROFILES["4g"]
    assert resolve({"rtt_ms": 50}).rtt_ms == 50
    for name in ("lan", "wifi", "4g", "3g", "intercontinental", "lossy-wifi"):
        assert PROFILES[name].source and not PROFILES[name].is_loopback
    with pytest.raises(ValueError, match="unknown network"):
        resolve("5g-dreams")
    with pytest.raises(ValueError):
        NetworkPath(loss=1.5)
    with pytest.raises(ValueError):
        NetworkPath(tls=3)
