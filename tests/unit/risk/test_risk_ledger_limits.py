"""Rolling ledger arithmetic and the tier caps model."""

from __future__ import annotations

import pytest

from kashbot.money import USDC_ONE
from kashbot.risk.ledger import LedgerError, SpendEntry, SpendLedger
from kashbot.risk.limits import TIER_DEFAULTS, Limits, LimitsError, Tier


def test_reserve_commit_release_and_window() -> None:
    led = SpendLedger(window_s=100.0)
    led.reserve("a", 10, now=0.0)
    led.reserve("b", 5, now=1.0)
    assert led.used(1.0) == 15
    assert led.release("b") == 5
    assert led.used(1.0) == 10
    led.commit("a", now=20.0)  # window counts from acceptance
    assert led.used(119.0) == 10
    assert led.next_expiry(50.0) == 120.0
    assert led.prune(120.0) == ["a"]  # a restart's prune: the ids the store drops
    assert led.entries() == []
    led.reserve("c", 3, now=130.0)
    led.commit("c", now=130.0)
    assert led.used(229.0) == 3
    assert led.used(230.0) == 0  # left the window: forgotten without a prune
    assert led.entries() == []


def test_open_reservations_never_expire() -> None:
    led = SpendLedger(window_s=10.0)
    led.reserve("a", 7, now=0.0)
    assert led.used(1_000.0) == 7


def test_reused_or_unknown_ids_are_errors() -> None:
    led = SpendLedger()
    led.reserve("a", 1, now=0.0)
    with pytest.raises(LedgerError):
        led.reserve("a", 1, now=0.0)
    with pytest.raises(LedgerError):
        led.release("zz")
    with pytest.raises(LedgerError):
        led.commit("zz", now=0.0)


def test_restore_round_trip() -> None:
    entries = [SpendEntry("a", 3, 5.0, True), SpendEntry("b", 4, 6.0, False)]
    led = SpendLedger(entries=entries)
    assert led.used(6.0) == 7
    assert sorted(e.entry_id for e in led.entries()) == ["a", "b"]


def test_tier_table_matches_api_notes() -> None:
    free = TIER_DEFAULTS[Tier.FREE]
    assert (free.per_trade_cap, free.daily_cap, free.confirm_threshold) == (
        500 * USDC_ONE,
        1_000 * USDC_ONE,
        None,
    )
    mm = TIER_DEFAULTS[Tier.MM]
    assert (mm.per_trade_cap, mm.daily_cap, mm.confirm_threshold) == (
        50_000 * USDC_ONE,
        1_000_000 * USDC_ONE,
        50_000 * USDC_ONE,
    )
    ent = Limits.for_tier("enterprise")
    assert ent.needs_confirmation(25_000 * USDC_ONE)
    assert not ent.needs_confirmation(25_000 * USDC_ONE - 1)
    assert TIER_DEFAULTS[Tier.DEVELOPER].requests_per_min == 300


def test_limits_lowerable_not_raisable() -> None:
    low = Limits.for_tier("free", per_trade_cap=100 * USDC_ONE, daily_cap=200 * USDC_ONE)
    assert low.per_trade_cap == 100 * USDC_ONE
    with pytest.raises(LimitsError, match="per_trade_cap"):
        Limits.for_tier("free", per_trade_cap=501 * USDC_ONE)
    with pytest.raises(LimitsError, match="daily_cap"):
        Limits.for_tier("developer", daily_cap=10_001 * USDC_ONE)
    with pytest.raises(LimitsError, match="confirm_threshold"):
        Limits.for_tier("mm", confirm_threshold=60_000 * USDC_ONE)
    raised = Limits.for_tier("mm", daily_cap=2_000_000 * USDC_ONE, contract_override=True)
    assert raised.daily_cap == 2_000_000 * USDC_ONE
    with pytest.raises(LimitsError, match="market_exposure_cap"):
        Limits.for_tier("free", market_exposure_cap=0)


def test_limits_errors_name_the_field_and_speak_usdc() -> None:
    with pytest.raises(LimitsError) as info:
        Limits.for_tier("free", per_trade_cap=500_500_000)
    assert info.value.field == "per_trade_cap"
    assert "500.5 USDC is above the free tier's 500 USDC" in str(info.value)
    with pytest.raises(LimitsError, match="unset, but the mm tier's is 50000 USDC"):
        Limits(Tier.MM, 1, 1, None)
