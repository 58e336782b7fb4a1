"""Pure pieces: chance validation, the path syntax, row mapping."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import ValidationError

from kashbot.fairvalue.mapping import BadRow, RawRow, extract, parse_ts
from kashbot.fairvalue.paths import WILD, FieldMap, PathError, parse, select
from kashbot.fairvalue.validate import RowError, to_wad_chances
from kashbot.money import WAD

D = Decimal


def test_strict_scales_a_sum_within_tolerance_to_exactly_one() -> None:
    assert to_wad_chances(["0.333", "0.333", "0.333"]) == (
        WAD // 3,
        WAD // 3,
        WAD - 2 * (WAD // 3),
    )
    assert to_wad_chances([0.25, 0.75]) == (WAD // 4, 3 * WAD // 4)
    assert sum(to_wad_chances([D("0.1"), D("0.2"), D("0.7")])) == WAD


@pytest.mark.parametrize(
    ("chances", "why"),
    [
        (["0.6", "0.6"], "sum"),
        (["1.2", "-0.2"], "not in [0, 1]"),
        (["NaN", "0.5"], "finite"),
        (["0.5"], "2-8 outcomes"),
        (["0", "0"], "sum to 0"),
        ([True, "0.5"], "not a number"),
        (["abc", "0.5"], "not a number"),
    ],
)
def test_bad_chances_are_refused(chances: list[object], why: str) -> None:
    with pytest.raises(RowError, match=re.escape(why)):
        to_wad_chances(chances)


def test_proportional_scales_an_order_books_overround() -> None:
    assert to_wad_chances(["0.52", "0.50"], "proportional") == to_wad_chances(
        [D("0.52") / D("1.02"), D("0.50") / D("1.02")], "strict"
    )
    with pytest.raises(RowError):
        to_wad_chances(["0.52", "0.50"], "strict", D("0.01"))


def test_path_syntax() -> None:
    assert parse("data.markets[*].prob").steps == ("data", "markets", WILD, "prob")
    assert parse("a[0][-1]").steps == ("a", 0, -1)
    assert parse("").steps == () and parse("$").steps == ()
    for bad in ("a..b", "a.", ".a", "a[x]", "a]b"):
        with pytest.raises(PathError):
            parse(bad)
    doc = {"data": {"markets": [{"prob": 1}, {"prob": 2}, {"x": 3}]}}
    assert [v for _, v in select(doc, parse("data.markets[*].prob"))] == [1, 2]
    assert select({"m": {"a": 1, "b": 2}}, parse("m[*]")) == [("a", 1), ("b", 2)]


def test_field_map_needs_one_chance_field_and_one_market_field() -> None:
    with pytest.raises(ValidationError, match="exactly one of 'chances' or 'p_yes'"):
        FieldMap(market="id")
    with pytest.raises(ValidationError, match="exactly one of 'market'"):
        FieldMap(p_yes="p")
    with pytest.raises(ValidationError, match="bad path"):
        FieldMap(market="id", p_yes="a..b")
    with pytest.raises(ValidationError, match="extra"):
        FieldMap.model_validate({"market": "id", "p_yes": "p", "prop": "x"})


def test_extract_maps_rows_renames_markets_and_reports_bad_rows() -> None:
    fmap = FieldMap(
        rows="data.markets[*]",
        market="id",
        markets={"ext-1": "m1", "ext-2": "m2", "ext-3": "m3"},
        p_yes="prob",
        ts="t",
        ts_unit=0.001,
        confidence="c",
    )
    doc = {
        "data": {
            "markets": [
                {"id": "ext-1", "prob": "0.4", "t": 1_700_000_000_000, "c": "0.9"},
                {"id": "unmapped", "prob": "0.5", "t": 1, "c": 1},
                {"id": "ext-2", "prob": "1.5", "t": 1, "c": 1},
                {"id": "ext-3", "t": 1, "c": 1},
            ]
        }
    }
    rows = extract(doc, fmap)
    assert rows[0] == RawRow(
        "data.markets[*]#0", "m1", (D("0.4"), D("0.6")), 1_700_000_000.0, D("0.9")
    )
    assert isinstance(rows[1], BadRow) and "not in [0, 1]" in rows[1].reason
    assert isinstance(rows[2], BadRow) and "prob" in rows[2].reason
    assert len(rows) == 3  # the unmapped id is skipped quietly


def test_at_key_and_iso_times() -> None:
    fmap = FieldMap(rows="markets[*]", market="@key", chances="chances", ts="ts")
    rows = extract({"markets": {"m1": {"chances": [0.5, 0.5], "ts": "1970-01-01T00:01:00Z"}}}, fmap)
    assert rows == [RawRow("markets[*]['m1']", "m1", (D("0.5"), D("0.5")), 60.0, None)]
    assert parse_ts("120") == 120.0
    with pytest.raises(RowError, match="timezone"):
        parse_ts("2026-01-01T00:00:00")
