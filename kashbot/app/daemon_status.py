"""What a running daemon says about itself beyond its snapshot: ``kashbot status``'s JSON and the
metrics collector's scrape-time readings (both read the daemon's parts; nothing here runs per
event)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from kashbot.obs.metrics import Readings

if TYPE_CHECKING:
    from kashbot.app.daemon import Daemon


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def status_json(d: Daemon) -> dict[str, Any]:
    """``kashbot status``: the snapshot plus the trades held for a human's confirmation."""
    held = d.router.status().get("held_trades")
    ids, detail = (held if isinstance(held, list) else []), d.router.executor.held_details()
    return {
        **d.snapshot().as_json(),
        "held_trades": ids,
        "held": detail,
        "shared_state": d.shared.status() if d.shared else {"backend": "embedded"},
        "spend_adoption": d.core.adopter.status() if d.core.adopter else None,
    }


def daemon_readings(d: Daemon) -> Readings:
    """Scrape-time values for the metrics collector."""
    engine, state = d.engine, d.engine.state
    now = d.clock.now()
    status = d.router.status()
    stats = d.budget.stats()
    r = Readings(
        trading_state=str(d.gate.state),
        ready=d.health().ready,
        events_processed=engine.events_processed,
        intents_emitted=engine.intents_emitted,
        strategy_errors=engine.strategy_errors,
        strategy_error_counts=engine.strategy_error_counts(),
        strategy_paused={
            s.strategy_id: s.strategy_id in engine.errors.paused for s, _ in engine.strategies
        },
        inbox_depth=len(engine.inbox),
        inflight_intents=engine.inflight,
        pending_intents=len(state.pending),
        spend_used=_opt_int(status.get("daily_used")),
        spend_cap=_opt_int(status.get("daily_cap")),
        requests_used=stats.used_last_window,
        requests_budget=stats.budget,
        requests_limit=stats.limit,
        quota_rejections=stats.quota_rejections,
        requests_paused_s=stats.paused_for_s,
        market_age_s={
            v.market_id: max(0.0, now - v.updated_ts)
            for v in state.markets.values()
            if v.updated_ts
        },
        market_stale={v.market_id: v.stale for v in state.markets.values()},
        market_chain={
            v.market_id: v.chain_ref or d.chains.get(v.market_id, "unknown")
            for v in state.markets.values()
        },
        redemptions=dict(Counter(r.kind for r in state.redemptions)),
        redemption_payout=sum(r.payout for r in state.redemptions),
        deprecation_notices=d.client.deprecation_notices,
        book=d.book.read(d.gate) if d.book is not None else None,
    )
    if d.core.redeemer is not None:
        claimable = d.core.redeemer.status().get("claimable")
        r.redemptions_claimable = len(claimable) if isinstance(claimable, list) else 0
    d.sources.read_into(r)
    if engine.timer_source is not None:
        r.timers_fired = dict(engine.timer_source.fired)
        r.timers_skipped = engine.timer_source.skipped
    return r
