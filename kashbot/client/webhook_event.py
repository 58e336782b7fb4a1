"""A webhook delivery as a plain frozen dataclass, and the hand-checked parse of Kash's own shape.

The receiver builds one event per delivery; pydantic's validation plus model construction cost
~40 µs of a ~150 µs request, most of the gap to a bare server. :func:`fast_event` checks the
shapes Kash sends (kash-api §9: camelCase keys; strings where it documents strings; an integer
``outcomeIndex``; ``amount`` as an ASCII decimal string of at most 6 dp; WADs as ASCII digit
strings) and builds the dataclasses directly. It answers None for anything else -- a snake_case
key, a number where a string is expected, a bool, a Unicode digit, an out-of-range integer -- and
the caller then asks pydantic (:func:`kashbot.client.webhooks.validate_event`), whose answer is
final. So the fast path never accepts what pydantic refuses, nor builds a different event:
``tests/property/test_webhook_fast_parse.py`` holds it to that on generated payloads. The
dataclasses carry the wire types and the response models' config, so pydantic validates a
payload into them directly: the event's field list is written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError, with_config

from kashbot.client.models import KashModel, Side, UsdcAmount, Wad

_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,6})?")  # ASCII only (the model's regex takes any \d)
_WAD = re.compile(r"-?[0-9]{1,80}")
_INT64 = 2**63
_SIDES = ("buy", "sell")
# populate_by_name: the models also take field names; such a payload goes to pydantic
_SNAKE = frozenset({"api_version", "created_at"})
_DATA_SNAKE = frozenset(
    {
        "trade_id",
        "market_id",
        "outcome_index",
        "chain_ref",
        "tx_hash",
        "tokens_out",
        "tokens_in",
        "error_code",
        "error_message",
        "confirmation_expires_at",
    }
)
_DATETIME: TypeAdapter[datetime | None] = TypeAdapter(datetime | None)  # pydantic's own parsing


@with_config(KashModel.model_config)  # camelCase keys, new fields ignored
@dataclass(frozen=True, slots=True)
class WebhookTradeData:
    trade_id: str
    market_id: str
    outcome_index: int
    amount: UsdcAmount  # USDC, exact
    side: Side
    status: str
    metadata: dict[str, str] = field(default_factory=dict)
    chain_ref: str | None = None
    tx_hash: str | None = None  # trade.completed
    tokens_out: Wad | None = None  # trade.completed
    tokens_in: Wad | None = None  # completed sell: the simulator's extension, not Kash's
    error_code: str | None = None  # failed (REST namespace) / rejected (risk namespace)
    error_message: str | None = None
    confirmation_expires_at: datetime | None = None  # trade.confirmation-required


@with_config(KashModel.model_config)  # camelCase keys, new fields ignored
@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str  # opaque (evt_<hex> in docs, UUID in the SDK): the dedupe key
    type: str  # trade.confirmation-required | trade.completed | trade.failed | trade.rejected
    data: WebhookTradeData
    api_version: str | None = None
    created_at: datetime | None = None


class _Slow(Exception):
    """Not a shape the fast path decides: ask pydantic."""


def _str(v: Any) -> str:
    if type(v) is not str:
        raise _Slow
    return v


def _opt_str(v: Any) -> str | None:
    if v is None or type(v) is str:
        return v
    raise _Slow


def _wad(v: Any) -> int | None:
    if v is None:
        return None
    if type(v) is str and _WAD.fullmatch(v):
        return int(v)
    raise _Slow


def _datetime(v: Any) -> datetime | None:
    if v is None:
        return None
    if type(v) is not str:
        raise _Slow
    try:  # pydantic's own parsing, so the result is the model's to the tzinfo
        return _DATETIME.validate_python(v)
    except ValidationError:
        raise _Slow from None


def _metadata(v: Any) -> dict[str, str]:
    if type(v) is not dict or any(type(x) is not str for x in v.values()):
        raise _Slow
    return dict(v)


def _data(d: Any) -> WebhookTradeData:
    # inline type checks: this runs once per delivery (a call per field costs more than the check)
    if type(d) is not dict or not _DATA_SNAKE.isdisjoint(d):
        raise _Slow
    get = d.get
    trade_id, market_id, index = get("tradeId"), get("marketId"), get("outcomeIndex")
    amount, side, status = get("amount"), get("side"), get("status")
    if (
        type(trade_id) is not str
        or type(market_id) is not str
        or type(status) is not str
        or type(index) is not int
        or not -_INT64 <= index < _INT64
        or type(amount) is not str
        or not _AMOUNT.fullmatch(amount)
        or side not in _SIDES
    ):
        raise _Slow
    chain_ref, tx_hash = get("chainRef"), get("txHash")
    error_code, error_message = get("errorCode"), get("errorMessage")
    for text in (chain_ref, tx_hash, error_code, error_message):
        if text is not None and type(text) is not str:
            raise _Slow
    return WebhookTradeData(
        trade_id=trade_id,
        market_id=market_id,
        outcome_index=index,
        amount=Decimal(amount),
        side="buy" if side == "buy" else "sell",
        status=status,
        metadata=_metadata(d["metadata"]) if "metadata" in d else {},
        chain_ref=chain_ref,
        tx_hash=tx_hash,
        tokens_out=_wad(get("tokensOut")),
        tokens_in=_wad(get("tokensIn")),
        error_code=error_code,
        error_message=error_message,
        confirmation_expires_at=_datetime(get("confirmationExpiresAt")),
    )


def fast_event(payload: Any) -> WebhookEvent | None:
    """The event if ``payload`` has Kash's documented shape, else None (ask pydantic)."""
    if type(payload) is not dict or not _SNAKE.isdisjoint(payload):
        return None
    try:
        return WebhookEvent(
            id=_str(payload.get("id")),
            type=_str(payload.get("type")),
            data=_data(payload.get("data")),
            api_version=_opt_str(payload.get("apiVersion")),
            created_at=_datetime(payload.get("createdAt")),
        )
    except _Slow:
        return None
