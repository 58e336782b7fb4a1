"""The what-if replay: everything the engine sees about markets is derived from the venue's pools.

The loop takes the earliest of (next recorded event, next sim-truth fair value, the venue's next
scheduled step, the clock's next sleeper), moves the session there and processes it. With a
recording, others' recorded trades are re-applied to the pools in order
(``Venue.apply_external_trade``), so our own trades move the prices later events see; with a
scenario, the venue's seeded noise traders make the flow.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.progress import Progress

from kashbot import amm
from kashbot.backtest.session import Session, lifecycle_snapshot
from kashbot.events import (
    DataFresh,
    Event,
    FairValueUpdate,
    MarketSnapshot,
    PredictionSeen,
    Side,
    StaleData,
)
from kashbot.sim.errors import SimError

PROGRESS_EVERY = 2_000
_INF = float("inf")


_FED = (FairValueUpdate, StaleData, DataFresh)  # fed to the engine as recorded


async def apply_recorded(s: Session, ev: Event) -> None:
    """One recorded input: others' trades hit the pools, snapshots are re-derived from them."""
    kind = type(ev)
    if kind is FairValueUpdate or (kind is not PredictionSeen and isinstance(ev, _FED)):
        await s.feed(ev)  # the most frequent input first
    elif isinstance(ev, PredictionSeen):
        amount = ev.usdc if ev.side is Side.BUY else ev.tokens
        try:
            s.venue.apply_external_trade(ev.market_id, ev.outcome, ev.side.value, amount)
        except SimError:
            s.tape.skipped_external += 1  # e.g. our trades left too little supply
        await s.flush()
    elif isinstance(ev, MarketSnapshot):
        m = s.venue.markets.get(ev.market_id)
        if m is not None and ev.status != "ACTIVE" and m.tradeable(s.clock.now()):
            s.venue.freeze_market(ev.market_id)
        pool = m.pool if m is not None else None
        probs = amm.probabilities(pool) if pool is not None else ev.probabilities
        await s.feed(
            MarketSnapshot(ev.ts, ev.market_id, ev.status, probs, pool, ev.freeze_at, ev.labels)
        )
    # PriceChange and QuoteSeen are re-derived from the venue's pools; not replayed.


async def run_venue_replay(
    s: Session, recorded: Sequence[Event], end: float, *, progress: bool, sim_truth: bool = True
) -> None:
    """Run from the session's start to ``end`` over ``recorded`` inputs (none: a scenario);
    ``sim_truth=False``: never the simulator's truth (an external fair-value file replaces it)."""
    await s.advance(s.start)
    for mid in s.venue.markets:  # what a stream subscription starts with, lifecycle included
        await s.feed(lifecycle_snapshot(s.venue, mid, s.start))
    await s.engine.start()
    truth = s.cfg.sources.sim_truth
    truth_every = truth.interval_s if truth.enabled and sim_truth and not recorded else None
    next_truth = s.start if truth_every is not None else _INF
    n = len(recorded)
    i = 0
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("backtest", total=n if n else end - s.start)
        steps = 0
        venue, clock, engine = s.venue, s.clock, s.engine
        while True:  # the earliest of: recorded input, truth, venue step, engine timer
            t = recorded[i].ts if i < n else _INF
            if next_truth < t:
                t = next_truth
            t_ven = venue.next_due()
            if t_ven is not None and t_ven < t:
                t = t_ven
            t_clk = clock.next_deadline()
            if t_clk is not None and t_clk < t:
                t = t_clk
            if t > end:
                break
            now = clock.now()
            if t < now:
                t = now
            await s.advance(t)
            if next_truth <= t and truth_every is not None:
                for mid in s.venue.markets:
                    await s.feed(FairValueUpdate(t, mid, s.venue.truth(mid), "sim_truth"))
                next_truth += truth_every
            while i < n and recorded[i].ts <= t:
                ev = recorded[i]
                if type(ev) is FairValueUpdate:  # most inputs: straight to the engine, as
                    s.events_fed += 1  # Session.feed does, two coroutine calls fewer
                    await engine.feed(ev)
                else:
                    await apply_recorded(s, ev)
                i += 1
            steps += 1
            if progress and steps % PROGRESS_EVERY == 0:
                bar.update(task, completed=i if n else t - s.start)
    await s.advance(end)
