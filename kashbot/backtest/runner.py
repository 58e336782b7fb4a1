"""Run a backtest: the daemon's engine, strategies, risk gate, executor and store, in sim time.

Wiring (the core ``kashbot run`` builds, :func:`kashbot.core.build_core`)::

    recorded inputs ─┐                                 ┌─ Engine(inline_intents) ─ strategies
    (or sim noise)   ├─▶ sim Venue (pools, keys, caps) ─┤        │ OrderIntent
                     │     │ ticks → PredictionSeen +   │        ▼
                     │     │ PriceChange(pool)          │  OrderRouter → RiskGate → Executor
                     │     │ webhooks → on_trade_update │        │ create_trade
                     │     ▼                            │        ▼
                     └── session: SimClock jumps to the └── SimVenueAdapter (TradingVenue)
                         next due moment (recorded event, venue step, engine timer)

One module per part: :mod:`~kashbot.backtest.inputs` (the venue scenario, the events to replay,
how inputs are named), :mod:`~kashbot.backtest.assembly` (the daemon's core,
:mod:`kashbot.core`), :mod:`~kashbot.backtest.session` (clock, venue and the feedback to the
engine), :mod:`~kashbot.backtest.venue_replay` (what-if: prices from the venue's pools) and
:mod:`~kashbot.backtest.observed_replay` (what the recorded run saw), :mod:`~kashbot.backtest.tape`
(what the run produced). This module reads the inputs, runs one of the replays and writes the
report.

:func:`run_unit` is the picklable unit of work for sweeps: plain data in, plain data out.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import structlog

from kashbot.backtest.config import split_config
from kashbot.backtest.creator_fees import attach_creator_fee_log, creator_fee_metrics
from kashbot.backtest.inputs import (
    BacktestError,
    RunInputs,
    add_fair_values,
    config_digest,
    data_scenario,
    journal_inputs,
    own_trade_predictions,
    scenario_inputs,
    settings_document,
)
from kashbot.backtest.metrics import RunTotals, compute_metrics, mark_value, usdc_signed
from kashbot.backtest.observed_replay import ObservedReplay
from kashbot.backtest.recording import Recordable
from kashbot.backtest.report import Report, RunArtifacts, write_outputs
from kashbot.backtest.session import Session
from kashbot.backtest.venue_replay import run_venue_replay

P = ParamSpec("P")
T = TypeVar("T")

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
    fair_values: str | Path | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> Report:
    """Backtest ``config`` (a config mapping, see :mod:`kashbot.backtest.config`) on a journal
    (``data``: a file, or its already decoded events) or a sim scenario (``scenario``), with the
    fair values of an external file if given (``fair_values``, else ``backtest.fair_values``);
    writes the outputs to ``out_dir`` if given. :func:`run_backtest` is the blocking form."""
    cfg, settings = split_config(config)
    data = data if data is not None else settings.data
    scenario = scenario if scenario is not None else settings.scenario
    fair_values = fair_values if fair_values is not None else settings.fair_values
    if (data is None) == (scenario is None):
        raise BacktestError("give exactly one of data (a journal) or scenario (a sim scenario)")
    doc: dict[str, Any] = {"seed": seed, "params": dict(params or {})}
    doc["config_sha256"] = config_digest(config)
    if data is not None:
        run = journal_inputs(data, cfg, settings, doc)
    else:
        assert scenario is not None
        run = scenario_inputs(scenario, cfg, settings, doc)
    if fair_values is not None:
        add_fair_values(run, fair_values)
    show = sys.stdout.isatty() if progress is None else progress
    session = Session(
        cfg,
        settings,
        run.scenario,
        run.api_key,
        seed,
        run.start,
        run.pools,
        time_scale=run.time_scale,
    )
    anchored = ObservedReplay(session, run.plan) if run.plan is not None else None
    await session.setup(intent_listeners=[anchored.match_intent] if anchored is not None else [])
    fee_log = attach_creator_fee_log(session.engine)  # only when a liquidity keeper runs
    try:
        with replay_gc():
            if anchored is not None:
                await anchored.run(run.end)
            else:
                await run_venue_replay(
                    session, run.recorded, run.end, progress=show, sim_truth=run.sim_truth
                )
        doc["settings"] = settings_document(settings)
        art = _artifacts(session, run, anchored)
        fees = {mid: m.fees for mid, m in session.venue.markets.items()}
        art.metrics.update(creator_fee_metrics(fee_log, art.fills, fees))
    finally:
        await session.close()
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        write_outputs(out, art, plots=settings.plots)
    return Report(metrics=art.metrics, inputs=doc, out_dir=out, artifacts=art)


def _artifacts(session: Session, run: RunInputs, anchored: ObservedReplay | None) -> RunArtifacts:
    """The run's metrics and what the report files and plots are written from."""
    tape, adapter = session.tape, session.adapter
    pools_now = {mid: m.pool for mid, m in session.venue.markets.items()}
    totals = RunTotals(
        initial_cash=session.initial_cash,
        book=tape.book,
        fills=tape.fills,
        equity=tape.equity,
        inventory=tape.inventory,
        denials=tape.denials,
        requests_used=adapter.requests_used,
        request_budget=adapter.budget_over(run.end - run.start),
        failed_trades=tape.failed,
        events=session.events_fed,
        start_ts=run.start,
        end_ts=run.end,
        final_mark=mark_value(tape.book.positions, pools_now, session.venue.fees),
    )
    metrics = compute_metrics(totals)
    metrics["external_trades_skipped"] = tape.skipped_external
    metrics["intents"] = len(tape.intents)
    metrics["rate_limited_requests"] = adapter.rate_limited
    metrics["requests_by_route"] = dict(sorted(adapter.requests.items()))
    # settled positions (issue 11): realised PnL from redemptions, apart from the sales' PnL
    metrics["redemptions"] = {
        "positions": len(tape.redemptions),
        "payout_usdc": usdc_signed(sum(r.payout for r in tape.redemptions)),
        "realised_pnl_usdc": usdc_signed(tape.redeemed_pnl),
    }
    metrics["market_chains"] = {mid: m.chain for mid, m in sorted(session.venue.markets.items())}
    metrics.update(tape.attribution.breakdown(pools_now, session.venue.fees))  # by_market, ..
    ids = [s.strategy_id for s, _ in session.engine.strategies]
    metrics["strategy_errors"] = session.engine.errors.as_json(ids)
    if anchored is not None:
        metrics["observed_replay"] = anchored.metrics()
    return RunArtifacts(
        inputs=run.doc,
        metrics=metrics,
        fills=tape.fills,
        equity=tape.equity,
        inventory=tape.inventory,
        prices=tape.prices,
        fair=tape.fair,
        intents=tape.intents,
        markets=run.names,
    )


def _blocking(fn: Callable[P, Coroutine[Any, Any, T]], name: str) -> Callable[P, T]:
    """``fn`` run to completion on a fresh event loop (``asyncio.run``), same parameters."""

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        out: list[T] = []

        async def main() -> None:  # the result stays out of the task: see below
            out.append(await fn(*args, **kwargs))

        # asyncio.run's exit (3.11) formats repr(main task) while restoring SIGINT, and a task's
        # repr holds its result's full repr: a 30-day Report's was the run's peak, +40 MiB
        asyncio.run(main())
        return out[0]

    functools.update_wrapper(run, fn)  # inspect.signature and help() show fn's parameters
    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"Blocking :func:`{fn.__name__}` (``asyncio.run``), same parameters."
    return run


run_backtest = _blocking(run_backtest_async, "run_backtest")


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
