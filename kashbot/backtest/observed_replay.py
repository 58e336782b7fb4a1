"""The observed replay of a recording: what the recorded run saw, fed in journal order, with the
venue only executing our intents (see :mod:`kashbot.backtest.observed` for the plan).

While our intents equal the recorded ones, each of our trades executes where its recorded twin's
fill sits in the flow (``latency_for``) and its webhook is held until the journal line where the
recorded run heard about it (``hold``); our fills are checked against the recorded ones.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from kashbot.backtest.observed import ObservedPlan, RecordedTrade, intent_key
from kashbot.backtest.session import Session, prediction_event
from kashbot.events import Event, MarketSnapshot, OrderIntent, PredictionSeen, Side
from kashbot.sim.errors import SimError
from kashbot.sim.models import Delivery, Prediction

log = structlog.get_logger("kashbot.backtest")


class ObservedReplay:
    """Anchors our intents and trades to the recorded ones; build before ``Session.setup``
    and pass :meth:`match_intent` as an intent listener."""

    def __init__(self, session: Session, plan: ObservedPlan) -> None:
        self.s = session
        self.plan = plan
        self._line = -1  # journal line being replayed
        self._next_recorded = 0  # the recorded intent the next intent of ours should equal
        self._diverged_at: int | None = None  # our intent count when they stopped matching
        self._ours = 0
        self._anchor: dict[str, RecordedTrade] = {}  # our intent id -> its recorded twin
        self._held: dict[int, list[Delivery]] = {}  # journal line -> webhooks to deliver there
        self.anchored_trades = 0
        self.flow_mismatches = 0
        self.fill_mismatches = 0
        session.adapter.latency_for = self._latency_for
        session.feed_ticks = False  # the recorded observations are fed instead
        session.on_user_fill = self._check_fill
        session.hold = self._hold

    # our intents against the recorded ones, and where their trades land

    def match_intent(self, intent: OrderIntent) -> None:
        self._ours += 1
        rec = self.plan.recorded
        k = self._next_recorded
        if (
            self._diverged_at is None
            and k < len(rec)
            and intent_key(intent) == intent_key(rec[k].intent)
        ):
            self._anchor[intent.intent_id] = rec[k]
            self._next_recorded += 1
        elif self._diverged_at is None:
            self._diverged_at = self._ours - 1
            log.info("observed_replay_diverged", intent=self._ours - 1, intent_id=intent.intent_id)

    def _latency_for(self, client_request_id: str | None) -> float | None:
        """Execute our trade where its recorded twin's fill sits in the flow (else: constant)."""
        rt = self._anchor.get(client_request_id or "")
        if rt is None or rt.execute_before is None or rt.execute_before <= self._line:
            return None
        latency = self.plan.due_time(rt.execute_before) - self.s.clock.now()
        if latency <= 0:
            return None
        self.anchored_trades += 1
        return latency

    def _hold(self, d: Delivery) -> bool:
        """Keep a webhook for the journal line where the recorded run heard about the trade."""
        trade = self.s.venue.trades.get(json.loads(d.body)["data"]["tradeId"])
        rt = self._anchor.get(trade.client_request_id or "") if trade is not None else None
        if rt is None or rt.notify_at is None or rt.notify_at <= self._line:
            return False
        self._held.setdefault(rt.notify_at, []).append(d)
        return True

    def _check_fill(self, pred: Prediction) -> None:
        """Our fill must equal the recorded run's (same pool, same maths)."""
        trade = self.s.venue.trades.get(pred.trade_id or "")
        rt = self._anchor.get(trade.client_request_id or "") if trade is not None else None
        if rt is None or rt.fill is None:
            return
        mine = prediction_event(pred)
        if (mine.usdc, mine.tokens, mine.probability_after) != (
            rt.fill.usdc,
            rt.fill.tokens,
            rt.fill.probability_after,
        ):
            self.fill_mismatches += 1

    # the loop

    async def run(self, end: float) -> None:
        """Replay the journal line by line; see :mod:`kashbot.backtest.observed`."""
        s, plan = self.s, self.plan
        await s.advance(s.start)
        await s.engine.start()
        for line, ev in enumerate(plan.events):
            await s.advance_through(plan.times[line])
            self._line = line
            for d in self._held.pop(line, []):
                await s.deliver(d)
            if line == plan.strategies_stop_at:
                # as the recorded daemon: no new intents; trade updates are still followed
                await s.engine.shutdown(0.0)
            if plan.flow[line]:
                assert isinstance(ev, PredictionSeen)
                amount = ev.usdc if ev.side is Side.BUY else ev.tokens
                try:
                    pred = s.venue.apply_external_trade(
                        ev.market_id, ev.outcome, ev.side.value, amount
                    )
                except SimError:
                    s.tape.skipped_external += 1
                else:
                    if pred.probability != ev.probability_after:
                        self.flow_mismatches += 1  # the pools are not the recorded run's
                await s.flush()
            if plan.observe[line]:
                assert isinstance(ev, Event)
                if isinstance(ev, MarketSnapshot):
                    m = s.venue.markets.get(ev.market_id)
                    if m is not None and ev.status != "ACTIVE" and m.tradeable(s.clock.now()):
                        s.venue.freeze_market(ev.market_id)
                await s.feed(ev)
        self._line = len(plan.events)
        for line in sorted(self._held):
            for d in self._held.pop(line):
                await s.deliver(d)
        await s.advance_through(end)

    def metrics(self) -> dict[str, Any]:
        return {
            "recorded_intents": len(self.plan.recorded),
            "matched_intents": self._next_recorded,
            "first_divergence": self._diverged_at,
            "anchored_trades": self.anchored_trades,
            "flow_price_mismatches": self.flow_mismatches,
            "own_fill_mismatches": self.fill_mismatches,
        }
