"""The hub: forwarding on change, fallback when a source goes stale, derived markets, restarts,
and the gate's FAIR_VALUE_STALE rule fed from it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from kashbot.clock import SimClock
from kashbot.events import FairValueUpdate, OrderIntent, Side, TradingState
from kashbot.fairvalue.base import Emit, FairValueSource, SourceParams
from kashbot.fairvalue.derived import DerivedParams, DerivedSource, DeriveRule, derive
from kashbot.fairvalue.hub import FairValueHub
from kashbot.fairvalue.loader import FairValuesConfig
from kashbot.fairvalue.supervise import run_supervised
from kashbot.money import WAD
from kashbot.retry import Backoff
from kashbot.risk.limits import Limits
from kashbot.risk.rules import Reason, RiskSnapshot, evaluate
from kashbot.tiers import Tier

P40 = (4 * WAD // 10, 6 * WAD // 10)
P60 = (6 * WAD // 10, 4 * WAD // 10)
P50 = (WAD // 2, WAD // 2)


class Manual(FairValueSource[SourceParams]):
    name = "manual"

    def __init__(
        self, sid: str, max_age: float, clock: SimClock, promised: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(SourceParams(max_age_s=max_age), clock=clock, source_id=sid)
        self.promised = frozenset(promised)

    def markets(self) -> frozenset[str]:
        return self.promised

    async def run(self, emit: Emit) -> None:
        await asyncio.Event().wait()


def hub_with(
    cfg: dict[str, Any], *sources: FairValueSource[Any]
) -> tuple[FairValueHub, list[FairValueUpdate], list[frozenset[str]]]:
    out: list[FairValueUpdate] = []
    stale: list[frozenset[str]] = []
    clock = sources[0].clock
    assert isinstance(clock, SimClock)
    hub = FairValueHub(
        FairValuesConfig.model_validate(
            {"sources": [{"name": "manual", "id": s.source_id} for s in sources], **cfg}
        ),
        sources,
        clock,
        out.append,
        on_stale_change=stale.append,
    )
    return hub, out, stale


def test_forwards_changes_only_and_falls_back_when_the_primary_goes_stale() -> None:
    clock = SimClock(1000.0)
    a, b = Manual("a", 10, clock, {"m"}), Manual("b", 60, clock)
    hub, out, stale = hub_with({"combine": {"rule": "precedence"}}, a, b)
    assert hub.check() == {"m"} and stale == [frozenset({"m"})]  # promised, no value yet
    emit_a, emit_b = hub.emitter(a), hub.emitter(b)
    emit_b(FairValueUpdate(clock.now(), "m", P60, "whatever"))  # stamped with its id
    emit_a(FairValueUpdate(clock.now(), "m", P40))
    emit_a(FairValueUpdate(clock.now(), "m", P40))  # same value: not forwarded again
    assert [(u.source, u.probabilities) for u in out] == [("b", P60), ("a", P40)]
    assert hub.check() == set() and stale[-1] == set()
    clock.advance(11)
    hub.check()  # a is stale: b (60 s) takes over
    assert out[-1].source == "b" and out[-1].probabilities == P60
    clock.advance(50)
    with capture_logs() as logs:
        assert hub.check() == {"m"}
    assert stale[-1] == {"m"} and logs[0]["event"] == "fair_value_stale"
    emit_a(FairValueUpdate(clock.now(), "m", P60))  # same value as forwarded, but was stale
    assert out[-1].source == "a" and hub.check() == set()


def test_per_market_rule_and_ages() -> None:
    clock = SimClock(0.0)
    a, b = Manual("a", 10, clock), Manual("b", 10, clock)
    hub, out, _ = hub_with({"markets": {"m": {"sources": ["b", "a"]}}}, a, b)
    hub.emitter(a)(FairValueUpdate(0.0, "m", P40))
    hub.emitter(b)(FairValueUpdate(0.0, "m", P60))
    assert out[-1].source == "b"
    clock.advance(3)
    assert hub.ages() == {"m": 3.0}


def test_derived_complement_follows_its_source() -> None:
    clock = SimClock(0.0)
    a = Manual("a", 10, clock)
    d = DerivedSource(
        DerivedParams.model_validate({"rules": [{"target": "A", "from": "B"}]}),
        clock=clock,
        source_id="derived",
    )
    hub, out, _ = hub_with({}, a, d)
    d._emit = hub.emitter(d)  # what run() does
    hub.emitter(a)(FairValueUpdate(0.0, "B", P40))
    assert [(u.market_id, u.probabilities, u.source) for u in out] == [
        ("B", P40, "a"),
        ("A", P60, "derived"),
    ]
    assert hub.tracker.stale(0.0) == set() and d.markets() == {"A"}


def test_derive_rules() -> None:
    groups = DeriveRule.model_validate(
        {"target": "A", "from": "B", "kind": "groups", "groups": [[0], [1, 2]]}
    )
    assert derive(groups, (WAD // 4, WAD // 4, WAD // 2)) == (WAD // 4, 3 * WAD // 4)
    assert derive(groups, P50) is None
    same = DeriveRule.model_validate({"target": "A", "from": "B", "kind": "same"})
    assert derive(same, P40) == P40
    with pytest.raises(ValidationError, match="itself"):
        DeriveRule.model_validate({"target": "A", "from": "A"})
    with pytest.raises(ValidationError, match="at most once"):
        DeriveRule.model_validate(
            {"target": "A", "from": "B", "kind": "groups", "groups": [[0], [0]]}
        )


async def test_a_dying_source_is_restarted_with_backoff_and_says_so() -> None:
    clock = SimClock(0.0)
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("feed exploded")

    restarts: list[int] = []
    with capture_logs() as logs:
        task = asyncio.create_task(
            run_supervised(
                "feed",
                flaky,
                clock,
                backoff=Backoff(1.0, 4.0),
                on_restart=lambda _n, k: restarts.append(k),
            )
        )
        for delay in (1.0, 2.0, 4.0):
            for _ in range(3):
                await asyncio.sleep(0)
            clock.advance(delay)
        for _ in range(3):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert calls == 4 and restarts == [1, 2, 3, 4]
    died = [e for e in logs if e["event"] == "fair_value_source_died"]
    assert died[0]["source"] == "feed" and "feed exploded" in died[0]["error"]
    assert [e["in_s"] for e in logs if e["event"] == "fair_value_source_restarting"] == [
        1.0,
        2.0,
        4.0,
        4.0,
    ]


def test_gate_refuses_buys_not_sells_on_a_stale_fair_value() -> None:
    limits = Limits(Tier.MM, 10**9, 10**12, 10**9)

    def intent(side: Side) -> OrderIntent:
        return OrderIntent("i-1", "s", "m", 0, side, 10**6)

    snap = RiskSnapshot(TradingState.ACTIVE, 0, {}, 0, fair_value_stale=frozenset({"m"}))
    denial = evaluate(intent(Side.BUY), snap, limits)
    assert denial is not None and denial.reason is Reason.FAIR_VALUE_STALE
    assert evaluate(intent(Side.SELL), snap, limits) is None
    assert evaluate(intent(Side.BUY), RiskSnapshot(TradingState.ACTIVE, 0, {}, 0), limits) is None


async def test_from_config_runs_as_an_engine_source(tmp_path: Any) -> None:
    f = tmp_path / "fair.json"
    f.write_text('{"markets": {"m1": {"chances": [0.4, 0.6], "ts": 1000}}}')
    clock = SimClock(1000.0)
    stale: list[frozenset[str]] = []
    hub = FairValueHub.from_config(
        {"sources": [{"name": "file", "params": {"path": str(f), "max_age_s": 30}}]},
        clock,
        on_stale_change=stale.append,
    )
    got: list[Any] = []
    task = asyncio.create_task(hub.run(got.append))  # what engine.add_source(hub) does
    for _ in range(5):
        await asyncio.sleep(0)
    assert [(u.market_id, u.probabilities, u.source) for u in got] == [("m1", P40, "file")]
    clock.advance(31)
    for _ in range(5):
        await asyncio.sleep(0)
    assert stale == [frozenset({"m1"})] and hub.name == "fair_values"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
