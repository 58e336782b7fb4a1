"""The market lifecycle, chains and cancel refunds inside the venue (no HTTP)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot import amm
from kashbot.clock import SimClock
from kashbot.money import ATOMIC_TO_WAD, USDC_ONE
from kashbot.sim.chains import base58
from kashbot.sim.embedded import scenario_dict
from kashbot.sim.errors import SimError
from kashbot.sim.redemptions import cancel_refund
from kashbot.sim.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario
from kashbot.sim.venue import Venue

LIFECYCLE = DEFAULT_SCENARIO.parent / "lifecycle.yaml"
SOL = "5a1a0c3e-8f7e-4d0b-9a53-0c1d7e2f4a01"
CANCEL = "5a1a0c3e-8f7e-4d0b-9a53-0c1d7e2f4a03"


def venue(**over: Any) -> tuple[Venue, SimClock]:
    clock = SimClock()
    data = scenario_dict(LIFECYCLE)
    for m in data["markets"]:
        m["noise"] = {"enabled": False}
    data.update(over)
    return Venue(data, clock=clock), clock


def dev_key(v: Venue) -> str:
    return next(k.api_key for k in v.keys.values() if k.name == "developer")


def test_base58_matches_the_bitcoin_alphabet() -> None:
    assert base58(b"\0\0\x01") == "112"
    assert base58(bytes([0xFF] * 4)) == "7YXq9G"


def test_freeze_defaults_to_expiry_minus_lead_and_cancels_a_trade_in_flight() -> None:
    v, clock = venue()
    m = v.markets[SOL]
    assert m.expires_at is not None and m.freeze_at == m.expires_at - 60
    k = dev_key(v)
    clock.advance(179.95)
    t = v.submit_trade(k, SOL, 0, "buy", 5 * USDC_ONE).trade  # accepted just before the freeze
    clock.advance(1)
    v.advance()
    assert (t.status, t.error_code) == ("failed", "MARKET_NOT_TRADEABLE")
    assert v.users[t.user_id].held == 0


def test_timeline_runs_on_the_heap_in_order() -> None:
    v, clock = venue()
    m = v.markets[SOL]
    seen = []
    for s in (239, 241, 256, 286, 291):
        clock.advance(v.start + s - clock.now())
        v.advance()
        seen.append((m.status, m.resolution_state))
    assert seen == [
        ("ACTIVE", None),
        ("ACTIVE", "resolving"),
        ("ACTIVE", "proposed"),
        ("ACTIVE", "settling"),
        ("RESOLVED", "resolved"),
    ]
    assert v.markets[CANCEL].status == "ABANDONED"
    assert v.markets[CANCEL].resolution_state == "cancelled"


def test_same_seed_same_solana_signatures() -> None:
    def run() -> list[Any]:
        v, clock = venue()
        k = dev_key(v)
        v.submit_trade(k, SOL, 0, "buy", 5 * USDC_ONE)
        clock.advance(1)
        v.advance()
        return v.trade_history()

    first = run()
    assert first == run() and first[0][9] and not first[0][9].startswith("0x")


def test_redeeming_a_losing_or_unsettled_position_is_not_claimable() -> None:
    v, clock = venue()
    k = dev_key(v)
    v.submit_trade(k, SOL, 1, "buy", 5 * USDC_ONE)
    clock.advance(1)
    with pytest.raises(SimError) as err:
        v.create_redemption(k, SOL, 1)
    assert err.value.code == "POSITION_NOT_CLAIMABLE" and err.value.status == 409
    clock.advance(300)
    with pytest.raises(SimError) as err:
        v.create_redemption(k, SOL, 1)
    assert err.value.code == "POSITION_NOT_CLAIMABLE" and "lost" in err.value.detail


@pytest.mark.parametrize(
    ("market", "message"),
    [
        ({"resolve": {"after_s": 5, "winners": [0], "cancel": True}}, "either winners or cancel"),
        ({"resolve": {"winners": [0]}}, "resolve.after_s is required"),
        ({"chain": "eip155:8453"}, "chain must be"),
        ({"chain": "solana:mainnet-beta", "contract_address": "0x" + "ab" * 20}, "address"),
    ],
)
def test_scenario_rejects_bad_market_lifecycles(market: dict[str, Any], message: str) -> None:
    data = scenario_dict(LIFECYCLE)
    data["markets"][0] = {**data["markets"][0], **market}
    if "resolve" in market:
        data["markets"][0].pop("expires_after_s", None)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(data)


@settings(max_examples=60, deadline=None)
@given(
    chances=st.lists(st.integers(1, 98), min_size=2, max_size=5),
    buys=st.lists(st.tuples(st.integers(0, 4), st.integers(1, 5_000)), max_size=8),
)
def test_cancel_refunds_of_every_token_never_exceed_the_reserve(
    chances: list[int], buys: list[tuple[int, int]]
) -> None:
    total = sum(chances)
    wads = [c * 10**18 // total for c in chances]
    wads[-1] += 10**18 - sum(wads)
    pool = amm.seed_pool(1_000 * USDC_ONE, tuple(wads), len(wads))
    for outcome, usdc in buys:
        pool = amm.buy(pool, outcome % pool.outcome_count, usdc * USDC_ONE).pool
    refunds = sum(cancel_refund(pool, i, s) for i, s in enumerate(pool.supplies))
    reserve = pool.reserve // ATOMIC_TO_WAD
    assert reserve - pool.outcome_count <= refunds <= reserve


def test_signatures_are_base58_alphabet_strings_of_solana_length() -> None:
    from kashbot.sim.chains import SIGNATURE_CHARS, signature

    sig = signature(bytes(range(256))[:SIGNATURE_CHARS])
    assert len(sig) == SIGNATURE_CHARS
    assert re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]+", sig)  # kash-today §7.4's txHash alphabet


def test_chunked_base58_matches_the_digit_loop() -> None:
    import random

    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

    def digit_loop(raw: bytes) -> str:
        n, out = int.from_bytes(raw, "big"), ""
        while n:
            n, r = divmod(n, 58)
            out = alphabet[r] + out
        return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out

    rng = random.Random(7)
    cases = [b"", b"\0", bytes(64), b"\0\0\x01"] + [
        rng.randbytes(rng.randrange(70)) for _ in range(2000)
    ]
    assert [base58(c) for c in cases] == [digit_loop(c) for c in cases]
