"""An estimate of the revenue share a market's creating organisation earns from others' trades.

Kash pays an organisation a share of the trading fees of every trade in markets it created
(kash-api.md §16; rates are set by partner agreement and not published, so the share is a
parameter). The estimate, per market ``m``::

    fees_m = sum over others' trades t in m of  fee_of(usdc_t, protocol_bps_m) * share_bps // BPS

Assumptions, stated because the venue documents none of them:

* the share is of the **protocol fee** only (the AMM sell fee stays in the pool's reserve);
* the protocol fee is charged on the trade's USDC as a prediction row reports it (``usdcIn`` of a
  buy, ``usdcOut`` of a sell), at the market's own ``protocol_bps``;
* "others" are the trades whose prediction ids are not ours: our own trades would earn the share
  too (it lowers our net fee cost), but they are left out so the figure is what the market
  earns from being traded, not from our keeping it;
* accrual only: Kash pays periodically after a settlement hold, which this ignores.

Pure: feed it the ``PredictionSeen`` events a run observed. A backtest with a keeper calls it
at the end of the run (:mod:`kashbot.backtest.creator_fees`: ``metrics.creator_fees_estimate``
in report.json and the summary).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from kashbot import amm
from kashbot.events import PredictionSeen
from kashbot.money import Atomic

BPS = 10_000


def estimate_creator_fees(
    trades: Iterable[PredictionSeen],
    own_markets: Collection[str],
    share_bps: int,
    fees: Mapping[str, amm.Fees] | None = None,
    ours: Collection[str] = (),
    default_fees: amm.Fees = amm.DEFAULT_FEES,
) -> dict[str, Atomic]:
    """Estimated revenue share (atomic USDC) per own market from others' trades (every own
    market is in the answer, 0 when nobody traded it). ``ours``: our prediction ids."""
    if not 0 <= share_bps <= BPS:
        raise ValueError(f"share_bps must be within 0..{BPS}, got {share_bps}")
    fees = fees or {}
    fee_total: dict[str, Atomic] = dict.fromkeys(own_markets, 0)
    seen: set[str] = set()
    for t in trades:
        if t.market_id not in fee_total or t.prediction_id in ours or t.prediction_id in seen:
            continue
        seen.add(t.prediction_id)
        bps = fees.get(t.market_id, default_fees).protocol_bps
        fee_total[t.market_id] += amm.fee_of(t.usdc, bps)
    return {m: total * share_bps // BPS for m, total in fee_total.items()}
