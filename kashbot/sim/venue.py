"""The in-process Kash venue: markets, pools, keys, limits, trades, webhooks and faults.

No I/O. Time comes from an injected :class:`~kashbot.clock.Clock`; scheduled work (trade
lifecycle steps, confirmation expiry, noise trades, market freeze/resolution, webhook attempts)
sits in a heap and runs, in time order and at its *scheduled* time, when :meth:`Venue.advance`
is called. Public methods first advance to ``clock.now()``, so a caller never sees stale state.
Given the same scenario, seed and sequence of calls at the same clock times, the trade history
(ids, amounts, hashes, timestamps) is identical.

All pool maths is :mod:`kashbot.amm`; a quote and the execution of the same trade on the same
pool call the same function with the same fees, so they agree to the last atomic unit.

``time_scale`` divides simulated durations (lifecycle latencies, webhook retry delays, noise
inter-arrival times and the truth's clock) so a server run can go faster than real time; rate
windows, confirmation windows, idempotency TTL and rotation periods stay on the clock.

:class:`Venue` is assembled from one layer per concern, each a module of its own and each
building on the one before: :mod:`~kashbot.sim.venue_state` (tables, id streams, step heap),
:mod:`~kashbot.sim.keys` (auth, scopes, request limits), :mod:`~kashbot.sim.markets` (pools,
quotes, prediction rows, noise, resolution), :mod:`~kashbot.sim.webhook_outbox` (events and
deliveries), :mod:`~kashbot.sim.trade_lifecycle` (submission to settlement) and
:mod:`~kashbot.sim.redemptions` (positions, payouts). This module adds the step dispatch and
the telemetry views (usage, trade history).
"""

from __future__ import annotations

from typing import Any

from kashbot.money import usdc_to_atomic
from kashbot.sim.ids import iso
from kashbot.sim.keys import KEY_FORMAT
from kashbot.sim.limits import DAY_S
from kashbot.sim.market_lifecycle import STEPS as MARKET_STEPS
from kashbot.sim.models import (
    IN_FLIGHT,
    TERMINAL,
    KeyState,
    MarketState,
    MarketTick,
    TradeRecord,
    UserState,
)
from kashbot.sim.redemptions import PortfolioAndRedemptions
from kashbot.sim.scenario import FaultSpec
from kashbot.sim.trade_checks import validate_metadata

__all__ = ["KEY_FORMAT", "MarketTick", "Venue", "validate_metadata"]


class Venue(PortfolioAndRedemptions):
    """The whole simulated Kash. See the module docstring for the time model."""

    def _populate(self) -> None:
        sc = self.scenario
        for u in sc.users:
            self.users[u.id] = UserState(
                id=u.id,
                balance=usdc_to_atomic(u.balance_usdc),
                smart_account="0x" + self.ids.hex("account", 20),
                smart_account_provisioned=u.smart_account_provisioned,
                delegation_enabled=u.delegation_enabled,
            )
        for k in sc.keys:
            self._add_key(k)
        for m in sc.markets:
            self._add_market(m)
        for f in sc.faults:
            self.faults.arm(f, self.start)

    def _run(self, kind: str, ref: str, t: float) -> None:
        if kind == "trade":
            self._step_trade(self.trades[ref], t)
        elif kind == "expire":
            self._expire_confirmation(self.trades[ref], t)
        elif kind == "noise":
            self._noise_trade(self.markets[ref], t)
        elif kind in MARKET_STEPS:
            self._run_market_step(kind, ref, t)
        elif kind == "redemption":
            self._complete_redemption(self.redemptions[ref], t)
        elif kind == "webhook" and self.webhook_sink is not None:
            self._deliver_to_sink(t)

    def _set_state(self, m: MarketState, state: str) -> None:
        """Every resolution step and status change of a market passes here (market_lifecycle)."""
        super()._set_state(m, state)
        self.lifecycle_epoch += 1

    def freeze_market(self, market_id: str) -> MarketState:
        m = super().freeze_market(market_id)
        self.lifecycle_epoch += 1
        return m

    def usage(self, api_key: str | KeyState) -> dict[str, Any]:
        now = self._sync()
        key = self.key_for(api_key)

        def window(days: int, latency: bool) -> dict[str, Any]:
            ts = [
                t
                for t in self.trades.values()
                if t.key_id == key.id and t.created_at >= now - days * DAY_S
            ]
            done = [t for t in ts if t.status == "completed"]
            failed = [t for t in ts if t.status in ("failed", "rejected")]
            finished = len(done) + len(failed)
            out: dict[str, Any] = {
                "total": len(ts),
                "completed": len(done),
                "failed": len(failed),
                "successRate": len(done) / finished if finished else None,
            }
            if latency:
                lat = sorted((t.updated_at - t.created_at) * 1000 for t in done)
                out["latencyMs"] = {
                    "p50": lat[len(lat) // 2] if lat else None,
                    "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
                }
            return out

        evs = [
            self.events[e]
            for e in self._outbox[key.id]
            if self.events[e].created_at >= now - 7 * DAY_S
        ]
        delivered = sum(1 for e in evs if e.status == "delivered")
        failed = sum(1 for e in evs if e.status == "failed")
        return {
            "apiKeyId": key.id,
            "generatedAt": iso(now),
            "trades": {"24h": window(1, True), "7d": window(7, False), "30d": window(30, False)},
            "webhooks": {
                "7d": {
                    "emitted": len(evs),
                    "delivered": delivered,
                    "failed": failed,
                    "successRate": delivered / (delivered + failed) if delivered + failed else None,
                }
            },
            "auth": {
                "24h": {
                    "failures": sum(1 for x in key.auth_failures if x >= now - DAY_S),
                    "rateLimitRejections": sum(1 for x in key.rate_rejections if x >= now - DAY_S),
                }
            },
        }

    def arm_fault(self, spec: FaultSpec | dict[str, Any]) -> str:
        if isinstance(spec, dict):
            spec = FaultSpec.model_validate(spec)
        return self.faults.arm(spec, self.clock.now()).id

    def trade_history(self) -> list[tuple[Any, ...]]:
        """Every executed trade on every market, in execution order (determinism checks)."""
        preds = sorted(
            (p for m in self.markets.values() for p in m.predictions), key=lambda p: p.seq
        )
        return [
            (
                p.id,
                p.market_id,
                p.outcome,
                p.side,
                p.usdc_in,
                p.usdc_out,
                p.tokens_in,
                p.tokens_out,
                p.ts,
                p.tx_hash,
                p.source,
                p.trade_id,
            )
            for p in preds
        ]

    def in_flight(self) -> list[TradeRecord]:
        return [t for t in self.trades.values() if t.status in IN_FLIGHT]

    @staticmethod
    def is_terminal(t: TradeRecord) -> bool:
        return t.status in TERMINAL
