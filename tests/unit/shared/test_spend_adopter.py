"""SpendAdopter's decisions on a scripted trade list: what counts against the key's cap, what is
ours, nothing counted twice, and a scan that stops at what it has already settled."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from kashbot.client.models import Trade
from kashbot.client.models.wire import Page
from kashbot.clock import WallClock
from kashbot.events import OrderIntent, Side
from kashbot.execution.adoption import SpendAdopter, counts_against_cap
from kashbot.money import USDC_ONE
from kashbot.risk.gate import Approval, RiskGate
from kashbot.risk.limits import Limits
from kashbot.shared.settings import SharedStateConfig
from kashbot.store.store import Store

U = USDC_ONE
M = "m1"


def trade(
    tid: str,
    status: str,
    amount: str = "5",
    side: str = "buy",
    crid: str | None = None,
    age_s: float = 1.0,
) -> Trade:
    ts = datetime.fromtimestamp(WallClock().now() - age_s, tz=UTC)
    return Trade(
        id=tid,
        market_id=M,
        outcome_index=0,
        side=side,
        amount=Decimal(amount),  # type: ignore[arg-type]
        status=status,
        client_request_id=crid,
        created_at=ts,
    )


class Venue:
    """The key's trades newest first, in pages of ``page`` (counts the pages read)."""

    def __init__(self, page: int = 100) -> None:
        self.trades: list[Trade] = []
        self.page = page
        self.reads = 0

    async def list_trades(
        self, *, limit: int | None = None, cursor: str | None = None, **_: Any
    ) -> Page[Trade]:
        self.reads += 1
        start = int(cursor or 0)
        rows = self.trades[start : start + self.page]
        more = start + self.page < len(self.trades)
        return Page(data=rows, cursor=str(start + self.page) if more else None, has_more=more)


async def rig(page: int = 100) -> tuple[SpendAdopter, Venue, RiskGate, Store]:
    clock = WallClock()
    gate = RiskGate(
        Limits.for_tier("developer", daily_cap=100 * U), clock=clock, emit=lambda e: None
    )
    store = await Store.open(":memory:")
    venue = Venue(page)
    return SpendAdopter(gate, venue, store, clock, interval_s=1), venue, gate, store  # type: ignore[arg-type]


def test_what_counts_against_the_cap() -> None:
    assert counts_against_cap(trade("a", "pending")) and counts_against_cap(trade("b", "completed"))
    assert counts_against_cap(trade("c", "executing"))
    for gone in ("failed", "rejected", "cancelled", "expired"):
        assert not counts_against_cap(trade("d", gone))
    assert not counts_against_cap(trade("e", "completed", side="sell"))


async def test_others_buys_count_once_ours_never() -> None:
    adopter, venue, gate, store = await rig()
    try:
        mine = gate.check(OrderIntent("i1", "s", M, 0, Side.BUY, 3 * U))
        assert isinstance(mine, Approval)
        venue.trades = [
            trade("t3", "pending", "7"),  # someone else's, still pending: counts now
            trade("t2", "completed", "3", crid="i1"),  # ours: our reservation holds it
            trade("t1", "failed", "9"),  # refunded by the venue
            trade("t0", "completed", "2", side="sell"),
            trade("old", "completed", "50", age_s=25 * 3600),  # out of the window
        ]
        assert await adopter.scan() == 1
        assert gate.daily_used(WallClock().now()) == 10 * U  # 3 reserved + 7 adopted
        assert [e.entry_id for e in await store.load_spend()] == ["v-t3"]
        venue.trades[0] = trade("t3", "completed", "7")
        assert await adopter.scan() == 0  # no second count when it completes
        gate.release(mine)  # our intent given up for lost: its trade now counts like anyone's
        assert await adopter.scan() == 0  # ... but it was settled as ours once completed
        assert adopter.status()["adopted_trades"] == 1
        assert adopter.status()["adopted_spend_usdc"] == "7.00"
    finally:
        await store.close()


async def test_a_released_intent_whose_trade_appears_later_counts() -> None:
    adopter, venue, gate, store = await rig()
    try:
        mine = gate.check(OrderIntent("i9", "s", M, 0, Side.BUY, 4 * U))
        assert isinstance(mine, Approval)
        gate.release(mine)  # e.g. OUTCOME_NOT_FOUND, yet the venue did create it
        venue.trades = [trade("t9", "pending", "4", crid="i9")]
        assert await adopter.scan() == 1
        assert gate.daily_used(WallClock().now()) == 4 * U
    finally:
        await store.close()


async def test_a_scan_stops_at_the_first_page_with_nothing_new() -> None:
    adopter, venue, gate, store = await rig(page=2)
    try:
        venue.trades = [trade(f"t{i}", "completed", "1") for i in range(6)]
        assert await adopter.scan() == 6 and venue.reads == 3
        venue.reads = 0
        venue.trades.insert(0, trade("new", "completed", "1"))
        assert await adopter.scan() == 1
        assert venue.reads == 2  # page 1 had the new one, page 2 nothing new: stop
        assert gate.daily_used(WallClock().now()) == 7 * U
    finally:
        await store.close()


class Minutes:
    """A clock whose sleep jumps; the run ends (``Done``) once ``until`` seconds have passed."""

    class Done(Exception):
        pass

    def __init__(self, until: float) -> None:
        self.t, self.until = WallClock().now(), WallClock().now() + until

    def now(self) -> float:
        return self.t

    def now_ms(self) -> int:
        return int(self.t * 1000)

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        if self.t > self.until:
            raise Minutes.Done


async def test_default_interval_costs_about_one_request_a_minute() -> None:
    # review finding: at the old 10 s default every live daemon sent 6 GET /v1/trades a minute
    every = SharedStateConfig().adopt_interval_s
    clock = Minutes(until=600)
    gate = RiskGate(
        Limits.for_tier("developer", daily_cap=100 * U), clock=clock, emit=lambda e: None
    )
    store = await Store.open(":memory:")
    venue = Venue()
    venue.trades = [trade("x1", "completed")]
    adopter = SpendAdopter(gate, venue, store, clock, interval_s=every)  # type: ignore[arg-type]
    with pytest.raises(Minutes.Done):
        await adopter.run()
    assert adopter.stats.scans == venue.reads == 10  # 10 minutes, one read each
    assert adopter.status()["interval_s"] == 60
    await store.close()
