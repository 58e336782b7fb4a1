"""Request bodies we send: validated strictly (unknown fields forbidden, documented formats
enforced) before anything leaves the process."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kashbot.client.models.wire import AMOUNT_RE, WIRE_CONFIG, Side
from kashbot.money import MoneyError, usdc_str, usdc_to_atomic

IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,255}$")
CLIENT_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")
METADATA_KEY_RE = re.compile(r"^[a-zA-Z0-9_\-.]{1,64}$")
METADATA_MAX_KEYS = 10
METADATA_MAX_VALUE_LEN = 500


class RequestModel(BaseModel):
    """Outgoing body base: unknown fields forbidden, camelCase on the wire."""

    model_config = WIRE_CONFIG | ConfigDict(extra="forbid", strict=True)


def _check_uuid(name: str, value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError(f"{name} must be a UUID") from None
    return value


class TradeRequest(RequestModel):
    market_id: str
    outcome_index: int = Field(ge=0)
    amount: str
    side: Side
    client_request_id: str | None = None
    metadata: dict[str, str] | None = None

    @field_validator("market_id")
    @classmethod
    def _market_uuid(cls, v: str) -> str:
        return _check_uuid("marketId", v)

    @field_validator("amount")
    @classmethod
    def _amount(cls, v: str) -> str:
        if not AMOUNT_RE.match(v):
            raise ValueError("amount must be a USDC decimal string with at most 6 decimals")
        if Decimal(v) <= 0:
            raise ValueError("amount must be greater than zero")
        return v

    @field_validator("client_request_id")
    @classmethod
    def _crid(cls, v: str | None) -> str | None:
        if v is not None and not CLIENT_REQUEST_ID_RE.match(v):
            raise ValueError("clientRequestId must be 1-128 chars of [A-Za-z0-9_-:.]")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is None:
            return v
        if len(v) > METADATA_MAX_KEYS:
            raise ValueError(f"metadata has {len(v)} keys; at most {METADATA_MAX_KEYS} allowed")
        for key, value in v.items():
            if not METADATA_KEY_RE.match(key):
                raise ValueError(f"metadata key {key!r} must be 1-64 chars of [a-zA-Z0-9_-.]")
            if len(value) > METADATA_MAX_VALUE_LEN:
                raise ValueError(
                    f"metadata[{key!r}] is {len(value)} chars; at most {METADATA_MAX_VALUE_LEN}"
                )
        return v

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class ConfirmRequest(RequestModel):
    token: str = Field(min_length=40, max_length=64, repr=False)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class RedemptionRequest(RequestModel):
    market_id: str
    outcome_index: int = Field(ge=0, le=255)

    @field_validator("market_id")
    @classmethod
    def _market_uuid(cls, v: str) -> str:
        return _check_uuid("marketId", v)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


def amount_to_wire(amount: Decimal | str | int) -> str:
    """A trade amount in the API's form (``"10.5"``); refuses floats and > 6 decimals."""
    if isinstance(amount, float):
        raise ValueError("amount must be Decimal or str, never float")
    try:
        atomic = usdc_to_atomic(amount)
    except MoneyError as exc:
        raise ValueError(f"amount: {exc}") from None
    if atomic <= 0:
        raise ValueError("amount must be greater than zero")
    return usdc_str(atomic)


def check_idempotency_key(key: str) -> str:
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise ValueError("idempotency_key must be 1-255 chars of [A-Za-z0-9_-:.]")
    return key
