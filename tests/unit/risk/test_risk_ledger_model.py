"""SpendLedger's running sums agree with the plain definition on any sequence of operations."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot.risk.ledger import LedgerError, SpendEntry, SpendLedger

WINDOW = 100.0


class Reference:
    """The definition, summed from scratch on every call. Committed draws that left the window
    as of the latest time asked about (``horizon``) are forgotten, as the ledger forgets them."""

    def __init__(self) -> None:
        self.entries: dict[str, SpendEntry] = {}
        self.horizon = -math.inf

    def forget(self, now: float) -> None:
        h = now - WINDOW
        if h >= self.horizon:
            self.horizon = h
            for k in [k for k, e in self.entries.items() if e.committed and e.ts <= h]:
                del self.entries[k]

    def used(self, now: float) -> int:
        self.forget(now)
        h = now - WINDOW
        return sum(e.amount for e in self.entries.values() if not e.committed or e.ts > h)

    def next_expiry(self, now: float) -> float | None:
        self.forget(now)
        ts = [e.ts for e in self.entries.values() if e.committed and e.ts > now - WINDOW]
        return min(ts) + WINDOW if ts else None

    def prune(self, now: float) -> list[str]:
        gone = [k for k, e in self.entries.items() if e.committed and e.ts <= now - WINDOW]
        for k in gone:
            del self.entries[k]
        return gone


ids = st.sampled_from(["a", "b", "c", "d", "e"])
times = st.integers(0, 400).map(float)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), ids, st.integers(0, 50), times),
        st.tuples(st.just("commit"), ids, st.just(0), times),
        st.tuples(st.just("release"), ids, st.just(0), times),
        st.tuples(st.just("used"), ids, st.just(0), times),
        st.tuples(st.just("next_expiry"), ids, st.just(0), times),
        st.tuples(st.just("prune"), ids, st.just(0), times),
        st.tuples(st.just("restore"), ids, st.just(0), times),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_ledger_matches_reference(seq: list[tuple[str, str, int, float]]) -> None:
    led, ref = SpendLedger(window_s=WINDOW), Reference()
    for op, k, amount, now in seq:
        if op == "reserve":
            if k in ref.entries:
                continue
            ref.entries[k] = SpendEntry(k, amount, now, False)
            assert led.reserve(k, amount, now) == ref.entries[k]
        elif op == "commit":
            if k not in ref.entries:
                continue
            e = ref.entries[k]
            done = ref.entries[k] = replace(e, committed=True, ts=max(e.ts, now))
            if done.ts <= ref.horizon:
                del ref.entries[k]  # already out of the window: not held
            assert led.commit(k, now) == done
        elif op == "release":
            if k not in ref.entries:
                try:
                    led.release(k)
                except LedgerError:
                    continue
                raise AssertionError("release of an unknown id must fail")
            assert led.release(k) == ref.entries.pop(k).amount
        elif op == "used":
            assert led.used(now) == ref.used(now)
            assert led.headroom(120, now) == max(0, 120 - ref.used(now))
        elif op == "next_expiry":
            assert led.next_expiry(now) == ref.next_expiry(now)
        elif op == "prune":
            assert led.prune(now) == ref.prune(now)
        else:  # a restart: restore from what the store holds
            led.restore(list(ref.entries.values()))
            ref.horizon = -math.inf
        assert led.reserved() == sum(e.amount for e in ref.entries.values() if not e.committed)
        assert led.entries() == list(ref.entries.values())


def test_recommitting_the_same_entry_at_the_same_time() -> None:
    led = SpendLedger(window_s=WINDOW)
    led.reserve("a", 5, 10.0)
    led.commit("a", 10.0)
    led.commit("a", 10.0)  # the stale and the fresh heap item tie on time
    assert led.used(50.0) == 5
    assert led.next_expiry(50.0) == 110.0
    assert led.used(110.0) == 0


def test_entries_stay_within_one_window_over_a_long_run() -> None:
    """A daemon that runs for days holds one window of buys, not every buy since start."""
    led = SpendLedger(window_s=WINDOW)
    every = 2.0
    for i in range(2_000):
        now = i * every
        led.reserve(f"r{i}", 1, now)
        led.commit(f"r{i}", now)
        assert led.used(now) == min(i + 1, int(WINDOW / every))
        assert len(led.entries()) <= WINDOW / every + 1
