"""Rate windows, token buckets and the rolling buy-volume cap, on explicit times."""

from __future__ import annotations

from kashbot.sim.limits import RollingVolume, SlidingWindow, TokenBucket


def test_sliding_window_allows_limit_then_refuses_with_retry_after() -> None:
    w = SlidingWindow(60)
    for i in range(60):
        d = w.hit(1000.0 + i * 0.1)
        assert d.allowed and d.remaining == 59 - i
    d = w.hit(1010.0)
    assert not d.allowed and d.remaining == 0
    assert d.retry_after_s == 50  # the first hit (t=1000) leaves the window at t=1060
    assert d.reset_epoch_s == 1060
    assert w.hit(1060.0).allowed


def test_token_bucket_refills_at_limit_per_minute() -> None:
    b = TokenBucket(60)
    for _ in range(60):
        assert b.hit(0.0).allowed
    d = b.hit(0.0)
    assert not d.allowed and d.retry_after_s == 1
    assert b.hit(1.0).allowed  # one token per second
    assert not b.hit(1.0).allowed


def test_rolling_volume_expires_after_a_day_and_refunds() -> None:
    v = RollingVolume()
    v.add(0.0, "a", 400)
    v.add(10.0, "b", 300)
    assert v.used(20.0) == 700
    v.refund("b")
    assert v.used(20.0) == 400
    assert v.used(86_400.0) == 0
