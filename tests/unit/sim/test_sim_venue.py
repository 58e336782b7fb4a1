"""The venue core on a SimClock: caps, idempotency, confirm gate, lifecycle, quotes, webhooks,
resolution and determinism. No HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kashbot import amm
from kashbot.clock import SimClock
from kashbot.money import USDC_ONE, WAD
from kashbot.sim.embedded import deep_merge, prepare_scenario, scenario_dict
from kashbot.sim.errors import SimError
from kashbot.sim.models import Delivery
from kashbot.sim.venue import Venue
from kashbot.sim.webhooks import signature

M2 = "610464bf-ef0e-4a59-8144-c69601eef85e"
M5 = "38fcee42-9cb4-4fd0-b4c6-5508cd084e33"


def make(
    overrides: dict[str, Any] | None = None, *, noise: bool = False, seed: int = 0, **kw: Any
) -> tuple[Venue, SimClock]:
    clock = SimClock()
    return Venue(
        prepare_scenario(None, overrides=overrides, noise=noise) or scenario_dict(),
        clock=clock,
        seed=seed,
        **kw,
    ), clock


def key(v: Venue, name: str) -> str:
    return v.find_key(name).api_key


def run_until_done(v: Venue, clock: SimClock, trade_id: str) -> str:
    for _ in range(100):
        if v.trades[trade_id].status in ("completed", "failed", "rejected", "cancelled"):
            break
        due = v.next_due()
        assert due is not None
        clock.advance_to(due)
        v.advance()
    return v.trades[trade_id].status


def test_lifecycle_moves_through_states_at_configured_latencies() -> None:
    v, clock = make()
    sub = v.submit_trade(key(v, "developer"), M2, 0, "buy", 10 * USDC_ONE)
    t = sub.trade
    assert sub.status_code == 201 and t.status == "pending"
    clock.advance(0.05)
    v.advance()
    assert t.status == "validating"
    clock.advance(0.1)
    v.advance()
    assert t.status == "executing"
    clock.advance(0.25)
    v.advance()
    assert t.status == "completed" and t.tokens_out and t.tx_hash
    assert [e.type for e in t.trace][-1] == "com.kash.trade.executed.v1"


def test_buy_quote_equals_execution_to_the_atomic_unit() -> None:
    v, clock = make()
    q = v.quote(M5, 3, "buy", 123_456_789)
    t = v.submit_trade(key(v, "developer"), M5, 3, "buy", 123_456_789).trade
    run_until_done(v, clock, t.id)
    assert t.tokens_out == q.tokens_out
    assert v.markets[M5].pool.reserve == q.reserve_after
    assert amm.probabilities(v.markets[M5].pool) == q.q_after


def test_sell_amount_is_usdc_received_and_matches_the_sell_quote() -> None:
    v, clock = make()
    k = key(v, "developer")
    run_until_done(v, clock, v.submit_trade(k, M2, 0, "buy", 200 * USDC_ONE).trade.id)
    tokens = amm.tokens_for_payout(v.markets[M2].pool, 0, 50 * USDC_ONE)
    q = v.quote(M2, 0, "sell", tokens)
    assert q.usdc_out is not None and q.usdc_out >= 50 * USDC_ONE
    t = v.submit_trade(k, M2, 0, "sell", 50 * USDC_ONE).trade
    run_until_done(v, clock, t.id)
    assert t.tokens_in == tokens and t.payout == q.usdc_out
    assert amm.coefficient(v.markets[M2].pool) == q.c_after


def test_sell_bigger_than_the_position_is_insufficient_balance() -> None:
    v, clock = make()
    k = key(v, "developer")
    run_until_done(v, clock, v.submit_trade(k, M2, 0, "buy", 10 * USDC_ONE).trade.id)
    with pytest.raises(SimError) as err:
        v.submit_trade(k, M2, 0, "sell", 20 * USDC_ONE)
    assert err.value.code == "INSUFFICIENT_BALANCE" and err.value.status == 409


def test_per_trade_and_daily_caps_name_the_cap_and_sells_do_not_draw_the_daily_cap() -> None:
    v, clock = make()
    k = key(v, "free")  # 500 per trade, 1,000 rolling 24 h
    with pytest.raises(SimError) as err:
        v.submit_trade(k, M2, 0, "buy", 501 * USDC_ONE)
    assert (err.value.code, err.value.extra["cap"]) == ("SPENDING_LIMIT_EXCEEDED", "per_trade")
    for _ in range(2):
        run_until_done(v, clock, v.submit_trade(k, M2, 0, "buy", 500 * USDC_ONE).trade.id)
    with pytest.raises(SimError) as err:
        v.submit_trade(k, M2, 1, "buy", 1 * USDC_ONE)
    assert err.value.extra["cap"] == "daily_volume"
    sell = v.submit_trade(k, M2, 0, "sell", 100 * USDC_ONE).trade  # sells never draw it
    assert run_until_done(v, clock, sell.id) == "completed"
    clock.advance(86_400)
    v.submit_trade(k, M2, 1, "buy", 1 * USDC_ONE)  # the window rolled


def test_failed_trade_refunds_the_daily_cap() -> None:
    v, clock = make()
    k = key(v, "free")
    v.arm_fault({"kind": "trade_fail", "count": 1, "key": "free"})
    t = v.submit_trade(k, M2, 0, "buy", 500 * USDC_ONE).trade
    assert run_until_done(v, clock, t.id) == "failed" and t.error_code == "EXECUTION_REVERTED"
    assert v.find_key("free").volume.used(clock.now()) == 0


def test_idempotency_replay_conflict_and_expiry() -> None:
    v, clock = make()
    k = key(v, "developer")
    first = v.submit_trade(k, M2, 0, "buy", 10 * USDC_ONE, idempotency_key="ik-1")
    again = v.submit_trade(k, M2, 0, "buy", 10 * USDC_ONE, idempotency_key="ik-1")
    assert again.replay and again.trade is first.trade and again.status_code == 201
    assert len(v.trades) == 1
    with pytest.raises(SimError) as err:
        v.submit_trade(k, M2, 0, "buy", 11 * USDC_ONE, idempotency_key="ik-1")
    assert err.value.code == "IDEMPOTENCY_KEY_CONFLICT" and err.value.status == 409
    with pytest.raises(SimError) as err:
        v.submit_trade(k, M2, 0, "buy", 1 * USDC_ONE, idempotency_key="bad key!")
    assert err.value.code == "IDEMPOTENCY_KEY_FORMAT_INVALID"
    clock.advance(86_400)
    with pytest.raises(SimError) as err:
        v.submit_trade(k, M2, 0, "buy", 10 * USDC_ONE, idempotency_key="ik-1")
    assert err.value.code == "IDEMPOTENCY_KEY_EXPIRED" and err.value.status == 410


def test_client_request_id_returns_the_existing_trade_or_conflicts() -> None:
    v, _ = make()
    k = key(v, "developer")
    a = v.submit_trade(k, M2, 0, "buy", 5 * USDC_ONE, client_request_id="c-1")
    b = v.submit_trade(k, M2, 0, "buy", 5 * USDC_ONE, client_request_id="c-1")
    assert b.replay and b.trade is a.trade
    with pytest.raises(SimError) as err:
        v.submit_trade(k, M2, 1, "buy", 5 * USDC_ONE, client_request_id="c-1")
    assert err.value.code == "CLIENT_REQUEST_ID_CONFLICT"


def test_confirm_gate_at_threshold_then_single_use_token() -> None:
    v, clock = make()
    k = key(v, "mm")  # gate at 50,000
    sub = v.submit_trade(k, M2, 0, "buy", 50_000 * USDC_ONE, idempotency_key="big")
    t = sub.trade
    assert sub.status_code == 202 and t.status == "pending_confirmation"
    assert sub.confirmation_token and len(sub.confirmation_token) == 43
    clock.advance(5)
    v.advance()
    assert t.status == "pending_confirmation"  # nothing moves before confirm
    replay = v.submit_trade(k, M2, 0, "buy", 50_000 * USDC_ONE, idempotency_key="big")
    assert replay.status_code == 202 and replay.confirmation_token == sub.confirmation_token
    with pytest.raises(SimError) as err:
        v.confirm_trade(k, t.id, "x" * 43)
    assert err.value.code == "CONFIRMATION_TOKEN_INVALID"
    v.confirm_trade(k, t.id, sub.confirmation_token)
    with pytest.raises(SimError) as err:
        v.confirm_trade(k, t.id, sub.confirmation_token)
    assert err.value.code == "CONFIRMATION_TOKEN_USED"
    assert run_until_done(v, clock, t.id) == "completed"
    after = v.submit_trade(k, M2, 0, "buy", 50_000 * USDC_ONE, idempotency_key="big")
    assert after.status_code == 200 and after.replay


def test_expired_confirmation_fails_the_trade_and_refunds() -> None:
    v, clock = make()
    k = key(v, "mm")
    sub = v.submit_trade(k, M2, 0, "buy", 50_000 * USDC_ONE)
    clock.advance(60)
    v.advance()
    t = sub.trade
    assert (t.status, t.error_code) == ("failed", "CONFIRMATION_EXPIRED")
    assert v.users[t.user_id].held == 0
    assert v.find_key("mm").volume.used(clock.now()) == 0
    assert sub.confirmation_token
    with pytest.raises(SimError) as err:
        v.confirm_trade(k, t.id, sub.confirmation_token)
    assert err.value.code == "CONFIRMATION_EXPIRED"
    assert [v.events[e].type for e in v._outbox[t.key_id]] == [
        "trade.confirmation-required",
        "trade.failed",
    ]


def test_frozen_market_is_not_tradeable_and_resolution_redeems() -> None:
    v, clock = make()
    k = key(v, "developer")
    t = v.submit_trade(k, M2, 0, "buy", 100 * USDC_ONE).trade
    run_until_done(v, clock, t.id)
    v.freeze_market(M2)
    with pytest.raises(SimError) as err:
        v.submit_trade(k, M2, 0, "buy", 1 * USDC_ONE)
    assert err.value.code == "MARKET_NOT_TRADEABLE"
    with pytest.raises(SimError):
        v.create_redemption(k, M2, 0)  # not resolved yet
    v.resolve_market(M2, (0,))
    pool = v.markets[M2].pool
    assert t.tokens_out is not None
    expected = amm.redemption(pool, (0,), t.tokens_out)
    before = v.balance(k)
    r, replay = v.create_redemption(k, M2, 0)
    assert not replay and r.payout == expected and r.status == "pending"
    assert v.create_redemption(k, M2, 0) == (r, True)
    clock.advance(1)
    v.advance()
    assert r.status == "completed" and v.balance(k) == before + expected


def test_webhook_retries_on_5xx_with_scaled_schedule_and_signature() -> None:
    got: list[Delivery] = []
    answers = iter([503, 500, 200])

    def sink(d: Delivery) -> int:
        got.append(d)
        return next(answers)

    over = {"webhooks": {"retry_time_factor": 0.01, "jitter": 0.0}, "keys": []}
    data = deep_merge(scenario_dict(), over)
    data["keys"] = scenario_dict()["keys"]
    data["keys"][1]["webhook_url"] = "http://127.0.0.1:9/hook"
    clock = SimClock()
    for m in data["markets"]:
        m["noise"]["enabled"] = False
    v = Venue(data, clock=clock, webhook_sink=sink)
    t = v.submit_trade(key(v, "developer"), M2, 0, "buy", 10 * USDC_ONE).trade
    run_until_done(v, clock, t.id)
    v.advance()
    assert len(got) == 1
    clock.advance(0.29)  # second attempt is due 30 s * 0.01 after the first
    v.advance()
    assert len(got) == 1
    clock.advance(0.02)
    v.advance()
    assert len(got) == 2
    clock.advance(1.21)
    v.advance()
    assert len(got) == 3
    ev = v.events[got[0].event_id]
    assert ev.status == "delivered" and ev.attempts == 3
    assert {d.event_id for d in got} == {ev.id} and all(d.body == ev.body for d in got)
    secret = v.find_key("developer").webhook_secret
    assert secret is not None
    header = got[2].headers["X-Kash-Signature"]
    ts = header.split(",")[0].removeprefix("t=")
    assert header.endswith("v1=" + signature(secret, got[2].body, int(ts)))
    assert json.loads(ev.body)["data"]["status"] == "completed"


def test_rotation_dual_signs_during_the_overlap() -> None:
    over = {"keys": scenario_dict()["keys"]}
    over["keys"][1]["webhook_url"] = "http://127.0.0.1:9/hook"
    got: list[Delivery] = []
    v, clock = make(over, webhook_sink=lambda d: got.append(d) or 200)
    k = key(v, "developer")
    old = v.find_key("developer").webhook_secret
    new, _, until = v.rotate_webhook_secret(k)
    with pytest.raises(SimError) as err:
        v.rotate_webhook_secret(k)
    assert err.value.code == "WEBHOOK_SECRET_ROTATION_COOLDOWN"
    run_until_done(v, clock, v.submit_trade(k, M2, 0, "buy", 10 * USDC_ONE).trade.id)
    v.advance()
    header = got[-1].headers["X-Kash-Signature"]
    t_ms = int(header.split(",")[0][2:])
    assert old is not None
    assert header == (
        f"t={t_ms},v1={signature(new, got[-1].body, t_ms)},v1={signature(old, got[-1].body, t_ms)}"
    )
    assert until - clock.now() == pytest.approx(7 * 86_400, abs=1)


def test_redeliver_is_capped_at_five() -> None:
    v, _ = make()
    k = key(v, "mm")
    v.submit_trade(k, M2, 0, "buy", 50_000 * USDC_ONE)
    eid = next(iter(v.events))
    for _ in range(5):
        v.redeliver(k, eid)
    with pytest.raises(SimError) as err:
        v.redeliver(k, eid)
    assert err.value.code == "WEBHOOK_REPLAY_LIMIT_REACHED" and err.value.status == 429


def _history(seed: int) -> list[tuple[Any, ...]]:
    # the whole 40 minutes of rows: the default log keeps only the newest page per market
    v, clock = make({"api": {"prediction_log_size": 2_000}}, noise=True, seed=seed)
    k = key(v, "developer")
    for i in range(20):
        clock.advance(30)
        v.advance()
        if i % 5 == 0:
            v.submit_trade(k, M2, i % 2, "buy", (i + 1) * USDC_ONE, idempotency_key=f"k{i}")
    clock.advance(1800)
    v.advance()
    return v.trade_history()


def test_same_scenario_and_seed_give_identical_trade_history() -> None:
    a, b = _history(7), _history(7)
    assert len(a) > 50 and a == b
    assert any(row[10] == "user" for row in a) and any(row[10] == "noise" for row in a)
    assert _history(8) != a


def test_noise_traders_drift_toward_the_hidden_truth() -> None:
    v, clock = make(noise=True, seed=3)
    clock.advance(3 * 3600)
    v.advance()
    q = amm.probabilities(v.markets[M2].pool)[0]
    truth = v.truth(M2)[0]
    assert abs(q - truth) < abs(WAD // 2 - truth)  # closer to the truth than the 50/50 seed


def test_apply_external_trade_moves_the_pool_like_a_buy() -> None:
    v, _ = make()
    before = v.markets[M2].pool
    p = v.apply_external_trade(M2, 1, "buy", 40 * USDC_ONE)
    assert p.tokens_out == amm.buy(before, 1, 40 * USDC_ONE).tokens_out
    assert v.predictions(M2)[0] is p and p.source == "external"


def test_auth_codes() -> None:
    v, _ = make()
    cases = {
        None: "API_KEY_MISSING",
        "kash_test_short": "API_KEY_MALFORMED",
        "kash_live_" + "a" * 32: "API_KEY_INVALID",
    }
    for raw, code in cases.items():
        with pytest.raises(SimError) as err:
            v.authenticate(raw)
        assert err.value.code == code and err.value.status == 401
    v.find_key("free").revoked = True
    with pytest.raises(SimError) as err:
        v.authenticate(key(v, "free"))
    assert err.value.code == "API_KEY_REVOKED"


def _hooked(sink: Any) -> tuple[Venue, SimClock]:
    over = {"keys": scenario_dict()["keys"]}
    over["keys"][1]["webhook_url"] = "http://127.0.0.1:9/hook"
    return make(over, webhook_sink=sink)


def _one_trade_deliveries(fault: dict[str, Any], trades: int = 1) -> tuple[Venue, list[str]]:
    got: list[str] = []
    v, clock = _hooked(lambda d: got.append(d.event_id) or 200)
    v.arm_fault(fault)
    k = key(v, "developer")
    ids = [v.submit_trade(k, M2, i % 2, "buy", 5 * USDC_ONE).trade.id for i in range(trades)]
    for tid in ids:
        run_until_done(v, clock, tid)
    clock.advance(60)  # past the first retry (30 s +- 20 %)
    v.advance()
    return v, got


def test_webhook_outage_fails_an_attempt_without_reaching_the_receiver() -> None:
    v, got = _one_trade_deliveries({"kind": "webhook_outage", "count": 1})
    ev = next(iter(v.events.values()))
    assert (ev.status, ev.attempts, len(got)) == ("delivered", 2, 1)


def test_webhook_duplicate_posts_the_same_event_twice() -> None:
    v, got = _one_trade_deliveries({"kind": "webhook_duplicate", "count": 1})
    assert got == [next(iter(v.events))] * 2


def test_webhook_reorder_delivers_the_second_event_first() -> None:
    v, got = _one_trade_deliveries({"kind": "webhook_reorder", "count": 1}, trades=2)
    in_order = sorted(v.events.values(), key=lambda e: e.seq)
    assert got == [in_order[1].id, in_order[0].id]


def test_4xx_is_terminal_after_one_attempt() -> None:
    v, clock = _hooked(lambda d: 410)
    t = v.submit_trade(key(v, "developer"), M2, 0, "buy", 5 * USDC_ONE).trade
    run_until_done(v, clock, t.id)
    v.advance()
    ev = next(iter(v.events.values()))
    assert (ev.status, ev.attempts, ev.last_failure_code) == ("failed", 1, "terminal_client_error")
