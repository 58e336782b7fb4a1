"""Wire types shared by every resource: exact money parsing, the response model base, ``Page``.

Responses: camelCase aliases, unknown fields ignored (forward compatible), frozen. Money keeps
its wire unit: USDC decimal strings become ``Decimal``, atomic-6 and WAD-18 integer strings become
``int`` (parsed strictly: digits only, never via float).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

_INT_RE = re.compile(r"^-?\d+$")
AMOUNT_RE = re.compile(r"^\d+(\.\d{1,6})?$")


def _strict_int(value: Any) -> Any:
    """Integer strings (atomic USDC, WAD) → int. Refuses floats, "1.0", "1e18" and bools."""
    if isinstance(value, bool):
        raise ValueError("expected an integer string, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    raise ValueError(f"expected an integer string, got {value!r}")


def _decimal(value: Any) -> Any:
    """Decimal strings or JSON numbers → Decimal via ``str`` (no binary float expansion)."""
    if isinstance(value, bool):
        raise ValueError("expected a decimal, got a bool")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str):
        try:
            result = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal: {value!r}") from exc
        if not result.is_finite():
            raise ValueError(f"not a finite decimal: {value!r}")
        return result
    raise ValueError(f"expected a decimal, got {type(value).__name__}")


def _usdc_amount(value: Any) -> Any:
    """USDC decimal string (≤ 6 dp) → Decimal."""
    if isinstance(value, str) and AMOUNT_RE.match(value):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite() and value >= 0:
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -6:
            return value
    raise ValueError(f"expected a USDC decimal string with at most 6 decimals, got {value!r}")


# Wire form is the integer/decimal string; the JSON dump reproduces it (the simulator reuses these).
IntStr = Annotated[int, BeforeValidator(_strict_int), PlainSerializer(str, when_used="json")]
Atomic = IntStr  # USDC atomic-6
Wad = IntStr  # WAD-18
DecimalStr = Annotated[Decimal, BeforeValidator(_decimal), PlainSerializer(str, when_used="json")]
UsdcAmount = Annotated[
    Decimal, BeforeValidator(_usdc_amount), PlainSerializer(str, when_used="json")
]
Side = Literal["buy", "sell"]


# Every body on the wire, both ways: camelCase aliases (Python names accepted too), immutable.
WIRE_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class KashModel(BaseModel):
    """Response model base: aliases, tolerant of new fields, immutable."""

    model_config = WIRE_CONFIG | ConfigDict(extra="ignore")


class Meta(KashModel):
    request_id: str | None = None
    timestamp: datetime | None = None
    idempotent: bool | None = None
    message: str | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a cursor-paginated list; pass ``cursor`` back for the next page."""

    data: list[T]
    cursor: str | None
    has_more: bool
    limit: int | None = None
    request_id: str | None = field(default=None, compare=False)
