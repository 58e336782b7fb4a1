"""RollingVolume's running sum agrees with summing the window, through refunds and expiry."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot.sim.limits import RollingVolume

WINDOW = 100.0

steps = st.lists(
    st.tuples(
        st.sampled_from(["add", "refund", "used"]),
        st.sampled_from(["t1", "t2", "t3", "t4"]),
        st.integers(1, 500),
        st.integers(0, 60),  # time advances by this much before the step
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_volume_matches_plain_sum(seq: list[tuple[str, str, int, int]]) -> None:
    v = RollingVolume(window=WINDOW)
    ref: list[tuple[float, str, int]] = []
    now = 0.0
    for op, tid, amount, dt in seq:
        now += dt
        if op == "add":
            v.add(now, tid, amount)
            ref.append((now, tid, amount))
        elif op == "refund":
            v.refund(tid)
            ref = [e for e in ref if e[1] != tid]
        else:
            ref = [e for e in ref if e[0] > now - WINDOW]
            assert v.used(now) == sum(a for _, _, a in ref)
