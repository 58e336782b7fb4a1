"""What ``kashbot run`` prints when it stops: fills, volume, PnL at mark, spend, denials."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kashbot.engine.state import EngineState
from kashbot.money import fmt_usdc
from kashbot.obs.status import StatusSnapshot, redemption_line


@dataclass(slots=True)
class Summary:
    duration_s: float
    fills: int
    buys: int
    sells: int
    volume: int
    pnl: int
    pending: int
    denials_by_reason: dict[str, int]
    snapshot: StatusSnapshot
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, state: EngineState, snap: StatusSnapshot, duration_s: float) -> Summary:
        fills = state.fills
        return cls(
            duration_s=duration_s,
            fills=fills.total,
            buys=fills.buys,
            sells=fills.sells,
            volume=fills.volume,
            pnl=snap.pnl,
            pending=len(state.pending),
            denials_by_reason=dict(snap.denials_by_reason),  # every denial: the daemon counts
            snapshot=snap,
        )

    def text(self) -> str:
        snap = self.snapshot
        lines = [
            "kashbot run summary",
            f"  ran {self.duration_s:.1f} s, final state {snap.state}",
            f"  trades filled: {self.fills} ({self.buys} buys, {self.sells} sells), "
            f"volume {fmt_usdc(self.volume)} USDC",
            f"  PnL at mark: {fmt_usdc(self.pnl)} USDC (realized {fmt_usdc(snap.realized)}, "
            f"unrealized {fmt_usdc(snap.unrealized)})",
            f"  open positions: {len(snap.positions)}; intents still pending: {self.pending}",
        ]
        if snap.spend_used is not None:
            lines.append(
                f"  24h spend used: {fmt_usdc(snap.spend_used)} of {fmt_usdc(snap.spend_cap or 0)}"
            )
        if snap.requests_used is not None:
            lines.append(
                f"  requests last minute: {snap.requests_used} (budget {snap.requests_budget}/min,"
                f" 429s: {snap.quota_rejections})"
            )
        if snap.redemptions:
            lines.append("  " + redemption_line(snap.redemptions))
        denials = ", ".join(f"{k}={v}" for k, v in sorted(self.denials_by_reason.items()))
        lines.append(f"  denials: {denials or 'none'}")
        return "\n".join(lines)
