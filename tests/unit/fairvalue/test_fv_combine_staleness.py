"""The combiner and staleness: pure functions and the small tracker."""

from __future__ import annotations

from decimal import Decimal

from kashbot.events import FairValueUpdate
from kashbot.fairvalue.combine import CombineRule, combine
from kashbot.fairvalue.staleness import StalenessTracker, stale_markets, vouched_at
from kashbot.money import WAD

P40 = (4 * WAD // 10, 6 * WAD // 10)
P50 = (WAD // 2, WAD // 2)
P80 = (8 * WAD // 10, 2 * WAD // 10)
AGE = {"a": 10.0, "b": 10.0, "c": 10.0}


def fv(src: str, probs: tuple[int, ...], ts: float, conf: int | None = None) -> FairValueUpdate:
    return FairValueUpdate(ts, "m", probs, src, confidence=conf)


def test_precedence_takes_the_first_fresh_source() -> None:
    latest = {"a": fv("a", P40, 100.0), "b": fv("b", P50, 105.0)}
    rule = CombineRule(rule="precedence", sources=("a", "b"))
    got = combine("m", latest, rule, ["a", "b"], 105.0, AGE)
    assert got is not None and got.probabilities == P40 and got.source == "a" and got.ts == 105.0
    # a goes stale: b takes over; both stale: nothing
    got = combine("m", latest, rule, ["a", "b"], 112.0, AGE)
    assert got is not None and got.source == "b"
    assert combine("m", latest, rule, ["a", "b"], 200.0, AGE) is None


def test_default_order_is_config_order_and_unlisted_sources_are_ignored() -> None:
    latest = {"a": fv("a", P40, 100.0), "b": fv("b", P50, 100.0)}
    got = combine("m", latest, CombineRule(), ["b", "a"], 100.0, AGE)
    assert got is not None and got.source == "b"
    got = combine("m", latest, CombineRule(sources=("a",)), ["b", "a"], 100.0, AGE)
    assert got is not None and got.source == "a"


def test_freshest_goes_by_vouched_time() -> None:
    latest = {
        "a": fv("a", P40, 103.0),
        "b": FairValueUpdate(104.0, "m", P50, "b", source_ts=101.0),  # older by its own clock
    }
    got = combine("m", latest, CombineRule(rule="freshest"), ["a", "b"], 105.0, AGE)
    assert got is not None and got.source == "a"


def test_confidence_weighted_mean() -> None:
    latest = {
        "a": fv("a", P40, 100.0, conf=WAD),  # weight 1
        "b": fv("b", P80, 100.0, conf=WAD // 4),  # weight 1/4
        "c": fv("c", P50, 100.0),  # default 0.5
    }
    rule = CombineRule(rule="confidence_weighted", default_confidence=Decimal("0.5"))
    got = combine("m", latest, rule, ["a", "b", "c"], 100.0, AGE)
    # (0.4*1 + 0.8*0.25 + 0.5*0.5) / 1.75 = 0.85 / 1.75
    assert got is not None and sum(got.probabilities) == WAD
    assert got.probabilities[0] == (85 * WAD // 100) * 4 // 7
    assert got.confidence == WAD and got.source == "combined:a+b+c"


def test_a_mismatched_outcome_count_is_ignored() -> None:
    latest = {"a": fv("a", P40, 100.0), "b": fv("b", (WAD // 4, WAD // 4, WAD // 2), 100.0)}
    got = combine("m", latest, CombineRule(rule="confidence_weighted"), ["a", "b"], 100.0, AGE)
    assert got is not None and got.probabilities == P40


def test_stale_markets_pure() -> None:
    last = {"m1": 100.0, "m2": 95.0, "m3": 50.0}
    assert stale_markets(106.0, last, 10.0) == {"m2", "m3"}
    assert stale_markets(106.0, last, {"m1": 5.0, "m3": 100.0}) == {"m1"}
    assert vouched_at(FairValueUpdate(10.0, "m", P50, "a", source_ts=4.0)) == 4.0
    assert vouched_at(FairValueUpdate(10.0, "m", P50, "a", source_ts=40.0)) == 10.0


def test_tracker_fresh_while_any_source_is_and_reports_transitions() -> None:
    t = StalenessTracker()
    t.expect(["m", "never"])
    t.observe(fv("a", P50, 100.0), 5.0)
    t.observe(fv("b", P50, 100.0), 20.0)
    assert t.stale(104.0) == {"never"}
    assert t.stale(110.0) == {"never"}  # b still vouches
    assert t.stale(121.0) == {"never", "m"}
    assert t.ages(121.0) == {"m": 21.0, "never": None}
    assert t.transitions(104.0) == ({"never"}, set())
    assert t.transitions(121.0) == ({"m"}, set())
    t.observe(fv("a", P50, 122.0), 5.0)
    assert t.transitions(122.0) == (set(), {"m"})
    assert t.transitions(122.0) == (set(), set())
    assert t.is_fresh("m", "a", 122.0) and not t.is_fresh("m", "b", 122.0)
