"""``kashbot status``: a running daemon's ``/status`` snapshot as lines an operator reads.

``kashbot status --json`` prints the snapshot itself (for scripts); this is the default view.
Outcomes are named by label, held trades by what they would do, not only by id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _label(labels: Any, outcome: Any, given: Any = None) -> str:
    if given:
        return str(given)
    if isinstance(labels, list) and isinstance(outcome, int) and 0 <= outcome < len(labels):
        return str(labels[outcome])
    return f"#{outcome}"


def _v(doc: Mapping[str, Any], key: str) -> Any:
    """A field, "-" when missing or null (an older daemon's snapshot)."""
    value = doc.get(key)
    return "-" if value is None else value


def status_text(doc: Mapping[str, Any]) -> str:
    """The snapshot as a few labelled sections (state, budget, markets, positions, held)."""
    raw_pnl = doc.get("pnl_usdc")
    pnl: Mapping[str, Any] = raw_pnl if isinstance(raw_pnl, dict) else {}
    out = [
        f"state      {_v(doc, 'state')}   up {_v(doc, 'uptime_s')}s   fills {_v(doc, 'fills')}"
        f"   pending {_v(doc, 'pending_intents')}",
        f"PnL@mark   {_v(pnl, 'total')} USDC (realised {_v(pnl, 'realized')}, unrealised "
        f"{_v(pnl, 'unrealized')})",
        f"spend      {_v(doc, 'spend_used_usdc')} / {_v(doc, 'spend_cap_usdc')} USDC in 24 h",
        f"requests   {_v(doc, 'requests_used_last_minute')} / "
        f"{_v(doc, 'requests_budget_per_minute')} per min (limit "
        f"{_v(doc, 'requests_limit_per_minute')})",
    ]
    markets = doc.get("markets") or []
    labels = {m.get("market_id"): m.get("labels") for m in markets}
    out.append(f"markets ({len(markets)})")
    for m in markets:
        names = m.get("labels") or []
        pool = "  ".join(f"{_label(names, i)} {q}" for i, q in enumerate(m.get("pool") or []))
        fair = " ".join(m.get("fair") or []) or "-"
        stale = " STALE " + ",".join(m["stale"]) if m.get("stale") else ""
        out.append(
            f"  {m.get('market_id')} {m.get('phase') or m.get('status')}: pool {pool}"
            f"  fair {fair}{stale}"
        )
    positions = doc.get("positions") or []
    out.append(f"positions ({len(positions)})")
    for p in positions:
        name = _label(labels.get(p.get("market_id")), p.get("outcome"), p.get("outcome_label"))
        mark = "" if p.get("marked", True) else " (at cost)"
        out.append(
            f"  {p.get('market_id')} {name}: {p.get('shares')} shares, cost "
            f"{p.get('cost_usdc')}, mark {p.get('value_usdc')}{mark} USDC"
        )
    ids = doc.get("held_trades") or []
    held = doc.get("held") or [{"trade_id": t} for t in ids]
    out.append(f"held for confirmation ({len(held)})")
    for h in held:
        if "market_id" not in h:
            out.append(f"  {h['trade_id']}")
            continue
        name = _label(labels.get(h.get("market_id")), h.get("outcome"))
        out.append(
            f"  {h['trade_id']}: {h.get('side')} {h.get('amount_usdc')} USDC of {name} in "
            f"{h.get('market_id')} ({h.get('strategy')})"
        )
    if held:
        out.append("  release one with: kashbot confirm TRADE_ID [CONFIG]")
    out.extend(_strategy_lines(doc.get("strategy_errors")))
    denials = doc.get("last_denials") or []
    if denials:
        out.append("last denials")
        out.extend(f"  {d[1]} {d[0]}: {d[2]}" for d in denials if len(d) >= 3)
    return "\n".join(out)


def _strategy_lines(errors: Any) -> list[str]:
    """Strategies that raised or were paused (none: no section), with how to resume one."""
    if not isinstance(errors, dict):
        return []
    shown = {sid: e for sid, e in errors.items() if e.get("total") or e.get("paused")}
    if not shown:
        return []
    out = ["strategy errors"]
    for sid, e in sorted(shown.items()):
        state = "PAUSED" if e.get("paused") else "running"
        out.append(
            f"  {sid}: {state}, {e.get('total')} exceptions ({e.get('in_row')} in a row), "
            f"last: {e.get('last_error')}"
        )
    if any(e.get("paused") for e in shown.values()):
        out.append("  fix it, then resume with: kashbot strategy resume ID [CONFIG]")
    return out
