"""The polymarket source parses the hand-written venue fixture into the right midpoints."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from kashbot.clock import SimClock
from kashbot.events import FairValueUpdate
from kashbot.fairvalue.polymarket import Book, PolymarketParams, PolymarketSource
from kashbot.fairvalue.validate import to_wad_chances
from kashbot.money import decimal_to_wad

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "polymarket"
TOKENS = json.loads((FIXTURES / "rest_books.json").read_text())["tokens"]
D = Decimal


def source(**over: object) -> PolymarketSource:
    params = PolymarketParams.model_validate(
        {
            "url": "ws://127.0.0.1:1/ws/market",
            "markets": {
                "kash-bin": [TOKENS["YES"], TOKENS["NO"]],
                "kash-three": [TOKENS["A"], TOKENS["B"], TOKENS["C"]],
            },
            **over,
        }
    )
    return PolymarketSource(params, clock=SimClock(), source_id="pm")


def replay(src: PolymarketSource) -> list[FairValueUpdate]:
    out: list[FairValueUpdate] = []
    for line in (FIXTURES / "market_channel.jsonl").read_text().splitlines():
        src.on_message(line, out.append)
    return out


def test_fixture_gives_the_documented_midpoints_and_spreads() -> None:
    src = source()
    with capture_logs() as logs:
        got = replay(src)
    want = [
        ("kash-bin", ["0.51", "0.49"], "0.98"),
        ("kash-bin", ["0.515", "0.485"], "0.99"),
        ("kash-three", ["0.31", "0.45", "0.24"], "0.96"),
        ("kash-three", ["0.31", "0.45", "0.25"], "0.94"),  # sums to 1.01: scaled
    ]
    assert [(u.market_id, u.probabilities, u.confidence) for u in got] == [
        (m, to_wad_chances([D(p) for p in ps], "proportional"), decimal_to_wad(D(c)))
        for m, ps, c in want
    ]
    assert all(u.source == "pm" and u.source_ts is None for u in got)
    bad = [e for e in logs if e["event"] == "fair_value_ws_bad_message"]
    assert len(bad) == 3 and src.refused == 3  # lines 4, 6 and 11
    assert all(e["source"] == "pm" for e in bad)


def test_venue_time_and_single_token_binary() -> None:
    src = source(venue_time=True, markets={"kash-bin": [TOKENS["YES"]]})
    got = replay(src)
    assert got[0].probabilities == to_wad_chances([D("0.51"), D("0.49")])
    assert got[0].source_ts == 1764925200.0


def test_a_too_wide_spread_gives_no_value() -> None:
    src = source(max_spread="0.015")
    got = replay(src)
    assert [u.market_id for u in got] == ["kash-bin"]  # only the 0.01-spread update


def test_book_levels() -> None:
    b = Book()
    assert b.mid_and_spread() is None
    b.replace_with([{"price": "0.4", "size": "1"}], [{"price": "0.6", "size": "1"}])
    b.set_level("BUY", D("0.45"), D("2"))
    b.set_level("SELL", D("0.6"), D("0"))
    assert b.mid_and_spread() is None  # no ask left
    b.set_level("SELL", D("0.55"), D("3"))
    assert b.mid_and_spread() == (D("0.5"), D("0.10"))
    b.set_level("BUY", D("0.56"), D("1"))
    assert b.mid_and_spread() is None  # crossed


def test_a_token_mapped_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="mapped twice"):
        source(markets={"a": ["t1", "t2"], "b": ["t2"]})
