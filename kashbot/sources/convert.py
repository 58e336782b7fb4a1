"""REST/stream payloads -> engine events, and the pool hidden behind a quote.

Kash's market resource carries chances but no pool (kash-api §7.1); a buy quote does carry the
post-trade reserve, ``c`` and every ``q_i`` (§7.3). Because a buy leaves ``c`` unchanged and the
other supplies untouched, the pool *before* the quoted trade can be recovered exactly (up to
WAD rounding): that is what :func:`pool_from_buy_quote` does, so strategies can size trades with
the exact AMM inversion against the real API too. Weights are assumed equal (as every market
seeded by the creation flow is); a market with other weights would need on-chain reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from math import isqrt

from kashbot import amm
from kashbot.client.models import Market, Prediction, Quote
from kashbot.events import MarketSnapshot, PredictionSeen, QuoteSeen, Side
from kashbot.lifecycle_wire import lifecycle_fields
from kashbot.money import ATOMIC_TO_WAD, WAD, Wad, decimal_to_wad


def chances_to_wad(values: Sequence[Decimal | None]) -> tuple[Wad, ...]:
    """Decimal chances (possibly float-rounded on the wire) to WAD summing to exactly 1e18."""
    raw = [decimal_to_wad(v) if v is not None else 0 for v in values]
    total = sum(raw)
    if total <= 0:
        return ()
    out = [r * WAD // total for r in raw]
    out[-1] += WAD - sum(out)
    return tuple(out)


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def market_snapshot(m: Market, ts: float, pool: amm.Pool | None = None) -> MarketSnapshot:
    outcomes = sorted(m.outcomes, key=lambda o: o.index)
    return MarketSnapshot(
        ts=ts,
        market_id=m.id,
        status=m.status or "UNKNOWN",
        probabilities=chances_to_wad([o.probability for o in outcomes]),
        pool=pool,
        freeze_at=_ts(m.freeze_at),
        labels=tuple(o.label for o in outcomes),
        **lifecycle_fields(m),
    )


def prediction_seen(p: Prediction, ts: float) -> PredictionSeen:
    side = Side(p.side)
    if side is Side.BUY:
        usdc, tokens = p.usdc_in or 0, p.tokens_out or 0
    else:
        usdc, tokens = p.usdc_out or 0, p.tokens_in or 0
    prob = decimal_to_wad(p.probability) if p.probability is not None else 0
    return PredictionSeen(ts, p.market_id, p.id, p.outcome_index, side, usdc, tokens, prob)


def quote_seen(market_id: str, q: Quote, amount: int, ts: float) -> QuoteSeen:
    side = Side(q.action)
    out = (q.tokens_out or 0) if side is Side.BUY else (q.usdc_out or 0)
    return QuoteSeen(ts, market_id, q.outcome_index, side, amount, out, tuple(q.q_after))


def pool_from_buy_quote(q: Quote, fees: amm.Fees = amm.DEFAULT_FEES) -> amm.Pool | None:
    """The pool before a quoted *buy* (equal weights assumed); None if the quote cannot tell."""
    if q.action != "buy" or q.reserve_after is None or not q.c or not q.q_after:
        return None
    if q.amount_in is None or q.amount_in <= 0:
        return None
    n = len(q.q_after)
    if not amm.MIN_OUTCOMES <= n <= 100 or sum(q.q_after) != WAD:
        return None
    i = q.outcome_index
    net = q.amount_in - amm.fee_of(q.amount_in, fees.protocol_bps)
    r_after = q.reserve_after
    r_before = r_after - net * ATOMIC_TO_WAD
    if r_before <= 0 or not 0 <= i < n:
        return None
    weights = _equal_weights(n)
    # raw curve sums (WAD**3 units, as amm.curve_sum) from N = R / c
    a_after = (r_after * WAD // q.c) ** 2 * WAD
    a_before = (r_before * WAD // q.c) ** 2 * WAD
    supplies: list[int] = []
    rest = 0
    for j in range(n):
        if j == i:
            supplies.append(0)
            continue
        term = q.q_after[j] * a_after // WAD
        rest += term
        supplies.append(isqrt(term // weights[j]))
    own = a_before - rest
    if own <= 0:
        return None
    supplies[i] = isqrt(own // weights[i])
    try:
        return amm.Pool(reserve=r_before, supplies=tuple(supplies), weights=weights)
    except amm.AmmError:
        return None


def _equal_weights(n: int) -> tuple[Wad, ...]:
    out = [WAD // n] * n
    out[-1] += WAD - sum(out)
    return tuple(out)
