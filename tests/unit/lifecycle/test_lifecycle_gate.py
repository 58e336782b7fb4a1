"""The market lifecycle as engine state and in the gate: phases, denials, recovery, pin halts."""

from __future__ import annotations

import pytest

from kashbot.client.errors import ApiVersionUnsupported, ChainNotSupported, MarketNotTradeable
from kashbot.client.pin_checks import (
    VenueMismatch,
    check_startup,
    pin_halt_reason,
    startup_verdict,
)
from kashbot.clock import SimClock
from kashbot.engine.state import EngineState
from kashbot.events import MarketSnapshot, OrderIntent, PositionRedeemed, Side, TradingState
from kashbot.lifecycle import Lifecycle, Phase, phase_at, winners_from
from kashbot.money import USDC_ONE, WAD
from kashbot.risk.gate import GATE_EVENTS, Denial, Reason, RiskGate
from kashbot.risk.limits import Limits, LimitsError

U = USDC_ONE
HALF = (WAD // 2, WAD // 2)


def snap(ts: float, status: str = "ACTIVE", **kw: object) -> MarketSnapshot:
    return MarketSnapshot(ts, "m", status, HALF, **kw)  # type: ignore[arg-type]


def buy(n: int, side: Side = Side.BUY) -> OrderIntent:
    return OrderIntent(f"i{n}", "s", "m", 0, side, 10 * U)


@pytest.mark.parametrize(
    ("lc", "t", "phase"),
    [
        (Lifecycle("ACTIVE"), 0.0, Phase.OPEN),
        (Lifecycle("ACTIVE", freeze_at=100.0), 39.9, Phase.OPEN),
        (Lifecycle("ACTIVE", freeze_at=100.0), 40.0, Phase.FREEZING),
        (Lifecycle("ACTIVE", freeze_at=100.0), 100.0, Phase.FROZEN),
        (Lifecycle("ACTIVE", resolution_state="proposed"), 0.0, Phase.RESOLVING),
        (Lifecycle("ACTIVE", resolution_state="settling"), 0.0, Phase.RESOLVING),
        (Lifecycle("ACTIVE", resolution_state="resolved"), 0.0, Phase.RESOLVED),
        (Lifecycle("RESOLVED"), 0.0, Phase.RESOLVED),
        (Lifecycle("RESOLVED", resolution_state="cancelled"), 0.0, Phase.CANCELLED),
        (Lifecycle("ABANDONED"), 0.0, Phase.ABANDONED),
        (Lifecycle("UNSEEDED"), 0.0, Phase.UNSEEDED),
        (Lifecycle(None), 0.0, Phase.UNKNOWN),
        (Lifecycle("SOMETHING_NEW"), 0.0, Phase.UNKNOWN),
    ],
)
def test_phase_at(lc: Lifecycle, t: float, phase: Phase) -> None:
    assert phase_at(lc, t, 60.0) is phase


def test_winners_only_once_resolved() -> None:
    assert winners_from("proposed", 1, "proposed") == ()
    assert winners_from("resolved", 1, "finalized") == (1,)
    assert winners_from("resolved", None, None) == ()
    assert winners_from("resolved", 1, "cancelled") == ()


def test_the_gate_freezes_buys_then_closes_everything() -> None:
    clock = SimClock(start=0.0)
    gate = RiskGate(Limits.for_tier("developer", freeze_margin_s=60), clock=clock)
    gate.observe(snap(0.0, freeze_at=100.0))
    assert not isinstance(gate.check(buy(1), 10.0), Denial)
    frozen = gate.check(buy(2), 45.0)
    assert isinstance(frozen, Denial) and frozen.reason is Reason.MARKET_FROZEN
    assert not isinstance(gate.check(buy(3, Side.SELL), 45.0), Denial)  # sells still pass
    closed = gate.check(buy(4, Side.SELL), 100.0)
    assert isinstance(closed, Denial) and closed.reason is Reason.MARKET_CLOSED
    gate.observe(snap(200.0, resolution_state="resolved", freeze_at=100.0))
    assert gate.phase("m", 200.0) is Phase.RESOLVED


def test_freeze_margin_must_not_be_negative() -> None:
    with pytest.raises(LimitsError):
        Limits.for_tier("free", freeze_margin_s=-1)


def test_an_untradeable_market_recovers_when_the_venue_says_it_trades() -> None:
    clock = SimClock(start=50.0)
    gate = RiskGate(Limits.for_tier("developer"), clock=clock)
    gate.refused(buy(1), MarketNotTradeable(status=409))
    assert gate.check(buy(2)).reason is Reason.MARKET_NOT_TRADEABLE  # type: ignore[union-attr]
    gate.observe(snap(40.0))  # older than the refusal: proves nothing
    assert isinstance(gate.check(buy(3)), Denial)
    gate.observe(snap(60.0, status="RESOLVED"))  # newer, but not trading
    assert isinstance(gate.check(buy(4), 60.0), Denial)
    gate.observe(snap(61.0))
    assert not isinstance(gate.check(buy(5), 61.0), Denial)


def test_a_pin_error_halts_with_a_reason_naming_the_pin() -> None:
    gate = RiskGate(Limits.for_tier("developer"), clock=SimClock())
    err = ChainNotSupported(status=400)
    err.api_version = "2026-04-29"
    gate.note_error(err)  # e.g. a market poll
    assert gate.state is TradingState.HALTED
    assert "2026-04-29" in gate.state_reason and "CHAIN_NOT_SUPPORTED" in gate.state_reason
    gate2 = RiskGate(Limits.for_tier("developer"), clock=SimClock())
    gone = ApiVersionUnsupported(status=410, problem={"metadata": {"supported": ["2026-08-19"]}})
    gone.api_version = "2025-01-01"
    assert gate2.refused(buy(1), gone) is Reason.HALTED
    assert "2025-01-01" in gate2.state_reason and "2026-08-19" in gate2.state_reason


def test_redemption_releases_the_gates_exposure() -> None:
    gate = RiskGate(Limits.for_tier("developer"), clock=SimClock())
    assert PositionRedeemed in GATE_EVENTS and MarketSnapshot in GATE_EVENTS
    gate.set_market_exposure({"m": 30 * U, "k": 5 * U})
    gate.observe(PositionRedeemed(1.0, "m", 0, 10 * WAD, 12 * U, "resolved", "r1", last=True))
    assert gate.market_exposure("m") == 0 and gate.market_exposure("k") == 5 * U


def test_engine_state_carries_lifecycle_chain_and_fees() -> None:
    from kashbot import amm

    state = EngineState(fee_overrides={"o": amm.Fees(50, 50)})
    state.apply(
        snap(
            1.0,
            freeze_at=100.0,
            expires_at=400.0,
            resolution_state="resolved",
            winning_outcomes=(1,),
            chain_ref="solana:mainnet-beta",
            protocol_fee_bps=80,
            sell_fee_bps=None,
        )
    )
    view = state.market("m")
    assert view.chain_ref == "solana:mainnet-beta" and view.expires_at == 400.0
    assert view.phase(0.0) is Phase.RESOLVED and view.winning_outcomes == (1,)
    assert view.fees == amm.Fees(80, 100) and not view.tradeable(0.0)
    state.apply(MarketSnapshot(1.0, "o", "ACTIVE", HALF, protocol_fee_bps=10))
    assert state.market("o").fees == amm.Fees(50, 50)  # the config override wins
    state.apply(MarketSnapshot(1.0, "x", "ACTIVE", HALF, protocol_fee_bps=20_000))
    assert state.market("x").fees == amm.DEFAULT_FEES  # out of range: ignored


def test_startup_refuses_an_empty_listing_or_a_pin_error_naming_the_pin() -> None:
    assert startup_verdict(pin="2026-08-19", listed=3, expected=True) is None
    assert startup_verdict(pin="2026-04-29", listed=0, expected=False) is None
    verdict = startup_verdict(pin="2026-04-29", listed=0, expected=True)
    assert verdict is not None and "2026-04-29" in verdict.reason
    assert "2026-08-19" in verdict.reason
    with pytest.raises(VenueMismatch, match="2026-04-29"):
        check_startup(pin="2026-04-29", listed=0, expected=True, errors=[ChainNotSupported()])
    assert pin_halt_reason(ValueError("x")) is None
