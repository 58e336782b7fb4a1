"""The sim venue's trade record as the client's ``Trade`` model, built directly.

What ``Trade.model_validate(serialize.trade(venue, record))`` returns (the HTTP server's JSON
shape read back by the client), without the round trip through strings: a backtest builds one
per order. Same field values and the same set of given fields (``tests/unit/backtest`` checks
both against the round trip for buys, sells, 202s, failures and Solana markets).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kashbot.client.models import Trade
from kashbot.client.models.trades import WebhookDelivery
from kashbot.money import usdc_str
from kashbot.sim.chains import is_solana, serves_solana
from kashbot.sim.models import TradeRecord
from kashbot.sim.venue import Venue


def ms(ts: float) -> datetime:
    """The instant ``kashbot.sim.ids.iso`` writes (milliseconds, UTC) as the client parses it."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def trade_model(venue: Venue, t: TradeRecord) -> Trade:
    """``Trade.model_validate(serialize.trade(venue, t))`` without the JSON-shaped detour."""
    chain = venue.markets[t.market_id].chain
    hook = venue.webhook_delivery_summary(t)
    fields: dict[str, Any] = {
        "id": t.id,
        "market_id": t.market_id,
        "outcome_index": t.outcome,
        "amount": Decimal(usdc_str(t.amount)),
        "side": t.side,
        "status": t.status,
        "correlation_id": t.correlation_id,
        "client_request_id": t.client_request_id,
        "tx_hash": None if is_solana(chain) else t.tx_hash,
        "tokens_out": t.tokens_out,
        "error_code": t.error_code,
        "error_message": t.error_message,
        "webhook_delivery": None if hook is None else WebhookDelivery.model_validate(hook),
        "metadata": dict(t.metadata),
        "created_at": ms(t.created_at),
        "updated_at": ms(t.updated_at),
    }
    if serves_solana(venue.scenario.api.default_version):
        fields["chain_ref"] = chain
    if t.side == "sell":
        fields["tokens_in"] = t.tokens_in
    return Trade.model_construct(set(fields), **fields)
