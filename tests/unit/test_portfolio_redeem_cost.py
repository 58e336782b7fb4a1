"""A claim re-sent after a restart: the venue had zeroed the position, so the book no longer
holds it; the PnL must still be the payout less what was paid (the claim's recorded cost).

Seen in the kill -9 redemption test: the restarted daemon reported the whole 189.98 USDC payout
as realised profit on a position that had cost 100 USDC.
"""

from __future__ import annotations

from kashbot.portfolio import Portfolio

U = 1_000_000
WAD = 10**18


def test_redeem_of_a_position_the_book_lost_uses_the_claims_cost() -> None:
    book = Portfolio()
    book.set_exposure({"m": 100 * U})  # after a restart: market totals only
    assert book.redeem("m", 0, 190 * U, last=True, cost=100 * U) == 90 * U
    assert book.realized == 90 * U and book.redeemed == 90 * U
    assert book.exposure("m") == 0


def test_redeem_of_a_held_position_uses_the_books_own_cost() -> None:
    book = Portfolio()
    book.buy("m", 0, 5 * WAD, 100 * U)
    assert book.redeem("m", 0, 190 * U, last=True, cost=999 * U) == 90 * U
    assert book.exposure("m") == 0
