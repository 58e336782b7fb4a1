"""fair_value converts its USDC params through a cache: a float must still be refused after the
equal Decimal was converted (1.5 == Decimal("1.5") and they hash alike; review finding)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kashbot.money import MoneyError
from kashbot.strategies.fair_value import _atomic


def test_a_float_is_refused_even_after_the_equal_decimal_was_cached() -> None:
    assert _atomic(Decimal("1.5")) == 1_500_000
    with pytest.raises(MoneyError):
        _atomic(1.5)  # type: ignore[arg-type]
