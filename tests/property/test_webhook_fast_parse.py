"""The webhook hot path's hand-checked parse (kashbot.client.webhook_event.fast_event) never
disagrees with pydantic's validation: wherever it answers, pydantic accepts the same payload and
builds an equal event (same values, same types, same reprs); everything else it leaves to them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot.client.webhook_event import WebhookEvent, fast_event
from kashbot.client.webhooks import _EVENT, validate_event

BASE: dict[str, Any] = {
    "id": "evt_00aa",
    "type": "trade.completed",
    "apiVersion": "2026-04-29",
    "createdAt": "2026-01-01T00:00:00Z",
    "data": {
        "tradeId": "t-1",
        "marketId": "m-1",
        "outcomeIndex": 0,
        "amount": "10.5",
        "side": "buy",
        "status": "completed",
        "metadata": {"kb_intent": "i-1"},
        "txHash": "0xabc",
        "tokensOut": "1000000000000000000",
    },
}
MISSING = object()
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 7, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1]),
    st.decimals(allow_nan=False, allow_infinity=False, places=8),
    st.sampled_from(
        [
            "",
            "10",
            "10.123456",
            "10.1234567",
            "1e3",
            " 10",
            "10\n",
            "٣",
            "-5",
            "007",
            "1" * 90,
            "buy",
            "sell",
            "BUY",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00+02:00",
            "2026-01-01",
            "2026-01-01 00:00:00",
            "1767225600",
            "not a date",
        ]
    ),
    st.text(max_size=8),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), st.integers()), max_size=2),
)
TOP_KEYS = ["id", "type", "apiVersion", "createdAt", "data", "api_version", "created_at"]
DATA_KEYS = [
    *BASE["data"],
    "chainRef",
    "tokensIn",
    "errorCode",
    "errorMessage",
    "confirmationExpiresAt",
    "trade_id",
    "outcome_index",
    "tokens_out",
    "confirmation_expires_at",
]


def pydantic_event(payload: Any) -> WebhookEvent | None:
    try:
        return _EVENT.validate_python(payload)
    except ValueError:
        return None


def mutate(base: dict[str, Any], changes: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes:
        if value is MISSING:
            out.pop(key, None)
        else:
            out[key] = value
    return out


CHANGE = st.one_of(st.just(MISSING), VALUES)


@settings(max_examples=1500, deadline=None)
@given(
    top=st.lists(st.tuples(st.sampled_from(TOP_KEYS), CHANGE), max_size=2),
    data=st.lists(st.tuples(st.sampled_from(DATA_KEYS), CHANGE), max_size=3),
)
def test_fast_parse_agrees_with_pydantic(
    top: list[tuple[str, Any]], data: list[tuple[str, Any]]
) -> None:
    payload = mutate(BASE, top)
    if isinstance(payload.get("data"), dict):
        payload["data"] = mutate(payload["data"], data)
    fast = fast_event(payload)
    slow = pydantic_event(payload)
    if fast is not None:
        assert slow is not None, payload
        assert fast == slow and repr(fast) == repr(slow), payload
    assert validate_event_or_none(payload) == slow  # the public entry: the same answers


def validate_event_or_none(payload: Any) -> WebhookEvent | None:
    try:
        return validate_event(payload)
    except ValueError:
        return None


@given(st.sampled_from(["trade.completed", "trade.failed", "trade.rejected"]))
def test_kash_shapes_take_the_fast_path(kind: str) -> None:
    body = json.loads(json.dumps({**BASE, "type": kind}), parse_float=Decimal)
    fast = fast_event(body)
    assert fast is not None and fast == pydantic_event(body)
    confirm = {**BASE["data"], "confirmationExpiresAt": "2026-01-01T00:05:00.250Z"}
    fast = fast_event({**BASE, "type": "trade.confirmation-required", "data": confirm})
    assert fast is not None and fast.data.confirmation_expires_at is not None
