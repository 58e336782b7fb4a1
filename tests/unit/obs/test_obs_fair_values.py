"""Fair-value sources in what the operator sees: age per market and stale flags in the status
view, the same plus source restarts in the metrics; nothing of it without sources."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from kashbot.engine.state import EngineState
from kashbot.events import FairValueUpdate, MarketSnapshot
from kashbot.money import WAD
from kashbot.obs.metrics import DaemonMetrics, Readings
from kashbot.obs.status import render, take_snapshot

HALF = (WAD // 2, WAD // 2)


def _readings(**kw: Any) -> Readings:
    return Readings("ACTIVE", True, 0, 0, 0, 0, 0, 0, **kw)


def _samples(r: Readings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = DaemonMetrics(lambda: r).exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_metrics_show_fair_value_age_stale_and_restarts() -> None:
    r = _readings(
        fair_value_age_s={"m1": 2.5, "m2": 700.0},
        fair_value_stale={"m1": False, "m2": True, "m3": True},
        fair_value_restarts={"model": 0, "polymarket": 3},
    )
    got = _samples(r)
    assert got[("kashbot_fair_value_age_seconds", (("market", "m1"),))] == 2.5
    assert got[("kashbot_fair_value_stale", (("market", "m2"),))] == 1.0
    assert got[("kashbot_fair_value_stale", (("market", "m3"),))] == 1.0  # never had a value
    key = ("kashbot_fair_value_source_restarts_total", (("source", "polymarket"),))
    assert got[key] == 3
    assert not any(n.startswith("kashbot_fair_value") for n, _ in _samples(_readings()))


def test_status_shows_fair_value_age_and_stale_markets() -> None:
    state = EngineState()
    for m in ("m1", "m2"):
        state.apply(MarketSnapshot(0.0, m, "ACTIVE", HALF, None))
    state.apply(FairValueUpdate(0.0, "m1", (WAD * 3 // 5, WAD * 2 // 5), "model"))
    view = {"age_s": {"m1": 3.2, "m2": None}, "stale": ["m2"], "restarts": {"model": 1}}
    snap = take_snapshot(state, uptime_s=1.0, now=5.0, fair_values=view)
    doc = snap.as_json()
    assert doc["fair_values"] == view
    rows = {m["market_id"]: m for m in doc["markets"]}
    assert (rows["m1"]["fair_age_s"], rows["m1"]["fair_stale"]) == (3.2, False)
    assert (rows["m2"]["fair_age_s"], rows["m2"]["fair_stale"]) == (None, True)
    console = Console(width=200, record=True)
    console.print(render(snap))
    text = console.export_text()
    assert "0.6000 0.4000 (3s)" in text and "- (STALE never)" in text
    plain = take_snapshot(state, uptime_s=1.0, now=5.0).as_json()
    assert plain["fair_values"] == {} and "fair_age_s" not in plain["markets"][0]
