"""Pydantic field types for money that people write (config files, strategy params).

USDC has 6 decimals: a value like ``1.0000001`` can never be sent to the venue exactly. Checking
it where the value is validated puts the error beside its file, line and key (``config check``)
instead of a ``MoneyError`` traceback at the first trade.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator

from kashbot.money import MoneyError, usdc_to_atomic


def _exact_usdc(value: Decimal) -> Decimal:
    try:
        usdc_to_atomic(value)
    except MoneyError:
        raise ValueError(
            f"{value} is not a USDC amount: USDC has at most 6 decimal places (0.000001)"
        ) from None
    return value


UsdcDecimal = Annotated[Decimal, AfterValidator(_exact_usdc)]
"""A USDC amount as a Decimal with at most 6 decimal places (``usdc_to_atomic`` is exact)."""
