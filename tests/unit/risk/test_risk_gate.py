"""The gate's decisions, reservations, trading state and venue-error reactions."""

from __future__ import annotations

import dataclasses

import pytest
import structlog

from kashbot.clock import SimClock
from kashbot.events import (
    Event,
    OrderIntent,
    PositionSync,
    RiskDenied,
    Side,
    TradeUpdate,
    TradingState,
    TradingStateChanged,
)
from kashbot.money import USDC_ONE, WAD
from kashbot.risk.gate import Approval, Denial, Reason, RiskGate
from kashbot.risk.limits import Limits

U = USDC_ONE


def intent(
    n: int,
    amount: int = 10 * U,
    *,
    side: Side = Side.BUY,
    market: str = "m1",
    closing: bool = False,
) -> OrderIntent:
    return OrderIntent(f"i{n}", "s", market, 0, side, amount, closing=closing)


def make(**kw: object) -> tuple[RiskGate, list[Event], SimClock]:
    events: list[Event] = []
    clock = SimClock()
    limits = Limits.for_tier("free", **kw)  # type: ignore[arg-type]
    return RiskGate(limits, clock=clock, emit=events.append), events, clock


def test_approval_cannot_be_forged() -> None:
    with pytest.raises(TypeError):
        Approval(intent(1), "k", "r", 0, 0, False, False, 0.0)
    gate, _, _ = make()
    a = gate.check(intent(1))
    assert isinstance(a, Approval)
    with pytest.raises(TypeError):
        dataclasses.replace(a, daily_draw=0, _mint=None)


def test_replace_cannot_turn_an_approval_into_another() -> None:
    """Copying the mint token onto another intent (or other terms) fails: it is sealed to them."""
    gate, _, _ = make()
    a = gate.check(intent(1))
    assert isinstance(a, Approval)
    huge = OrderIntent("i1", "s", "m1", 0, Side.BUY, 10_000_000 * U)
    with pytest.raises(TypeError):
        dataclasses.replace(a, intent=huge)
    with pytest.raises(TypeError):
        dataclasses.replace(a, intent=dataclasses.replace(a.intent, amount=a.intent.amount + 1))
    with pytest.raises(TypeError):
        dataclasses.replace(a, _mint=None)
    with pytest.raises(TypeError):
        dataclasses.replace(a, _mint=b"\0" * 32)
    with pytest.raises(TypeError):
        dataclasses.replace(a, daily_draw=0)
    with pytest.raises(TypeError):
        dataclasses.replace(a, auto_confirm=not a.auto_confirm)
    with pytest.raises(TypeError):
        dataclasses.replace(a, reservation_id="r-other")
    same = dataclasses.replace(a)  # the same terms re-sealed, but not the object the gate issued
    assert same == a
    assert gate.is_issued(a)
    assert not gate.is_issued(same)


def test_is_issued_follows_the_approval_until_settled_or_released() -> None:
    gate, _, _ = make()
    other, _, _ = make()
    a = gate.check(intent(1))
    b = gate.check(intent(2))
    assert isinstance(a, Approval) and isinstance(b, Approval)
    assert gate.is_issued(a) and gate.is_issued(b)
    assert not other.is_issued(a)  # another gate never issued it
    gate.commit(a)
    assert gate.is_issued(a)  # accepted, still in flight
    gate.settle(a.reservation_id, side=Side.BUY, amount=a.intent.amount, completed=True)
    assert not gate.is_issued(a)
    gate.release(b)
    assert not gate.is_issued(b)


def test_caps_and_reason_codes() -> None:
    gate, events, _ = make(daily_cap=25 * U, per_trade_cap=20 * U)
    assert isinstance(gate.check(intent(1, 20 * U)), Approval)
    d = gate.check(intent(2, 21 * U))
    assert isinstance(d, Denial) and d.reason is Reason.PER_TRADE_CAP
    d = gate.check(intent(3, 6 * U))
    assert isinstance(d, Denial) and d.reason is Reason.DAILY_CAP
    assert isinstance(gate.check(intent(4, 5 * U)), Approval)  # exactly at the cap
    d = gate.check(intent(5, 1))
    assert isinstance(d, Denial) and d.reason is Reason.BELOW_MINIMUM
    d = gate.check(intent(4, 5 * U))
    assert isinstance(d, Denial) and d.reason is Reason.DUPLICATE_INTENT
    d = gate.check(OrderIntent("bad id!", "s", "m", 0, Side.BUY, U))
    assert isinstance(d, Denial) and d.reason is Reason.INVALID_INTENT
    denied = [e for e in events if isinstance(e, RiskDenied)]
    assert [e.reason for e in denied] == [
        "PER_TRADE_CAP",
        "DAILY_CAP",
        "BELOW_MINIMUM",
        "DUPLICATE_INTENT",
        "INVALID_INTENT",
    ]
    assert denied[0].intent_id == "i2"


def test_sells_do_not_draw_the_daily_cap() -> None:
    gate, _, clock = make(daily_cap=10 * U)
    assert isinstance(gate.check(intent(1, 10 * U)), Approval)
    a = gate.check(intent(2, 10 * U, side=Side.SELL))
    assert isinstance(a, Approval) and a.daily_draw == 0
    assert gate.ledger.used(clock.now()) == 10 * U


def test_closing_buy_draws_the_daily_cap() -> None:
    """Kash has no close-position field: the server counts every buy, so the gate does too."""
    gate, _, _ = make(daily_cap=10 * U)
    gate.check(intent(1, 10 * U))
    d = gate.check(intent(2, U, closing=True))
    assert isinstance(d, Denial) and d.reason is Reason.DAILY_CAP


def test_closing_flag_does_not_let_a_buy_past_reducing_stale_or_exposure_caps() -> None:
    """A buy never reduces exposure on Kash (there is no short), whatever the strategy says."""
    gate, _, _ = make(market_exposure_cap=15 * U, total_exposure_cap=25 * U)
    gate.set_market_exposure({"m1": 10 * U, "m2": 10 * U})
    d = gate.check(intent(1, 6 * U, closing=True))
    assert isinstance(d, Denial) and d.reason is Reason.MARKET_EXPOSURE
    d = gate.check(intent(2, 6 * U, market="m3", closing=True))
    assert isinstance(d, Denial) and d.reason is Reason.TOTAL_EXPOSURE
    a = gate.check(intent(3, 5 * U, closing=True))
    assert isinstance(a, Approval) and a.exposure == 5 * U and a.daily_draw == 5 * U
    assert gate.market_exposure("m1") == 15 * U  # in flight like any buy
    gate.mark_stale("m2")
    d = gate.check(intent(4, U, market="m2", closing=True))
    assert isinstance(d, Denial) and d.reason is Reason.STALE_DATA
    gate.reduce("low balance")
    d = gate.check(intent(5, U, market="m4", closing=True))
    assert isinstance(d, Denial) and d.reason is Reason.REDUCING_ONLY
    assert isinstance(gate.check(intent(6, U, side=Side.SELL)), Approval)


def test_release_restores_headroom_and_commit_expires_after_a_day() -> None:
    gate, _, clock = make(daily_cap=10 * U)
    a = gate.check(intent(1, 10 * U))
    assert isinstance(a, Approval)
    gate.release(a)
    b = gate.check(intent(2, 10 * U))
    assert isinstance(b, Approval)
    gate.commit(b)
    assert isinstance(gate.check(intent(3, U)), Denial)
    clock.advance(86_400.0 + 1)
    assert isinstance(gate.check(intent(4, 10 * U)), Approval)


def test_exposure_limits() -> None:
    gate, _, _ = make(market_exposure_cap=15 * U, total_exposure_cap=25 * U)
    gate.set_market_exposure({"m1": 5 * U})
    assert isinstance(gate.check(intent(1, 10 * U)), Approval)
    d = gate.check(intent(2, U))
    assert isinstance(d, Denial) and d.reason is Reason.MARKET_EXPOSURE
    assert isinstance(gate.check(intent(3, 10 * U, market="m2")), Approval)
    d = gate.check(intent(4, U, market="m3"))
    assert isinstance(d, Denial) and d.reason is Reason.TOTAL_EXPOSURE
    assert isinstance(gate.check(intent(5, U, side=Side.SELL)), Approval)  # exits always fit


def test_settle_moves_exposure() -> None:
    gate, _, _ = make(market_exposure_cap=15 * U)
    a = gate.check(intent(1, 10 * U))
    assert isinstance(a, Approval)
    gate.commit(a)
    gate.settle(a.reservation_id, side=Side.BUY, amount=10 * U, completed=True)
    assert gate.market_exposure("m1") == 10 * U
    s = gate.check(intent(2, 4 * U, side=Side.SELL))
    assert isinstance(s, Approval)
    gate.settle(s.reservation_id, side=Side.SELL, amount=4 * U, completed=True)
    assert gate.market_exposure("m1") == 6 * U
    f = gate.check(intent(3, 5 * U))
    assert isinstance(f, Approval)
    gate.settle(f.reservation_id, side=Side.BUY, amount=5 * U, completed=False)
    assert gate.market_exposure("m1") == 6 * U


def _fill(gate: RiskGate, n: int, side: Side, usdc: int, tokens: int | None) -> None:
    """Approve, accept and complete one trade; the executor's TradeUpdate reaches observe."""
    a = gate.check(intent(n, usdc, side=side, closing=side is Side.SELL))
    assert isinstance(a, Approval)
    gate.commit(a)
    gate.settle(a.reservation_id, side=side, amount=usdc, completed=True)
    gate.observe(
        TradeUpdate(0.0, f"t{n}", f"i{n}", "m1", 0, side, usdc, "completed", tokens=tokens)
    )


def test_sell_releases_average_cost_not_proceeds() -> None:
    """100 USDC bought 200 tokens; selling half for 80 USDC (a profit) leaves 50 USDC at risk,
    not 100 - 80 = 20."""
    gate, _, _ = make(market_exposure_cap=120 * U)
    _fill(gate, 1, Side.BUY, 100 * U, 200 * WAD)
    assert gate.market_exposure("m1") == 100 * U
    _fill(gate, 2, Side.SELL, 80 * U, 100 * WAD)
    assert gate.market_exposure("m1") == 50 * U
    d = gate.check(intent(3, 71 * U))
    assert isinstance(d, Denial) and d.reason is Reason.MARKET_EXPOSURE  # 50 + 71 > 120
    assert isinstance(gate.check(intent(4, 70 * U)), Approval)
    _fill(gate, 5, Side.SELL, 10 * U, 100 * WAD)  # the rest, at a loss: all cost released
    assert gate.market_exposure("m1") == 70 * U  # only intent 4, still in flight


def test_sell_without_token_count_takes_the_venue_cost_from_the_sync() -> None:
    gate, _, _ = make()
    _fill(gate, 1, Side.BUY, 90 * U, 300 * WAD)
    s = gate.check(intent(2, 5 * U, side=Side.SELL, closing=True))
    assert isinstance(s, Approval)
    gate.settle(s.reservation_id, side=Side.SELL, amount=5 * U, completed=True)
    assert gate.market_exposure("m1") == 90 * U  # nothing known yet: still at risk
    gate.observe(PositionSync(0.0, "m1", 0, 200 * WAD, 60 * U, trade_id="t2"))
    assert gate.market_exposure("m1") == 60 * U
    gate.observe(TradeUpdate(0.0, "t2", "i2", "m1", 0, Side.SELL, 5 * U, "completed"))
    assert gate.market_exposure("m1") == 60 * U  # the final update adds nothing
    gate.observe(TradeUpdate(0.0, "t2", "i2", "m1", 0, Side.SELL, 5 * U, "completed", 9 * WAD))
    assert gate.market_exposure("m1") == 60 * U  # a duplicate is ignored


def test_sell_of_a_position_the_gate_never_saw_takes_off_proceeds() -> None:
    """After a restart only market totals are known: the sale's proceeds come off, and a sync
    of that outcome is taken as the starting point, not subtracted again."""
    gate, _, _ = make()
    gate.set_market_exposure({"m1": 40 * U})
    s = gate.check(intent(1, 15 * U, side=Side.SELL, closing=True))
    assert isinstance(s, Approval)
    gate.settle(s.reservation_id, side=Side.SELL, amount=15 * U, completed=True)
    assert gate.market_exposure("m1") == 25 * U
    gate.observe(PositionSync(0.0, "m1", 0, 50 * WAD, 20 * U))
    assert gate.market_exposure("m1") == 25 * U
    _fill(gate, 2, Side.SELL, 3 * U, 25 * WAD)  # now known: half the shares, half the cost
    assert gate.market_exposure("m1") == 15 * U


def test_states_kill_switch_and_reducing() -> None:
    gate, events, _ = make()
    gate.reduce("operator")
    d = gate.check(intent(1))
    assert isinstance(d, Denial) and d.reason is Reason.REDUCING_ONLY
    assert isinstance(gate.check(intent(2, side=Side.SELL)), Approval)
    gate.halt("kill switch")
    d = gate.check(intent(3, side=Side.SELL))
    assert isinstance(d, Denial) and d.reason is Reason.HALTED
    gate.resume()
    assert isinstance(gate.check(intent(4)), Approval)
    changes = [(e.old, e.new) for e in events if isinstance(e, TradingStateChanged)]
    assert changes == [
        (TradingState.ACTIVE, TradingState.REDUCING),
        (TradingState.REDUCING, TradingState.HALTED),
        (TradingState.HALTED, TradingState.ACTIVE),
    ]


def test_stale_and_untradeable_markets() -> None:
    gate, _, _ = make()
    gate.mark_stale("m1")
    d = gate.check(intent(1))
    assert isinstance(d, Denial) and d.reason is Reason.STALE_DATA
    assert isinstance(gate.check(intent(2, side=Side.SELL)), Approval)
    gate.mark_fresh("m1")
    assert isinstance(gate.check(intent(3)), Approval)
    gate.mark_untradeable("m2")
    d = gate.check(intent(4, market="m2", side=Side.SELL))
    assert isinstance(d, Denial) and d.reason is Reason.MARKET_NOT_TRADEABLE


@pytest.mark.parametrize(
    "code", ["API_KEY_REVOKED", "WALLET_DELEGATION_NOT_ENABLED", "INSUFFICIENT_SCOPE"]
)
def test_halting_codes(code: str) -> None:
    gate, _, _ = make()
    gate.record_failure(code)
    assert gate.state is TradingState.HALTED


def test_platform_halt_resumes_after_retry_after() -> None:
    gate, _, clock = make()
    gate.reduce("low balance")
    gate.record_failure("API_TRADE_PROCESSING_HALTED", retry_after=300.0)
    assert gate.state is TradingState.HALTED
    clock.advance(299.0)
    assert gate.state is TradingState.HALTED
    clock.advance(2.0)
    assert gate.state is TradingState.REDUCING


def test_consecutive_failures_halt_and_success_resets() -> None:
    events: list[Event] = []
    gate = RiskGate(
        Limits.for_tier("free"), clock=SimClock(), emit=events.append, max_consecutive_failures=3
    )
    gate.record_failure("INTERNAL_ERROR")
    gate.record_failure("INTERNAL_ERROR")
    gate.record_success()
    gate.record_failure("INTERNAL_ERROR")
    gate.record_failure("INTERNAL_ERROR")
    assert gate.state is TradingState.ACTIVE
    gate.record_failure("INTERNAL_ERROR")
    assert gate.state is TradingState.HALTED


def test_spending_limit_reactions() -> None:
    gate, _, _ = make()
    gate.on_spending_limit("per_trade", 300 * U)
    assert gate.limits.per_trade_cap == 300 * U - 1
    gate.on_spending_limit("daily_volume", 10 * U)
    assert gate.state is TradingState.REDUCING


def test_confirm_ceiling_policy() -> None:
    ent = Limits.for_tier("enterprise", auto_confirm_ceiling=30_000 * U)
    g = RiskGate(ent, clock=SimClock())
    a = g.check(intent(1, 25_000 * U))
    assert isinstance(a, Approval) and a.expects_confirmation and a.auto_confirm
    ent2 = Limits.for_tier("enterprise", auto_confirm_ceiling=0, deny_above_ceiling=True)
    g2 = RiskGate(ent2, clock=SimClock())
    d = g2.check(intent(2, 25_000 * U))
    assert isinstance(d, Denial) and d.reason is Reason.CONFIRM_CEILING
    ok = g2.check(intent(3, 24_999 * U))
    assert isinstance(ok, Approval) and not ok.expects_confirmation


def test_every_denial_is_one_log_line() -> None:
    gate, _, _ = make(per_trade_cap=5 * U)
    with structlog.testing.capture_logs() as logs:
        gate.check(intent(1, 6 * U))
    lines = [entry for entry in logs if entry["event"] == "risk_denied"]
    assert len(lines) == 1
    assert lines[0]["reason"] == "PER_TRADE_CAP" and lines[0]["intent_id"] == "i1"


def test_snapshot_known_intents_is_a_read_only_live_view() -> None:
    gate, _, _ = make()
    gate.remember_intents(["old"])
    snap = gate.snapshot(0.0)
    assert "old" in snap.known_intents and not hasattr(snap.known_intents, "add")
    assert isinstance(gate.check(intent(1)), Approval)
    assert "i1" in snap.known_intents  # no copy per check
    d = gate.check(intent(1))
    assert isinstance(d, Denial) and d.reason is Reason.DUPLICATE_INTENT


def test_a_minted_approval_carries_the_seal_of_its_terms() -> None:
    """``mint`` seals once (in ``__post_init__``): the stored seal is the HMAC of the terms, so a
    faithful copy passes and the seal is never the minting marker itself."""
    from kashbot.risk import approval as approval_module

    gate, _, _ = make()
    a = gate.check(intent(1))
    assert isinstance(a, Approval)
    assert isinstance(a._mint, bytes) and len(a._mint) == 32
    terms = tuple(getattr(a, name) for name in approval_module._TERMS)
    assert a._mint == approval_module._seal(a.intent, terms)
    assert dataclasses.replace(a) == a
