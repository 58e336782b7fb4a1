"""What the operator sees: one status snapshot (JSON for ``kashbot status``) and its rich view.

PnL at mark uses :func:`kashbot.valuation.mark_position`, the rule the backtest report uses too:
each open position is worth what selling it into the current pool would pay (net of fees), a
liquidation mark, not ``shares × probability`` — outcome tokens are not $1 claims on this AMM.
Without a known pool the position is marked at cost (unrealised PnL zero) and flagged
``marked: false`` / "(at cost)".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from kashbot.engine.state import EngineState
from kashbot.money import Atomic, fmt_usdc, wad_to_decimal
from kashbot.valuation import mark_position


class RouterStatus(Protocol):
    def status(self) -> dict[str, object]: ...


@dataclass(slots=True)
class PositionMark:
    market_id: str
    outcome: int
    shares: int
    cost: Atomic
    value: Atomic
    marked: bool  # False: pool unknown, marked at cost
    label: str = ""  # the outcome's label ("Yes"), "" when the market has none


@dataclass(slots=True)
class StatusSnapshot:
    state: str
    uptime_s: float
    markets: list[dict[str, Any]]
    positions: list[PositionMark]
    realized: Atomic
    unrealized: Atomic
    fills: int
    pending: int
    denials: list[tuple[str, str, str]]
    denials_by_reason: dict[str, int]
    spend_used: Atomic | None = None
    spend_cap: Atomic | None = None
    requests_used: int | None = None
    requests_budget: float | None = None
    requests_limit: int | None = None
    quota_rejections: int | None = None
    sources: dict[str, str] = field(default_factory=dict)
    redemptions: dict[str, Any] = field(default_factory=dict)
    fair_values: dict[str, Any] = field(default_factory=dict)  # {} = no fair-value sources
    # StrategyErrors.as_json(): {strategy id: {total, by_event_type, in_row, paused, last_error}}
    strategy_errors: dict[str, Any] = field(default_factory=dict)

    @property
    def pnl(self) -> Atomic:
        return self.realized + self.unrealized

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "uptime_s": round(self.uptime_s, 1),
            "markets": self.markets,
            "positions": [
                {
                    "market_id": p.market_id,
                    "outcome": p.outcome,
                    "outcome_label": p.label or None,
                    "shares": str(wad_to_decimal(p.shares)),
                    "cost_usdc": fmt_usdc(p.cost),
                    "value_usdc": fmt_usdc(p.value),
                    "marked": p.marked,
                }
                for p in self.positions
            ],
            "pnl_usdc": {
                "realized": fmt_usdc(self.realized),
                "unrealized": fmt_usdc(self.unrealized),
                "total": fmt_usdc(self.pnl),
            },
            "fills": self.fills,
            "pending_intents": self.pending,
            "spend_used_usdc": None if self.spend_used is None else fmt_usdc(self.spend_used),
            "spend_cap_usdc": None if self.spend_cap is None else fmt_usdc(self.spend_cap),
            "requests_used_last_minute": self.requests_used,
            "requests_budget_per_minute": self.requests_budget,
            "requests_limit_per_minute": self.requests_limit,
            "quota_rejections": self.quota_rejections,
            "denials_by_reason": self.denials_by_reason,
            "last_denials": [list(d) for d in self.denials],
            "sources": self.sources,
            "redemptions": self.redemptions,
            "fair_values": self.fair_values,
            "strategy_errors": self.strategy_errors,
        }


def mark_positions(state: EngineState) -> list[PositionMark]:
    out: list[PositionMark] = []
    for (market_id, outcome), pos in sorted(state.positions.items()):
        if pos.shares <= 0:
            continue
        view = state.markets.get(market_id)
        pool = view.pool if view is not None else None
        mark = mark_position(pool, outcome, pos.shares, pos.cost, state.fees)
        label = outcome_label(view.labels if view is not None else (), outcome)
        out.append(
            PositionMark(market_id, outcome, pos.shares, pos.cost, mark.value, mark.marked, label)
        )
    return out


def outcome_label(labels: tuple[str, ...] | list[str], outcome: int) -> str:
    """The outcome's label, or ``#index`` when the market has none for it."""
    return labels[outcome] if 0 <= outcome < len(labels) and labels[outcome] else f"#{outcome}"


def redemption_view(state: EngineState, redeemer: Mapping[str, object] | None) -> dict[str, Any]:
    """Closed positions and their payouts (realised PnL from redemptions apart), and what the
    redeemer (``Redeemer.status()``) still has to claim or awaits an answer for."""

    def rows(key: str) -> list[dict[str, Any]]:
        found = (redeemer or {}).get(key)
        return [
            {"market_id": m, "outcome": o, "kind": k, "payout_usdc": fmt_usdc(p)}
            for m, o, k, p in (found if isinstance(found, list) else [])
        ]

    done = state.redemptions
    return {
        "enabled": bool((redeemer or {}).get("enabled", False)),
        "disabled_reason": (redeemer or {}).get("disabled_reason"),
        "closed": len(done),
        "claimed": sum(r.kind in ("resolved", "cancelled") for r in done),
        "payout_usdc": fmt_usdc(sum(r.payout for r in done)),
        "realized_usdc": fmt_usdc(state.portfolio.redeemed),
        "claimable": rows("claimable"),
        "pending": rows("pending"),
    }


def take_snapshot(
    state: EngineState,
    *,
    uptime_s: float,
    now: float,
    router_status: dict[str, object] | None = None,
    budget: Any = None,
    sources: dict[str, str] | None = None,
    redeemer: Mapping[str, object] | None = None,
    fair_values: Mapping[str, Any] | None = None,
) -> StatusSnapshot:
    """``fair_values``: ``DaemonSources.fair_value_view()`` (age per market, stale, restarts)."""
    marks = mark_positions(state)
    fv_age: Mapping[str, float | None] = (fair_values or {}).get("age_s", {})
    fv_stale = set((fair_values or {}).get("stale", ()))
    markets = []
    for m in sorted(state.markets.values(), key=lambda v: v.market_id):
        markets.append(
            {
                "market_id": m.market_id,
                "chain": m.chain_ref,
                "status": m.status,
                "phase": str(m.phase(now)),
                "labels": list(m.labels),
                "pool": [f"{wad_to_decimal(q):.4f}" for q in m.probabilities],
                "fair": [f"{wad_to_decimal(q):.4f}" for q in m.fair] if m.fair else None,
                "pool_known": m.pool is not None,
                "stale": sorted(m.stale_sources | m.dead_sources),
                "age_s": round(now - m.updated_ts, 1) if m.updated_ts else None,
            }
        )
        if fair_values is not None:
            markets[-1]["fair_age_s"] = fv_age.get(m.market_id)
            markets[-1]["fair_stale"] = m.market_id in fv_stale
    snap = StatusSnapshot(
        state=str(state.trading_state),
        uptime_s=uptime_s,
        markets=markets,
        positions=marks,
        realized=state.realized,
        unrealized=sum(p.value - p.cost for p in marks),
        fills=state.fills.total,
        pending=len(state.pending),
        denials=[(d.intent_id, d.reason, d.detail) for d in state.denials[-5:]],
        denials_by_reason=dict(Counter(d.reason for d in state.denials)),
        sources=sources or {},
        redemptions=redemption_view(state, redeemer),
        fair_values=dict(fair_values or {}),
    )
    if router_status is not None:
        snap.state = str(router_status.get("state", snap.state))
        used, cap = router_status.get("daily_used"), router_status.get("daily_cap")
        snap.spend_used = used if isinstance(used, int) else None
        snap.spend_cap = cap if isinstance(cap, int) else None
    if budget is not None:
        stats = budget.stats()
        snap.requests_used = stats.used_last_window
        snap.requests_budget = round(stats.budget, 1)
        snap.requests_limit = stats.limit
        snap.quota_rejections = stats.quota_rejections
    return snap


LOG_ROWS = 8  # terminal rows the live view leaves to the log lines scrolling above it


class Budgeted:
    """A renderable cut to the terminal's height minus :data:`LOG_ROWS`: a live view taller than
    the screen hides every log line (an 80x24 terminal showed none)."""

    def __init__(self, inner: RenderableType, reserve: int = LOG_ROWS) -> None:
        self.inner, self.reserve = inner, reserve

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        budget = max(3, options.size.height - self.reserve)
        lines = console.render_lines(self.inner, options.update(height=None), pad=False)
        cut = len(lines) > budget
        for line in lines[: budget - 1] if cut else lines:
            yield from line
            yield Segment.line()
        if cut:
            more = len(lines) - budget + 1
            yield Segment(f"… {more} more line(s): `kashbot status` shows all", Style(dim=True))
            yield Segment.line()


def render(snap: StatusSnapshot, titles: dict[str, str] | None = None) -> RenderableType:
    """The terminal view (header, markets, positions, denials), cut to leave room for logs."""
    return Budgeted(render_full(snap, titles))


def render_full(snap: StatusSnapshot, titles: dict[str, str] | None = None) -> RenderableType:
    """The terminal view: header line, markets, positions, last denials."""
    titles = titles or {}
    head = Text.assemble(
        ("kashbot ", "bold"),
        (snap.state, "bold green" if snap.state == "ACTIVE" else "bold red"),
        f"  up {snap.uptime_s:,.0f}s  fills {snap.fills}  pending {snap.pending}  ",
        ("PnL@mark ", "bold"),
        (fmt_usdc(snap.pnl), "green" if snap.pnl >= 0 else "red"),
        " USDC",
    )
    budget = Text(
        f"spend {fmt_usdc(snap.spend_used or 0)} / {fmt_usdc(snap.spend_cap or 0)} USDC (24h)   "
        f"requests {snap.requests_used if snap.requests_used is not None else '-'}"
        f" / {snap.requests_budget if snap.requests_budget is not None else '-'} per min"
        f" (limit {snap.requests_limit if snap.requests_limit is not None else '-'})"
    )
    markets = Table(title="markets: pool vs fair", expand=True)
    for col in ("market", "chain", "phase", "pool q", "fair", "data"):
        markets.add_column(col)
    for m in snap.markets:
        label = titles.get(m["market_id"], m["market_id"][:8])
        data = "STALE " + ",".join(m["stale"]) if m["stale"] else "fresh"
        if not m["pool_known"]:
            data += " (no pool)"
        markets.add_row(
            label[:40],
            m.get("chain") or "-",
            m.get("phase") or m["status"],
            " ".join(m["pool"]),
            _fair_cell(m),
            data,
        )
    positions = Table(title="positions", expand=True)
    for col in ("market", "outcome", "shares", "cost", "mark", "PnL"):
        positions.add_column(col)
    for p in snap.positions:
        positions.add_row(
            titles.get(p.market_id, p.market_id[:8])[:40],
            p.label or f"#{p.outcome}",
            f"{wad_to_decimal(p.shares):.4f}",
            fmt_usdc(p.cost),
            fmt_usdc(p.value) + ("" if p.marked else " (at cost)"),
            fmt_usdc(p.value - p.cost),
        )
    parts: list[RenderableType] = [head, budget, markets, positions]
    red = snap.redemptions
    if red and (red["closed"] or red["claimable"] or red["pending"]):
        parts.append(Text(redemption_line(red)))
    parts.extend(strategy_lines(snap.strategy_errors))
    if snap.denials:
        parts.append(
            Text("last denials: " + "; ".join(f"{r} {i}" for i, r, _ in snap.denials), "yellow")
        )
    return Group(*parts)


def strategy_lines(errors: Mapping[str, Any]) -> list[Text]:
    """A paused strategy in red with the command that resumes it (it trades nothing until
    then), the exception count of any other strategy that raised in yellow; none: no line."""
    out: list[Text] = []
    raised = []
    for sid, e in sorted(errors.items()):
        if e.get("paused"):
            out.append(
                Text(
                    f"strategy {sid} PAUSED after {e.get('in_row')} exceptions in a row "
                    f"(last: {e.get('last_error')}); fix it, then: kashbot strategy resume {sid}",
                    "bold red",
                )
            )
        elif e.get("total"):
            raised.append(f"{sid} {e.get('total')}")
    if raised:
        out.append(Text("strategy exceptions: " + ", ".join(raised), "yellow"))
    return out


def _fair_cell(m: Mapping[str, Any]) -> str:
    """The fair chances, and with fair-value sources their age (STALE: buys refused)."""
    cell = " ".join(m["fair"]) if m["fair"] else "-"
    if "fair_age_s" not in m:
        return cell
    age = m["fair_age_s"]
    when = "never" if age is None else f"{age:,.0f}s"
    return f"{cell} (STALE {when})" if m.get("fair_stale") else f"{cell} ({when})"


def redemption_line(red: Mapping[str, Any]) -> str:
    """One line on settled positions (status view and run summary)."""
    line = (
        f"redemptions: {red['closed']} position(s) closed ({red['claimed']} claimed), payout "
        f"{red['payout_usdc']} USDC, realised PnL {red['realized_usdc']} USDC; "
        f"claimable {len(red['claimable'])}, pending {len(red['pending'])}"
    )
    if red.get("disabled_reason"):
        line += f" (claiming off: {red['disabled_reason']})"
    return line
