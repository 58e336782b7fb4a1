"""Writes a backtest's outputs: report.json, trades.csv, plots, and the terminal summary.

``report.json`` is byte-identical for the same inputs and seed: keys sorted, no wall-clock
timestamps of the run itself, ratios already rounded by :mod:`kashbot.backtest.metrics`, and
inputs named by content hash rather than by absolute path.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kashbot.backtest.metrics import EquityPoint, InventoryPoint, usdc_signed, wad_str
from kashbot.money import ATOMIC_TO_WAD, USDC_ONE, WAD, Wad
from kashbot.valuation import Fill

REPORT_FORMAT = "kashbot-backtest-report"
REPORT_VERSION = 1

ProbSeries = dict[str, list[tuple[float, tuple[Wad, ...]]]]


@dataclass(frozen=True, slots=True)
class MarketNames:
    """How a market is shown to people; report.json and trades.csv keep naming it by id."""

    title: str
    outcomes: tuple[str, ...] = ()

    def outcome(self, index: int) -> str:
        return self.outcomes[index] if 0 <= index < len(self.outcomes) else f"#{index}"


def market_title(names: Mapping[str, MarketNames], market_id: str) -> str:
    known = names.get(market_id)
    return known.title if known is not None and known.title else market_id


def outcome_label(names: Mapping[str, MarketNames], market_id: str, outcome: int) -> str:
    known = names.get(market_id)
    return known.outcome(outcome) if known is not None else f"#{outcome}"


@dataclass(slots=True)
class RunArtifacts:
    """What a run produced, in memory: the report is written from this."""

    inputs: dict[str, Any]
    metrics: dict[str, Any]
    # sequences: a run's are spooled to disk or thinned (kashbot.backtest.tape), tests give lists
    fills: Sequence[Fill] = field(default_factory=list)
    equity: Sequence[EquityPoint] = field(default_factory=list)  # thinned in a run
    inventory: Sequence[InventoryPoint] = field(default_factory=list)
    prices: ProbSeries = field(default_factory=dict)  # pool chances per market over time
    fair: ProbSeries = field(default_factory=dict)  # fair values per market over time
    intents: Sequence[dict[str, Any]] = field(default_factory=list)  # every intent, in order
    markets: dict[str, MarketNames] = field(default_factory=dict)  # display names (plots, summary)


@dataclass(frozen=True, slots=True)
class Report:
    """The result of :func:`kashbot.backtest.runner.run_backtest`."""

    metrics: dict[str, Any]
    inputs: dict[str, Any]
    out_dir: Path | None
    artifacts: RunArtifacts


def iso(ts: float) -> str:
    """Simulated time as ISO-8601 UTC with milliseconds (for CSV and tables)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def report_document(art: RunArtifacts) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "inputs": art.inputs,
        "metrics": art.metrics,
        "intents": len(art.intents),
    }


def _encoder() -> json.JSONEncoder:
    return json.JSONEncoder(sort_keys=True, indent=2, allow_nan=False, default=_exact)


def dumps_report(art: RunArtifacts) -> str:
    return _encoder().encode(report_document(art)) + "\n"


def write_report(path: Path, art: RunArtifacts) -> None:
    """report.json, the bytes of :func:`dumps_report`, written piece by piece (a long run's
    report is megabytes: it is not built as one string first)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(_encoder().iterencode(report_document(art)))
        fh.write("\n")


def _exact(value: object) -> str:
    """Decimals (sweep parameters such as a USDC cap) as their exact string."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


TRADE_COLUMNS = (
    "time",
    "ts",
    "trade_id",
    "intent_id",
    "market_id",
    "outcome",
    "side",
    "usdc",
    "tokens",
    "fee_usdc",
    "prob_before",
    "prob_after",
    "reason",
    "strategy",
)


def write_trades_csv(path: Path, fills: Iterable[Fill]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(TRADE_COLUMNS)
        for f in fills:
            w.writerow(
                (
                    iso(f.ts),
                    repr(f.ts),
                    f.trade_id,
                    f.intent_id,
                    f.market_id,
                    f.outcome,
                    f.side.value,
                    usdc_signed(f.usdc),
                    wad_str(f.tokens),
                    "" if f.fee is None else usdc_signed(f.fee),
                    "" if f.prob_before is None else wad_str(f.prob_before),
                    "" if f.prob_after is None else wad_str(f.prob_after),
                    f.reason,
                    f.strategy,
                )
            )


def write_outputs(out_dir: Path, art: RunArtifacts, *, plots: bool = True) -> list[Path]:
    """Write every output file into ``out_dir``; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    report = out_dir / "report.json"
    write_report(report, art)
    written.append(report)
    trades = out_dir / "trades.csv"
    write_trades_csv(trades, art.fills)
    written.append(trades)
    intents = out_dir / "intents.jsonl"
    with intents.open("w", encoding="utf-8") as fh:  # row by row: a long run's are on disk
        fh.writelines(json.dumps(i, sort_keys=True) + "\n" for i in art.intents)
    written.append(intents)
    if plots:
        from kashbot.backtest.plots import write_plots  # matplotlib is slow to import

        written.extend(write_plots(out_dir, art))
    return written


_SUMMARY_ROWS = (
    ("PnL at mark", "pnl_at_mark_usdc", "USDC"),
    ("PnL realised", "pnl_realised_usdc", "USDC"),
    ("Fees paid", "fees_paid_usdc", "USDC"),
    ("Volume", "volume_usdc", "USDC"),
    ("Trades (buys/sells)", None, ""),
    ("Failed trades", "failed_trades", ""),
    ("Max drawdown", "max_drawdown_usdc", "USDC"),
    ("Max drawdown (fraction)", "max_drawdown_fraction", ""),
    ("Sharpe-like (daily, ann.)", "sharpe_daily", ""),
    ("Denials", "denials", ""),
    ("Requests used / budget", None, ""),
    ("Events replayed", "events", ""),
    ("Simulated span", "sim_span_s", "s"),
)


DUST_USDC = USDC_ONE // 100  # holdings worth less than this at the final chance are not listed
DUST_TOKENS = WAD // 1_000_000  # ... and, where no chance is known, fewer tokens than this
MAX_HOLDINGS = 6
TOKEN_PLACES = Decimal("0.0001")
TITLE_CHARS = 40  # a summary row stays on one line of an 80-column terminal


def final_chances(art: RunArtifacts) -> dict[str, tuple[Wad, ...]]:
    """Each market's last pool chances of the run (the display mark for dust)."""
    return {mid: series[-1][1] for mid, series in art.prices.items() if series}


def _is_dust(tokens: Wad, chance: Wad | None) -> bool:
    if chance is None:
        return tokens < DUST_TOKENS
    return tokens * chance // WAD // ATOMIC_TO_WAD < DUST_USDC


def holding_rows(
    inventory: Mapping[str, str],
    names: Mapping[str, MarketNames],
    chances: Mapping[str, tuple[Wad, ...]],
) -> tuple[list[tuple[str, str]], int]:
    """(position, rounded tokens) to list, and how many dust positions were left out."""
    rows: list[tuple[str, str]] = []
    dust = 0
    for pos, amount in inventory.items():
        market_id, _, idx = pos.rpartition("/")
        outcome = int(idx) if idx.isdigit() else -1
        exact = Decimal(amount)
        tokens = int(exact * WAD)
        q = chances.get(market_id, ())
        if _is_dust(abs(tokens), q[outcome] if 0 <= outcome < len(q) else None):
            dust += 1
            continue
        title = market_title(names, market_id)
        title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "\u2026"
        name = f"{title} / {outcome_label(names, market_id, outcome)}"
        rows.append((name, f"{exact.quantize(TOKEN_PLACES):,} tokens"))
    return rows, dust


def summary_table(
    metrics: Mapping[str, Any], title: str = "Backtest", art: RunArtifacts | None = None
) -> Table:
    """The run at a glance; with ``art``, holdings carry market titles and dust is left out."""
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column("metric", style="bold", no_wrap=True)
    table.add_column("value", justify="right")
    for label, key, unit in _SUMMARY_ROWS:
        if label.startswith("Trades"):
            value = f"{metrics.get('trades')} ({metrics.get('buys')}/{metrics.get('sells')})"
        elif label.startswith("Requests"):
            value = f"{metrics.get('requests_used')} / {metrics.get('request_budget')}"
        else:
            v = metrics.get(key or "")
            value = "n/a" if v is None else f"{v} {unit}".strip()
        table.add_row(label, value)
    for reason, n in (metrics.get("denials_by_reason") or {}).items():
        table.add_row(f"  denied {reason}", str(n))
    rows, dust = holding_rows(
        metrics.get("final_inventory_tokens") or {},
        art.markets if art is not None else {},
        final_chances(art) if art is not None else {},
    )
    _breakdown_rows(table, metrics, art.markets if art is not None else {})
    _creator_fee_rows(table, metrics, art.markets if art is not None else {})
    for name, amount in rows[:MAX_HOLDINGS]:
        table.add_row(f"  holding {name}", amount)
    hidden = [f"{len(rows) - MAX_HOLDINGS} more"] if len(rows) > MAX_HOLDINGS else []
    hidden += [f"{dust} worth < 0.01 USDC"] if dust else []
    if hidden:
        table.add_row("  holdings in report.json only", ", ".join(hidden))
    return table


MAX_MARKETS = 8  # markets listed by PnL in the summary (the rest: report.json)


def _breakdown_rows(
    table: Table, metrics: Mapping[str, Any], names: Mapping[str, MarketNames]
) -> None:
    """PnL at mark per strategy (with its exceptions) and per market, largest moves first."""
    errors = metrics.get("strategy_errors") or {}
    for sid, row in (metrics.get("by_strategy") or {}).items():
        n = (errors.get(sid) or {}).get("total", 0)
        note = f", {n} errors" if n else ""
        table.add_row(
            f"  strategy {sid} ({row['trades']} trades{note})", f"{row['pnl_at_mark_usdc']} USDC"
        )
    for sid, err in errors.items():
        if err.get("total") and sid not in (metrics.get("by_strategy") or {}):
            table.add_row(f"  strategy {sid}", f"no trades, {err['total']} errors")
        if err.get("paused"):
            table.add_row(f"  strategy {sid} PAUSED", str(err.get("last_error") or ""))
    markets = metrics.get("by_market") or {}
    ranked = sorted(
        markets.items(), key=lambda kv: (-abs(Decimal(kv[1]["pnl_at_mark_usdc"])), kv[0])
    )
    for mid, row in ranked[:MAX_MARKETS]:
        title = market_title(names, mid)
        title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "\u2026"
        table.add_row(f"  market {title}", f"{row['pnl_at_mark_usdc']} USDC")
    if len(ranked) > MAX_MARKETS:
        table.add_row("  markets in report.json only", str(len(ranked) - MAX_MARKETS))


def _creator_fee_rows(
    table: Table, metrics: Mapping[str, Any], names: Mapping[str, MarketNames]
) -> None:
    """A liquidity keeper's estimated revenue share per own market (an assumed rate)."""
    for sid, row in (metrics.get("creator_fees_estimate") or {}).items():
        share = row.get("revenue_share_bps")
        table.add_row(
            f"  creator fees est. {sid} (share {share} bps)", f"{row.get('total_usdc')} USDC"
        )
        for mid, value in (row.get("by_market") or {}).items():
            title = market_title(names, mid)
            title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "\u2026"
            table.add_row(f"    fees {title}", f"{value} USDC")


def print_summary(
    metrics: Mapping[str, Any],
    console: Console | None = None,
    out_dir: Path | None = None,
    art: RunArtifacts | None = None,
) -> None:
    console = console or Console()
    console.print(summary_table(metrics, art=art))
    if out_dir is not None:
        console.print(f"[dim]report, trades.csv and plots in {out_dir}[/dim]")
