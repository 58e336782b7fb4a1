"""Mixing money units, for mypy only: never run, never collected by pytest.

``tests/unit/test_unit_types.py`` runs ``mypy --strict`` on this file and expects an error on
exactly the lines marked ``# error``: the :mod:`kashbot.units` types catch atomic USDC used as WAD
and back, and a bare int where a unit is asked for. Unmarked lines are the right uses.
"""

from kashbot import amm
from kashbot.units import Usdc, Wad


def pay(amount: Usdc) -> None:
    """Stands for any parameter that asks for atomic USDC."""


def hold(tokens: Wad) -> None:
    """Stands for any parameter that asks for WAD (tokens, prices, chances)."""


pool = amm.seed_pool(1_000_000_000)
bought = amm.buy(pool, 0, 10_000_000)
pay(bought.amount_in)
pay(bought.protocol_fee)
hold(bought.tokens_out)
pay(bought.tokens_out)  # error: tokens are not USDC
hold(bought.net_in)  # error: USDC is not tokens

sold = amm.sell(bought.pool, 0, bought.tokens_out)
pay(sold.payout)
hold(sold.gross_release)
hold(sold.payout)  # error
pay(sold.gross_release)  # error: the curve's release is WAD, not atomic USDC

chance = amm.probability(pool, 0)
hold(chance)
hold(amm.marginal_price(pool, 0))
hold(amm.probabilities(pool)[1])
pay(chance)  # error: a chance is not money
pay(amm.probabilities(pool)[1])  # error

pay(amm.buy_amount_to_reach(pool, 0, chance + 1))
hold(amm.sell_tokens_to_reach(pool, 0, chance - 1))
hold(amm.buy_amount_to_reach(pool, 0, chance + 1))  # error
pay(amm.sell_tokens_to_reach(pool, 0, chance - 1))  # error

pay(amm.redemption(pool, (0,), bought.tokens_out))
pay(amm.settlement_payout(pool, 0, bought.tokens_out, winners=(0,), cancelled=False))
hold(amm.redemption(pool, (0,), bought.tokens_out))  # error

pay(Usdc(10_000_000))
pay(10_000_000)  # error: a bare int is wrapped at the boundary, where its unit is known
spent: Usdc = bought.tokens_out  # error
amm.BuyResult(bought.tokens_out, Usdc(0), Usdc(0), Wad(0), pool)  # error: fields in the wrong unit
