"""The venue keeps the newest ``api.prediction_log_size`` executed-trade rows per market (memory
flat over a long run) and still counts every execution."""

from __future__ import annotations

from kashbot.clock import SimClock
from kashbot.money import USDC_ONE
from kashbot.sim.embedded import prepare_scenario, scenario_dict
from kashbot.sim.venue import Venue

M2 = "610464bf-ef0e-4a59-8144-c69601eef85e"


def test_newest_rows_kept_every_execution_counted() -> None:
    scenario = prepare_scenario(None, overrides={"api": {"prediction_log_size": 5}}, noise=False)
    v = Venue(scenario or scenario_dict(), clock=SimClock(), seed=0)
    made = [v.apply_external_trade(M2, i % 2, "buy", (i + 1) * USDC_ONE) for i in range(12)]
    assert v.predictions(M2) == list(reversed(made[-5:]))  # newest first, as the API lists
    assert v.markets[M2].executions == 12
