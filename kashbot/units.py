"""Money unit types: ``Usdc``/``Wad`` that mypy keeps apart, and the config field type for USDC.

``Usdc`` (atomic USDC, 1e-6) and ``Wad`` (18-dp tokens, prices, chances) are ``NewType``s of
``int``: each is still an int to whoever reads it, but a parameter or field typed with one
refuses the other, so a token count passed where USDC is expected is a mypy error. The pure money
core (:mod:`kashbot.amm`) returns them; the rest of the tree still holds plain ints
(``kashbot.money.Atomic``/``Wad`` are aliases of ``int``) and moves over where it pays.

USDC has 6 decimals: a value like ``1.0000001`` can never be sent to the venue exactly. Checking
it where the value is validated (``UsdcDecimal``) puts the error beside its file, line and key
(``config check``) instead of a ``MoneyError`` traceback at the first trade.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, NewType

from pydantic import AfterValidator

from kashbot.money import MoneyError, usdc_to_atomic

Usdc = NewType("Usdc", int)
"""USDC in atomic units (1e-6 USDC)."""

Wad = NewType("Wad", int)
"""An 18-decimal fixed-point quantity: outcome tokens, prices and chances (1e18 = 1)."""


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
