"""Run a backtest: the daemon's engine, strategies, risk gate, executor and store, in sim time.

Wiring (the same classes ``kashbot run`` assembles, see ``kashbot.app.daemon``)::

    recorded inputs ─┐                                 ┌─ Engine(inline_intents) ─ strategies
    (or sim noise)   ├─▶ sim Venue (pools, keys, caps) ─┤        │ OrderIntent
                     │     │ ticks → PredictionSeen +   │        ▼
                     │     │ PriceChange(pool)          │  OrderRouter → RiskGate → Executor
                     │     │ webhooks → on_trade_update │        │ create_trade
                     │     ▼                            │        ▼
                     └── session: SimClock jumps to the └── SimVenueAdapter (TradingVenue)
                         next due moment (recorded event, venue step, engine timer)

One module per part: :mod:`~kashbot.backtest.inputs` (the venue scenario, how inputs are named),
:mod:`~kashbot.backtest.assembly` (the daemon's parts), :mod:`~kashbot.backtest.session` (clock,
venue and the feedback to the engine), :mod:`~kashbot.backtest.venue_replay` (what-if: prices
from the venue's pools) and :mod:`~kashbot.backtest.observed_replay` (what the recorded run saw),
:mod:`~kashbot.backtest.tape` (what the run produced). This module reads the inputs, runs one of
the replays and writes the report.

:func:`run_unit` is the picklable unit of work for sweeps: plain data in, plain data out.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog

from kashbot import amm
from kashbot.backtest.config import split_config
from kashbot.backtest.inputs import (
    BacktestError,
    config_digest,
    data_scenario,
    market_names,
    meta_scenario,
    own_trade_predictions,
    prepare_scenario,
    settings_document,
    sha256_file,
    tier_of,
)
from kashbot.backtest.metrics import RunTotals, compute_metrics, mark_value
from kashbot.backtest.observed import ObservedPlan, build_plan
from kashbot.backtest.observed_replay import ObservedReplay
from kashbot.backtest.recording import Recordable, read_journal
from kashbot.backtest.report import Report, RunArtifacts, write_outputs
from kashbot.backtest.session import Session
from kashbot.backtest.venue_replay import run_venue_replay
from kashbot.events import (
    DataFresh,
    Event,
    FairValueUpdate,
    MarketSnapshot,
    PredictionSeen,
    StaleData,
)
from kashbot.sim.scenario import load_scenario

REPLAY_GC_GEN0 = 10_000  # allocations between young collections while replaying (CPython: 700)


@contextmanager
def replay_gc(gen0: int = REPLAY_GC_GEN0) -> Iterator[None]:
    """Less cyclic GC during the replay loop; the process's settings come back afterwards.

    The loop allocates many short-lived events and dataclasses and few cycles, so CPython's
    default (a young collection every 700 net allocations) spent 10-20 % of a backtest scanning.
    ``gc.freeze()`` moves everything set up so far (journal events, venue, engine) out of the
    collector's reach; ``gc.unfreeze()`` hands it back, so a sweep running many backtests in one
    process does not keep their garbage forever.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(gen0, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


# ---- entry points -------------------------------------------------------------------------------


async def run_backtest_async(
    config: Mapping[str, Any],
    *,
    data: str | Path | Sequence[Recordable] | None = None,
    scenario: str | Path | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> Report:
    """See :func:`run_backtest`."""
    cfg, settings = split_config(config)
    data = data if data is not None else settings.data
    scenario = scenario if scenario is not None else settings.scenario
    if (data is None) == (scenario is None):
        raise BacktestError("give exactly one of data (a journal) or scenario (a sim scenario)")
    inputs: dict[str, Any] = {"seed": seed, "params": dict(params or {})}
    inputs["config_sha256"] = config_digest(config)
    recorded: list[Event] = []
    pools: dict[str, amm.Pool] = {}
    time_scale = 1.0
    plan: ObservedPlan | None = None
    if data is not None:
        meta: dict[str, Any] = {}
        if isinstance(data, str | Path):
            path = Path(data)
            header, events = read_journal(path)
            meta = header.meta
            inputs.update(data=path.name, data_sha256=sha256_file(path), data_meta=header.meta)
        else:  # already decoded (a sweep or a benchmark decodes once)
            events = list(data)
            inputs.update(data="<in memory>", data_events=len(events))
        if not any(isinstance(e, Event) for e in events):
            raise BacktestError("the recording has no events")
        start = min(e.ts for e in events if isinstance(e, Event))
        from_meta = meta_scenario(meta, events)
        if from_meta is not None:  # the paper run's own pools, exactly
            sc = from_meta
            time_scale = float(meta.get("time_scale") or 1.0)
        else:
            sc = load_scenario(data_scenario(events, settings, tier_of(cfg), start))
        inputs["venue_from"] = "journal scenario" if from_meta is not None else "snapshots"
        names = market_names(None, meta, events)
        observed = settings.replay == "observed"
        if observed:
            plan = build_plan(events)
            start = plan.times[0]
        mine = own_trade_predictions(events)
        seen_ids: set[str] = set()
        for idx, e in enumerate(events):
            if (
                from_meta is None
                and isinstance(e, MarketSnapshot)
                and e.pool is not None
                and e.market_id not in pools
            ):
                pools[e.market_id] = e.pool
            if isinstance(e, PredictionSeen):
                if idx in mine or e.prediction_id in seen_ids:
                    continue  # ours (re-made by the backtest) or seen by two sources
                seen_ids.add(e.prediction_id)
            if isinstance(
                e, PredictionSeen | MarketSnapshot | FairValueUpdate | StaleData | DataFresh
            ):
                recorded.append(e)
        recorded.sort(key=lambda e: e.ts)  # stable: equal times keep recording order
        sc, api_key = prepare_scenario(sc, cfg, settings, time_scale=time_scale, observed=observed)
        end = recorded[-1].ts + settings.settle_s if recorded else start
        if plan is not None:
            recorded = []
            end = plan.times[-1] + settings.settle_s
    else:
        assert scenario is not None
        base = load_scenario(scenario)
        inputs.update(
            scenario=Path(scenario).name,
            scenario_sha256=sha256_file(Path(scenario)),
            scenario_seed=base.seed,
        )
        names = market_names(base, {}, ())
        sc, api_key = prepare_scenario(base, cfg, settings)
        from kashbot.sim.ids import parse_iso

        start = parse_iso(sc.start_time)
        end = start + settings.duration_s
    show = sys.stdout.isatty() if progress is None else progress
    session = Session(cfg, settings, sc, api_key, seed, start, pools, time_scale=time_scale)
    anchored = ObservedReplay(session, plan) if plan is not None else None
    await session.setup(intent_listeners=[anchored.match_intent] if anchored is not None else [])
    try:
        with replay_gc():
            if anchored is not None:
                await anchored.run(end)
            else:
                await run_venue_replay(session, recorded, end, progress=show)
        tape = session.tape
        pools_now = {mid: m.pool for mid, m in session.venue.markets.items()}
        final_mark = mark_value(tape.book.positions, pools_now, session.venue.fees)
        totals = RunTotals(
            initial_cash=session.initial_cash,
            book=tape.book,
            fills=tape.fills,
            equity=tape.equity,
            inventory=tape.inventory,
            denials=tape.denials,
            requests_used=session.adapter.requests_used,
            request_budget=session.adapter.budget_over(end - start),
            failed_trades=tape.failed,
            events=session.events_fed,
            start_ts=start,
            end_ts=end,
            final_mark=final_mark,
        )
        metrics = compute_metrics(totals)
        metrics["external_trades_skipped"] = tape.skipped_external
        metrics["intents"] = len(tape.intents)
        metrics["rate_limited_requests"] = session.adapter.rate_limited
        metrics["requests_by_route"] = dict(sorted(session.adapter.requests.items()))
        if anchored is not None:
            metrics["observed_replay"] = anchored.metrics()
        inputs["settings"] = settings_document(settings)
        art = RunArtifacts(
            inputs=inputs,
            metrics=metrics,
            fills=tape.fills,
            equity=tape.equity,
            inventory=tape.inventory,
            prices=tape.prices,
            fair=tape.fair,
            intents=tape.intents,
            markets=names,
        )
    finally:
        await session.close()
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        write_outputs(out, art, plots=settings.plots)
    return Report(metrics=metrics, inputs=inputs, out_dir=out, artifacts=art)


def run_backtest(
    config: Mapping[str, Any],
    *,
    data: str | Path | Sequence[Recordable] | None = None,
    scenario: str | Path | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> Report:
    """Backtest ``config`` (a config mapping, see :mod:`kashbot.backtest.config`) on a journal
    (``data``: a file, or its already decoded events) or a sim scenario (``scenario``); writes
    the outputs to ``out_dir`` if given."""
    return asyncio.run(
        run_backtest_async(
            config,
            data=data,
            scenario=scenario,
            seed=seed,
            out_dir=out_dir,
            params=params,
            progress=progress,
        )
    )


def run_unit(config: dict[str, Any], params: dict[str, Any], seed: int) -> dict[str, Any]:
    """The sweep's unit of work: plain, picklable data in and out (Ray/Dask can run it too)."""
    from kashbot.backtest.sweep import apply_params

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    report = run_backtest(apply_params(config, params), seed=seed, params=params, progress=False)
    return report.metrics


__all__ = [
    "BacktestError",
    "Report",
    "data_scenario",
    "own_trade_predictions",
    "run_backtest",
    "run_backtest_async",
    "run_unit",
]
