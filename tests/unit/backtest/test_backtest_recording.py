"""Journal format: exact round trip of every event type, stable bytes, clear errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot import amm
from kashbot import events as ev
from kashbot.backtest import recording as rec
from kashbot.money import WAD

times = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
ids = st.text(min_size=0, max_size=20)
money = st.integers(min_value=0, max_value=10**30)
outcomes = st.integers(min_value=0, max_value=7)
sides = st.sampled_from(list(ev.Side))


@st.composite
def pools(draw: st.DrawFn) -> amm.Pool:
    n = draw(st.integers(2, 8))
    raw = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n))
    total = sum(raw)
    weights = [r * WAD // total for r in raw]
    weights[-1] += WAD - sum(weights)
    supplies = draw(st.lists(st.integers(1, 10**30), min_size=n, max_size=n))
    return amm.Pool(draw(st.integers(1, 10**30)), tuple(supplies), tuple(weights))


probs = st.lists(st.integers(0, WAD), min_size=2, max_size=8).map(tuple)
opt_pool = st.none() | pools()

any_event = st.one_of(
    st.builds(
        ev.MarketSnapshot,
        ts=times,
        market_id=ids,
        status=st.sampled_from(["UNSEEDED", "ACTIVE", "RESOLVED"]),
        probabilities=probs,
        pool=opt_pool,
        freeze_at=st.none() | times,
        labels=st.lists(ids, max_size=8).map(tuple),
    ),
    st.builds(ev.PriceChange, ts=times, market_id=ids, probabilities=probs, pool=opt_pool),
    st.builds(
        ev.PredictionSeen,
        ts=times,
        market_id=ids,
        prediction_id=ids,
        outcome=outcomes,
        side=sides,
        usdc=money,
        tokens=money,
        probability_after=money,
    ),
    st.builds(
        ev.QuoteSeen,
        ts=times,
        market_id=ids,
        outcome=outcomes,
        side=sides,
        amount_in=money,
        amount_out=money,
        probabilities_after=probs,
    ),
    st.builds(ev.FairValueUpdate, ts=times, market_id=ids, probabilities=probs, source=ids),
    st.builds(
        ev.TradeUpdate,
        ts=times,
        trade_id=ids,
        intent_id=ids,
        market_id=ids,
        outcome=outcomes,
        side=sides,
        amount=money,
        status=ids,
        tokens=st.none() | money,
        error_code=st.none() | ids,
    ),
    st.builds(ev.Timer, ts=times, name=ids),
    st.builds(ev.StaleData, ts=times, source=ids, market_id=st.none() | ids, age=times),
    st.builds(ev.DataFresh, ts=times, source=ids, market_id=st.none() | ids),
    st.builds(
        ev.RiskDenied, ts=times, intent_id=ids, strategy=ids, market_id=ids, reason=ids, detail=ids
    ),
    st.builds(
        ev.TradingStateChanged,
        ts=times,
        old=st.sampled_from(list(ev.TradingState)),
        new=st.sampled_from(list(ev.TradingState)),
        reason=ids,
    ),
    st.builds(
        ev.OrderIntent,
        intent_id=ids,
        strategy=ids,
        market_id=ids,
        outcome=outcomes,
        side=sides,
        amount=money,
        limit_probability=st.none() | money,
        reason=ids,
        closing=st.booleans(),
        created_ts=times,
        tags=st.dictionaries(ids, ids, max_size=3),
    ),
)


@settings(max_examples=400, deadline=None)
@given(any_event)
def test_recording_round_trip_is_exact(event: rec.Recordable) -> None:
    line = rec.dumps_event(event)
    back = rec.loads_event(line)
    assert back == event
    assert type(back) is type(event)
    assert rec.dumps_event(back) == line  # stable bytes


@settings(max_examples=100, deadline=None)
@given(any_event)
def test_recording_never_writes_money_as_json_numbers(event: rec.Recordable) -> None:
    def walk(x: object, key: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, int) and not isinstance(x, bool):
            assert key == "outcome", f"{key} is a JSON integer"

    walk(json.loads(rec.dumps_event(event)), "")


def _sample_events() -> list[rec.Recordable]:
    pool = amm.seed_pool(1_000 * 10**6, (WAD * 3 // 10, WAD * 7 // 10))
    return [
        ev.MarketSnapshot(1.0, "m1", "ACTIVE", amm.probabilities(pool), pool),
        ev.PredictionSeen(2.5, "m1", "p1", 0, ev.Side.BUY, 5_000_000, 12 * 10**18, WAD // 3),
        ev.TradeUpdate(3.0, "t1", "i1", "m1", 1, ev.Side.SELL, 2_000_000, "completed", 10**18),
    ]


def test_recording_file_round_trip_and_deterministic_bytes(tmp_path: Path) -> None:
    events = _sample_events()
    meta = {"scenario": "unit", "seed": 7}
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    assert rec.write_journal(a, events, meta) == 3
    rec.write_journal(b, events, meta)
    assert a.read_bytes() == b.read_bytes()
    header, back = rec.read_journal(a)
    assert header.version == rec.FORMAT_VERSION
    assert header.meta == meta
    assert back == events
    first = gzip.decompress(a.read_bytes()).decode().splitlines()[0]
    assert json.loads(first)["format"] == "kashbot-journal"


def test_recording_reads_plain_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "hand.jsonl"
    lines = [rec.JournalHeader(rec.FORMAT_NAME, 1, {}).to_line()]
    lines += [rec.dumps_event(e) for e in _sample_events()]
    p.write_text("\n".join(lines) + "\n\n")
    assert rec.read_journal(p)[1] == _sample_events()


def test_recording_rejects_newer_version_naming_the_file(tmp_path: Path) -> None:
    p = tmp_path / "future.jsonl"
    p.write_text(json.dumps({"format": rec.FORMAT_NAME, "version": 99, "meta": {}}) + "\n")
    with pytest.raises(rec.JournalFormatError, match=r"future\.jsonl:1: header\.version 99"):
        rec.read_journal(p)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"type":"Nope","ts":1.0}', "unknown event type 'Nope'"),
        ('{"type":"Timer","ts":1.0}', r"Timer\.name: missing"),
        ('{"type":"Timer","ts":1.0,"name":"x","extra":1}', r"unknown fields \['extra'\]"),
        (
            '{"type":"PredictionSeen","ts":1,"market_id":"m","prediction_id":"p","outcome":0,'
            '"side":"buy","usdc":1.5,"tokens":"1","probability_after":"1"}',
            r"PredictionSeen\.usdc",
        ),
        ("not json", "not JSON"),
    ],
)
def test_recording_bad_lines_name_file_line_and_field(
    tmp_path: Path, line: str, match: str
) -> None:
    p = tmp_path / "bad.jsonl"
    header = rec.JournalHeader(rec.FORMAT_NAME, 1, {}).to_line()
    ok = rec.dumps_event(ev.Timer(0.0, "t"))
    p.write_text(f"{header}\n{ok}\n{line}\n")
    with pytest.raises(rec.JournalFormatError, match=match) as info:
        rec.read_journal(p)
    assert "bad.jsonl:3:" in str(info.value)


def test_recording_rejects_non_journal_file(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text('{"hello": 1}\n')
    with pytest.raises(rec.JournalFormatError, match=r"header\.format"):
        rec.read_journal(p)
