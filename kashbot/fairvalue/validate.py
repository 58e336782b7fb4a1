"""Pure validation of a row's chances: in [0, 1], one pool's worth (sum 1), exact WAD out.

``strict`` accepts a sum within ``tolerance`` of 1 and scales it to exactly 1 (a model that
writes 0.333/0.333/0.333 means thirds); ``proportional`` scales any positive sum (the midpoints
of an order book's outcomes sum to 1 plus or minus the spreads). Either way every chance must be
a finite number in [0, 1]: a 1.2 or a NaN is a broken model, not something to rescale.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from kashbot.money import WAD, Wad, decimal_to_wad

Normalise = Literal["strict", "proportional"]

MIN_OUTCOMES = 2
MAX_OUTCOMES = 8


class RowError(ValueError):
    """A row that must not become a fair value (the message says why)."""


def to_decimal(value: Any) -> Decimal:
    """A JSON/CSV/YAML number or numeric string as an exact Decimal (floats via their repr)."""
    if isinstance(value, bool) or value is None:
        raise RowError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | float):
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise RowError(f"not a number: {value!r}") from None
    else:
        raise RowError(f"not a number: {type(value).__name__}")
    if not d.is_finite():
        raise RowError(f"not a finite number: {value!r}")
    return d


def to_wad_chances(
    chances: Sequence[Any], normalise: Normalise = "strict", tolerance: Decimal = Decimal("0.01")
) -> tuple[Wad, ...]:
    """Validated chances as WAD summing to exactly 1e18 (the last outcome takes the rounding)."""
    if not MIN_OUTCOMES <= len(chances) <= MAX_OUTCOMES:
        raise RowError(f"{len(chances)} chances; a Kash market has 2-8 outcomes")
    values = [to_decimal(c) for c in chances]
    for i, v in enumerate(values):
        if not Decimal(0) <= v <= Decimal(1):
            raise RowError(f"chance {i} = {v} is not in [0, 1]")
    total = sum(values, Decimal(0))
    if total <= 0:
        raise RowError("chances sum to 0")
    if normalise == "strict" and abs(total - 1) > tolerance:
        raise RowError(f"chances sum to {total}, not 1 within {tolerance}")
    raw = [decimal_to_wad(v) for v in values]
    raw_total = sum(raw)
    if raw_total <= 0:
        raise RowError("chances sum to 0 at 18 decimals")
    out = [r * WAD // raw_total for r in raw]
    out[-1] += WAD - sum(out)
    return tuple(out)


def binary_from_yes(p_yes: Any) -> list[Decimal]:
    """A binary market's chances from its first outcome's: ``[p, 1 - p]``."""
    p = to_decimal(p_yes)
    if not Decimal(0) <= p <= Decimal(1):
        raise RowError(f"chance {p} is not in [0, 1]")
    return [p, 1 - p]
