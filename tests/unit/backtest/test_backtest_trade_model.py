"""Issue 17: the backtest adapter builds ``Trade``/``TradeCreated`` directly; they must equal what
the client reads from the simulator's JSON (``serialize.trade`` + ``model_validate``), field for
field and with the same set of given fields."""

from __future__ import annotations

import pytest

from kashbot.backtest.trade_model import trade_model
from kashbot.backtest.venue_adapter import SimVenueAdapter
from kashbot.client.models import Trade, TradeCreated
from kashbot.clock import SimClock
from kashbot.sim import serialize
from kashbot.sim.chains import V_SOLANA
from kashbot.sim.ids import iso
from kashbot.sim.venue import Venue


def check_all(venue: Venue) -> int:
    for t in venue.trades.values():
        want = Trade.model_validate(serialize.trade(venue, t))
        got = trade_model(venue, t)
        assert got == want
        assert got.model_fields_set == want.model_fields_set
        assert got.model_dump() == want.model_dump()
    return len(venue.trades)


def round_trip(venue: Venue, c: TradeCreated) -> TradeCreated:
    """What the client reads from the 201/202 body for the same trade, now."""
    t = venue.trades[c.trade.id]
    conf = None
    if t.status == "pending_confirmation" and t.token and t.token_expires_at is not None:
        conf = {"token": t.token, "expiresAt": iso(t.token_expires_at)}
    return TradeCreated.model_validate(
        {
            "trade": serialize.trade(venue, t),
            "confirmation": conf,
            "idempotentReplay": c.idempotent_replay,
            "idempotencyKey": c.idempotency_key,
            "statusCode": c.status_code,
        }
    )


async def create(a: SimVenueAdapter, *args: str | int, **kw: str) -> TradeCreated:
    c = await a.create_trade(*args, **kw)  # type: ignore[arg-type]
    want = round_trip(a.venue, c)
    assert c == want and c.model_fields_set == want.model_fields_set
    assert c.model_dump() == want.model_dump()
    return c


@pytest.mark.parametrize("version", [None, V_SOLANA])
async def test_built_trades_equal_the_round_trip(version: str | None) -> None:
    clock = SimClock(start=1_000.0)
    venue = Venue(clock=clock, seed=3)
    if version is not None:  # a version that serves chainRef
        api = venue.scenario.api.model_copy(update={"default_version": version})
        venue.scenario = venue.scenario.model_copy(update={"api": api})
    key = next(k for k in venue.keys.values() if k.tier == "enterprise")
    venue.set_webhook(key.id, "http://127.0.0.1:9/hook")
    a = SimVenueAdapter(venue, key.api_key, enforce_rate_limit=False)
    markets = list(venue.markets)  # EVM and Solana markets
    for i, mid in enumerate(markets):
        await create(a, mid, 0, "buy", "12.5", client_request_id=f"c{i}")
    big = await create(a, markets[1], 1, "buy", "25000", idempotency_key="kb-big")  # a 202
    assert big.confirmation is not None and big.status_code == 202
    await create(a, markets[1], 1, "buy", "25000", idempotency_key="kb-big")  # replay
    check_all(venue)
    clock.advance(30.0)
    venue.advance()
    await create(a, markets[0], 0, "sell", "2")
    clock.advance(30.0)
    venue.advance()
    venue.arm_fault({"kind": "trade_fail"})
    await create(a, markets[0], 1, "buy", "3")
    clock.advance(30.0)
    venue.advance()
    assert check_all(venue) == len(markets) + 3
    assert {t.status for t in venue.trades.values()} >= {"completed", "failed"}
    sells = [(t.status, t.error_code) for t in venue.trades.values() if t.side == "sell"]
    assert sells == [("completed", None)]
