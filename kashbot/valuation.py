"""What our positions are worth, and the fills that made them: one rule for the daemon's status
view and the backtest report, so the two agree on PnL for the same positions.

Mark = what selling the position into the pool right now would pay, after the AMM sell fee and
the protocol fee (``amm.sell(...).payout``). Outcome tokens are not $1 claims on Kash, and a
marginal-price mark would ignore slippage and the 2 % of sell fees, so the exit value is the
honest (and conservative) number. A position larger than the pool can absorb is priced at what
the pool can take.

Unknown pool (no pool observed for the market, or an outcome the pool does not have): the
position is marked **at cost** and flagged ``marked=False``. Nothing can be said about its exit
value, and the alternatives lie in one direction: zero books a phantom loss of the whole cost
every time a live daemon loses track of a pool for a moment (Kash's REST API exposes no pools;
the poller rebuilds them from quotes), a chance-times-shares mark is the $1-claim fiction above.
At cost its unrealised PnL is zero, and the flag says so wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kashbot import amm
from kashbot.events import Side
from kashbot.money import Atomic, Wad
from kashbot.portfolio import Holding, PositionKey


@dataclass(frozen=True, slots=True)
class Fill:
    """One of our trades that completed on the venue.

    ``fee`` and the chances are known where the fill was seen on the pool (a backtest); the
    daemon builds fills from trade updates, which carry neither, and leaves them None.
    """

    ts: float
    trade_id: str
    intent_id: str
    market_id: str
    outcome: int
    side: Side
    usdc: Atomic  # buy: gross USDC paid (fees included); sell: USDC that reached us
    tokens: Wad  # bought, or burned by the sale
    fee: Atomic | None = None  # protocol fee, plus the AMM sell fee on sells
    prob_before: Wad | None = None  # the outcome's chance just before / after our trade
    prob_after: Wad | None = None
    reason: str = ""  # the intent's reason (why the strategy traded)
    strategy: str = ""  # the strategy id that sent the intent


@dataclass(frozen=True, slots=True)
class Mark:
    value: Atomic
    marked: bool  # False: no pool to sell into, ``value`` is the cost basis


def exit_value(
    pool: amm.Pool, outcome: int, tokens: Wad, fees: amm.Fees = amm.DEFAULT_FEES
) -> Atomic:
    """What selling ``tokens`` into ``pool`` would pay now; at most what the pool can take."""
    sellable = min(tokens, pool.supplies[outcome] - 1)
    if sellable <= 0:
        return 0
    return amm.sell(pool, outcome, sellable, fees).payout


def mark_position(
    pool: amm.Pool | None,
    outcome: int,
    tokens: Wad,
    cost: Atomic,
    fees: amm.Fees = amm.DEFAULT_FEES,
) -> Mark:
    """One position's mark: its exit value, or its cost (flagged) when the pool is unknown."""
    if tokens <= 0:
        return Mark(0, True)
    if pool is None or not 0 <= outcome < pool.outcome_count:
        return Mark(cost, False)
    return Mark(exit_value(pool, outcome, tokens, fees), True)


def mark_holdings(
    holdings: Iterable[tuple[PositionKey, Holding]],
    pools: Mapping[str, amm.Pool],
    fees: amm.Fees = amm.DEFAULT_FEES,
) -> Atomic:
    """The total mark of a portfolio's holdings (``Portfolio`` iterates as these pairs)."""
    return sum(
        mark_position(pools.get(market_id), outcome, h.shares, h.cost, fees).value
        for (market_id, outcome), h in holdings
    )
