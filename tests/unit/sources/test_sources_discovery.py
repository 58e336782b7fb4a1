"""Market discovery and retirement in the poller, its errors to the gate, and the selection by
chain (``markets: {chains: [...]}``) the daemon and the backtest resolve alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kashbot.client.errors import ChainNotSupported, KashError
from kashbot.client.models import Market, Outcome, Page, Prediction, Quote
from kashbot.clock import SimClock
from kashbot.config import ConfigError, parse_config
from kashbot.core import CoreError, fee_overrides, resolve_markets
from kashbot.events import Event, MarketSnapshot
from kashbot.risk.limits import Limits
from kashbot.sources.poller import PollerConfig, PollerSource


def market(mid: str, chain: str, status: str = "ACTIVE") -> Market:
    return Market(
        id=mid,
        status=status,
        chain_ref=chain,
        outcome_count=2,
        outcomes=[
            Outcome(index=0, label="Y", probability=0.5),
            Outcome(index=1, label="N", probability=0.5),
        ],
    )


class Venue:
    """Lists ``listed`` page by page; ``get_market`` can refuse (a wrong pin)."""

    def __init__(self) -> None:
        self.listed: list[Market] = [market("sol1", "solana:mainnet-beta")]
        self.lists = 0
        self.refuse: KashError | None = None
        self.rate_limit = None

    async def get_market(self, market_id: str) -> Market:
        if self.refuse is not None:
            raise self.refuse
        return next((m for m in self.listed if m.id == market_id), market(market_id, "evm:8453"))

    async def list_markets(
        self, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[Market]:
        self.lists += 1
        start = int(cursor or 0)
        chunk = self.listed[start : start + 2]
        more = start + 2 < len(self.listed)
        return Page(data=chunk, cursor=str(start + 2) if more else None, has_more=more)

    async def list_predictions(
        self, market_id: str, *, limit: int | None = None
    ) -> Page[Prediction]:
        return Page(data=[], cursor=None, has_more=False)

    async def get_quote(
        self, market_id: str, outcome_index: int, action: Any, amount: int
    ) -> Quote:
        raise AssertionError("quotes are off")


async def steps(clock: SimClock, n: int) -> None:
    for _ in range(n):
        for _ in range(5):
            await asyncio.sleep(0)
        d = clock.next_deadline()
        if d is not None:
            clock.advance_to(d)


async def test_poller_discovers_selected_markets_and_retires_settled_ones() -> None:
    clock = SimClock(0.0)
    venue = Venue()
    found: list[list[str]] = []
    retire = {"sol1"}
    events: list[Event] = []
    poller = PollerSource(
        venue,
        ["sol1"],
        clock,
        PollerConfig(
            markets_interval_s=1,
            predictions_interval_s=0,
            quotes_interval_s=0,
            discover_interval_s=5,
        ),
        selects=lambda m: m.chain == "solana:mainnet-beta",
        on_new_markets=found.append,
        retire=lambda mid: mid in retire and clock.now() >= 3,
    )
    task = asyncio.create_task(poller.run(events.append))
    venue.listed += [
        market("base1", "evm:8453"),  # not selected
        market("sol2", "solana:mainnet-beta"),
        market("sol3", "solana:mainnet-beta"),  # on a second page
    ]
    await steps(clock, 12)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert found == [["sol2", "sol3"]]  # once, the selected ones only
    assert poller.markets() == ["sol2", "sol3"]  # sol1 settled and was retired
    assert poller.retired == {"sol1"}
    snaps = {e.market_id for e in events if isinstance(e, MarketSnapshot)}
    assert {"sol2", "sol3"} <= snaps and "base1" not in snaps


async def test_poll_errors_reach_the_gate() -> None:
    clock = SimClock(0.0)
    venue = Venue()
    venue.refuse = ChainNotSupported("solana", code="CHAIN_NOT_SUPPORTED", status=400)
    seen: list[KashError] = []
    cfg = PollerConfig(predictions_interval_s=0, quotes_interval_s=0)
    poller = PollerSource(venue, ["sol1"], clock, cfg, on_error=seen.append)
    task = asyncio.create_task(poller.run(lambda e: None))
    await steps(clock, 2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert seen and isinstance(seen[0], ChainNotSupported)


def cfg(text: str) -> Any:
    return parse_config(text, "t.yaml", {})


def test_market_selection_by_chain() -> None:
    c = cfg("markets: {chains: [solana:mainnet-beta]}\n")
    assert c.discovers_markets and c.selects("solana:mainnet-beta") and not c.selects("evm:8453")
    chains = {"a": "solana:mainnet-beta", "b": "evm:8453"}
    assert resolve_markets(c, ["a", "b"], chains) == ["a"]
    with pytest.raises(CoreError, match="chains"):
        resolve_markets(c, ["b"], chains)
    assert resolve_markets(cfg("markets: all\n"), ["a", "b"], chains) == ["a", "b"]
    assert resolve_markets(cfg("markets: [x]\n"), ["a"], chains) == ["x"]
    with pytest.raises(CoreError, match="names none"):
        resolve_markets(cfg("markets: []\n"), ["a"], chains)


def test_lifecycle_config_keys_and_unknown_keys_with_line() -> None:
    c = cfg(
        "risk:\n  freeze_margin_s: 15\nredemption:\n  interval_s: 5\n"
        "  write_off_not_claimable: false\n"
        "market_fees:\n  m1: {protocol_bps: 50, amm_sell_bps: 200}\n"
    )
    assert c.risk.freeze_margin_s == 15 and c.redemption.interval_s == 5
    assert fee_overrides(c)["m1"].amm_sell_bps == 200
    assert Limits.from_config(c.risk, "developer").freeze_margin_s == 15
    with pytest.raises(ConfigError, match=r"t.yaml:4: redemption.intervall_s"):
        cfg("risk:\n  freeze_margin_s: 15\nredemption:\n  intervall_s: 5\n")
    with pytest.raises(ConfigError, match="chainz"):
        cfg("markets: {chainz: [solana:mainnet-beta]}\n")


async def test_no_quote_requests_for_a_frozen_or_settled_market() -> None:
    """Seen in a paper run: quotes kept being asked of a frozen market (409 each time)."""
    from datetime import UTC, datetime

    clock = SimClock(1_000.0)
    venue = Venue()
    frozen = market("frozen", "solana:mainnet-beta").model_copy(
        update={"freeze_at": datetime.fromtimestamp(900.0, UTC)}
    )
    settled = market("settled", "evm:8453", status="RESOLVED")
    open_ = market("open", "solana:mainnet-beta").model_copy(
        update={"freeze_at": datetime.fromtimestamp(5_000.0, UTC)}
    )
    venue.listed = [frozen, settled, open_]
    quoted: list[str] = []

    async def get_quote(market_id: str, outcome_index: int, action: Any, amount: int) -> Quote:
        quoted.append(market_id)
        raise ChainNotSupported("stop here", status=400, code="CHAIN_NOT_SUPPORTED")

    venue.get_quote = get_quote  # type: ignore[method-assign]
    poller = PollerSource(
        venue, ["frozen", "settled", "open"], clock, PollerConfig(quotes_interval_s=5.0)
    )
    task = asyncio.create_task(poller.run(lambda e: None))
    try:
        await steps(clock, 6)
    finally:
        task.cancel()
    assert quoted and set(quoted) == {"open"}
