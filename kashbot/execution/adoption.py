"""Continuous spend adoption: buys on our key that this daemon did not make count as they appear.

The venue's daily cap is per key. Recovery adopts the key's buys the ledger lacks once, at
startup; another daemon (or a human) buying on the same key later is invisible to this daemon's
embedded ledger until its next restart, so both could spend the whole cap. A
:class:`SpendAdopter` reads the key's trade list every ``interval_s`` and puts each buy that is
not ours onto the gate's ledger (and the store, so a restart keeps it), as recovery does.

What counts: a buy not failed, rejected, cancelled or expired (the venue refunds those to the
cap); a pending buy counts at once (the venue holds it against the cap; if it later fails we
stay on the safe side). Ours is a buy whose ``clientRequestId`` maps to a reservation the gate
still holds; a trade of ours whose reservation was released (an intent given up for lost)
counts like anyone's. A scan reads newest first and stops at the window's horizon or at the
first page it has nothing new on, so a steady state costs one or two requests per interval.

Those requests are counted in this daemon's request budget, not kept off it: ``venue`` is the
daemon's client, whose ``RequestBudget`` (``risk.budget_share`` of the user's quota, the bucket
the poller paces on) takes a token per GET, as a read that waits behind any order. The default
interval (``shared_state.adopt_interval_s``, 60 s) keeps that to about one request a minute,
under 2 % of a free key's 60/min; see docs/shared-state.md for when to lower it.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field

import structlog

from kashbot.client.errors import KashError
from kashbot.client.models import Trade
from kashbot.clock import Clock
from kashbot.execution.venue import TradingVenue
from kashbot.money import Atomic, fmt_usdc, usdc_to_atomic
from kashbot.risk.gate import RiskGate, reservation_for
from kashbot.store.store import Store

log = structlog.get_logger("kashbot.execution")

NOT_COUNTED = frozenset({"failed", "rejected", "cancelled", "expired"})


@dataclass(slots=True)
class AdoptionStats:
    adopted_trades: int = 0
    adopted_atomic: Atomic = 0
    scans: int = 0
    failed_scans: int = 0
    last_scan_ts: float | None = None


def counts_against_cap(t: Trade) -> bool:
    """A buy the venue holds against the key's daily cap (a pending one too)."""
    if t.side != "buy" or t.status in NOT_COUNTED:
        return False
    return t.error_code != "CONFIRMATION_EXPIRED"


@dataclass(eq=False, repr=False)
class SpendAdopter:
    """Adopts the key's buys this daemon did not make into its gate's ledger; see the module."""

    gate: RiskGate
    venue: TradingVenue
    store: Store
    clock: Clock
    _: KW_ONLY
    interval_s: float
    max_pages: int = 20
    stats: AdoptionStats = field(default_factory=AdoptionStats, init=False)
    # trade ids decided for good -> their ts
    _settled: dict[str, float] = field(default_factory=dict, init=False)

    async def run(self) -> None:
        """Scan every ``interval_s`` until cancelled; a failed scan is retried next time."""
        while True:
            await self.clock.sleep(self.interval_s)
            await self.scan()

    async def scan(self) -> int:
        """One pass over the key's newest trades; how many buys were adopted."""
        now = self.clock.now()
        horizon = self.gate.spend_horizon(now)
        self._forget_before(horizon)
        adopted = 0
        cursor: str | None = None
        try:
            for _ in range(self.max_pages):
                page = await self.venue.list_trades(limit=100, cursor=cursor)
                fresh, past = 0, False
                for t in page.data:
                    ts = t.created_at.timestamp() if t.created_at is not None else now
                    if ts <= horizon:
                        past = True
                        continue
                    if t.id in self._settled:
                        continue
                    fresh += 1
                    adopted += await self._consider(t, ts)
                if past or not fresh or not page.has_more or page.cursor is None:
                    break
                cursor = page.cursor
        except KashError as exc:
            self.stats.failed_scans += 1
            log.warning("spend_adoption_failed", error=str(exc))
        self.stats.scans += 1
        self.stats.last_scan_ts = now
        return adopted

    async def _consider(self, t: Trade, ts: float) -> int:
        """Adopt ``t`` if it counts and is not ours; settle it once nothing can change that."""
        ours = self.gate.spend_ids()
        entry_id = f"v-{t.id}"
        terminal = t.status in NOT_COUNTED or t.status == "completed"
        if entry_id in ours:
            self._settled[t.id] = ts
            return 0
        if t.client_request_id and reservation_for(t.client_request_id) in ours:
            if terminal:  # ours, and its entry stays or goes with our own follow-up
                self._settled[t.id] = ts
            return 0
        if not counts_against_cap(t):
            if terminal:
                self._settled[t.id] = ts
            return 0
        amount = usdc_to_atomic(t.amount)
        entry = self.gate.adopt_spend(entry_id, amount, ts)
        await self.store.put_spend(entry)
        self._settled[t.id] = ts
        self.stats.adopted_trades += 1
        self.stats.adopted_atomic += amount
        log.info("spend_adopted", trade_id=t.id, amount=fmt_usdc(amount), status=t.status)
        return 1

    def _forget_before(self, horizon: float) -> None:
        for k in [k for k, ts in self._settled.items() if ts <= horizon]:
            del self._settled[k]

    def status(self) -> dict[str, object]:
        """``adopted_*``: buys on our key this daemon did not make, adopted since it started."""
        s = self.stats
        return {
            "adopted_trades": s.adopted_trades,
            "adopted_spend_usdc": fmt_usdc(s.adopted_atomic),
            "interval_s": self.interval_s,
            "scans": s.scans,
            "failed_scans": s.failed_scans,
        }
