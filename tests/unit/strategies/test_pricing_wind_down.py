"""The wind-down allowance shared by inventory_mm and consistency: exact integer USDC from a
``Fraction`` ramp of the float times (a float never scales an atomic amount)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kashbot.strategies.pricing import floor_usdc, ramp, wind_down_allowance

U = 10**6
CAP = 250 * U


@pytest.mark.parametrize(
    ("tau", "expected"),
    [
        (None, CAP),  # no freezeAt: never winds down
        (4_000.0, CAP),  # before the window
        (3_600.0, CAP),  # at its start
        (2_100.0, 125 * U),  # half way
        (1_000.5, 33_375_000),  # 250 * 400.5 / 3000, exactly
        (601.0, 83_333),  # 250 / 3000 USDC, rounded down
        (600.0, 0),  # flat by flat_by_s
        (0.0, 0),
        (-5.0, 0),  # past the freeze
    ],
)
def test_allowance_table(tau: float | None, expected: int) -> None:
    got = wind_down_allowance(CAP, tau, 3_600.0, 600.0)
    assert isinstance(got, int) and got == expected


@pytest.mark.parametrize(
    ("tau", "expected"),
    [(700.0, Fraction(1, 30)), (0.0, Fraction(0)), (9e9, Fraction(1)), (2_100.0, Fraction(1, 2))],
)
def test_ramp_is_exact_and_clamped(tau: float, expected: Fraction) -> None:
    assert ramp(tau, 600.0, 3_600.0) == expected


def test_floor_usdc_rounds_down() -> None:
    assert floor_usdc(Fraction(7, 2)) == 3
    assert floor_usdc(Fraction(250 * U * 1, 3000)) == 83_333
