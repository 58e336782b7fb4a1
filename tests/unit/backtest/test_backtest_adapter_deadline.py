"""The backtest adapter honours ``create_trade(not_after=...)`` on the venue's clock, as the REST
client does: past the deadline nothing reaches the venue (no trade, no request counted)."""

from __future__ import annotations

import pytest

from kashbot.backtest.venue_adapter import SimVenueAdapter
from kashbot.client.errors import RequestDeadlineExceeded
from kashbot.clock import SimClock
from kashbot.sim.venue import Venue


def adapter() -> tuple[SimVenueAdapter, Venue, str]:
    venue = Venue(clock=SimClock(start=1_000.0), seed=1)
    key = next(k for k in venue.keys.values() if k.tier == "developer")
    market_id = next(iter(venue.markets))
    return SimVenueAdapter(venue, key.api_key), venue, market_id


async def test_a_passed_deadline_sends_nothing() -> None:
    a, venue, market_id = adapter()
    with pytest.raises(RequestDeadlineExceeded) as info:
        await a.create_trade(market_id, 0, "buy", "2", not_after=venue.clock.now() - 0.5)
    assert info.value.sent is False and info.value.code == "CLIENT_DEADLINE_EXCEEDED"
    assert not venue.trades and a.requests_used == 0


async def test_a_deadline_still_ahead_trades() -> None:
    a, venue, market_id = adapter()
    created = await a.create_trade(market_id, 0, "buy", "2", not_after=venue.clock.now() + 1.0)
    assert list(venue.trades) == [created.trade.id] and a.requests_used == 1
