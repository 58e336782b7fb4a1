"""Money units. USDC is an int of atomic units (1e-6), tokens are WAD ints (1e-18).

Decimal appears only at the edges (the REST API's ``"10.5"`` strings and human display);
floats never carry money anywhere in kashbot.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation

USDC_DECIMALS = 6
USDC_ONE = 1_000_000  # atomic units per USDC
WAD = 1_000_000_000_000_000_000  # token and curve fixed-point scale
ATOMIC_TO_WAD = 1_000_000_000_000  # 1e12: one USDC atomic unit in WAD

_USDC_RE = re.compile(r"^\d+(\.\d{1,6})?$")

# Plain aliases that name the unit; kashbot.units has the NewTypes (Usdc, Wad) mypy keeps apart.
Atomic = int  # USDC atomic units (6 dp)
Wad = int  # 18-dp fixed point


class MoneyError(ValueError):
    """A money value that cannot be represented exactly in its unit."""


def usdc_to_atomic(value: Decimal | str | int) -> Atomic:
    """Exact conversion of a USDC amount to atomic units; refuses more than 6 decimals."""
    if isinstance(value, bool):
        raise MoneyError("a USDC amount cannot be a bool")
    if isinstance(value, int):
        return value * USDC_ONE
    if isinstance(value, str):
        if not _USDC_RE.match(value):
            raise MoneyError(f"not a USDC decimal string with at most 6 decimals: {value!r}")
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise MoneyError(f"USDC amounts must be Decimal, str or int, not {type(value).__name__}")
    try:
        scaled = value * USDC_ONE
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"USDC amount has more than 6 decimals: {value}")
        return int(scaled)
    except InvalidOperation as exc:  # NaN, Infinity
        raise MoneyError(f"not a finite USDC amount: {value}") from exc


def atomic_to_usdc(atomic: Atomic) -> Decimal:
    """Atomic units to a Decimal with exactly 6 places."""
    return (Decimal(atomic) / USDC_ONE).quantize(Decimal("0.000001"))


def usdc_str(atomic: Atomic) -> str:
    """The API's wire form (``^\\d+(\\.\\d{1,6})?$``): no exponent, no trailing zeros."""
    if atomic < 0:
        raise MoneyError(f"negative USDC amount: {atomic}")
    whole, frac = divmod(atomic, USDC_ONE)
    if frac == 0:
        return str(whole)
    return f"{whole}.{frac:06d}".rstrip("0")


def parse_usdc_str(text: str) -> Atomic:
    """Strictly parse the API's USDC decimal string into atomic units."""
    return usdc_to_atomic(text)


def wad_to_decimal(wad: Wad) -> Decimal:
    """For display and reports only."""
    return Decimal(wad) / WAD


def decimal_to_wad(value: Decimal | str) -> Wad:
    """Decimal (e.g. a probability from config) to WAD, rounded toward zero."""
    d = Decimal(value)
    return int((d * WAD).to_integral_value(rounding=ROUND_DOWN))


def fmt_usdc(atomic: Atomic) -> str:
    """Human display: ``12.34 USDC`` with two decimals (truncated), sign kept."""
    sign = "-" if atomic < 0 else ""
    q = (Decimal(abs(atomic)) / USDC_ONE).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return f"{sign}{q}"
