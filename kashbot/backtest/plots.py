"""PNG plots of a backtest (matplotlib, Agg backend: no display needed, same pixels every run)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from kashbot.backtest.report import RunArtifacts
from kashbot.engine.events import Side
from kashbot.money import USDC_ONE, WAD

MAX_POINTS = 4_000  # per line; longer series are decimated evenly
_META = {"Software": None, "Creation Time": None}  # no timestamps: the same run gives same bytes


def _decimate(n: int) -> int:
    return max(1, n // MAX_POINTS)


def _hours(ts: float, t0: float) -> float:
    return (ts - t0) / 3600.0


def _t0(art: RunArtifacts) -> float:
    start = art.metrics.get("sim_start_ts")
    if isinstance(start, int | float):
        return float(start)
    return art.equity[0].ts if art.equity else 0.0


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=_META)
    plt.close(fig)
    return path


def plot_equity(path: Path, art: RunArtifacts) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    t0 = _t0(art)
    pts = art.equity[:: _decimate(len(art.equity))]
    ax.plot(
        [_hours(p.ts, t0) for p in pts],
        [p.equity / USDC_ONE for p in pts],
        label="equity (cash + exit value)",
    )
    ax.plot([_hours(p.ts, t0) for p in pts], [p.cash / USDC_ONE for p in pts], label="cash", lw=0.8)
    ax.set_xlabel("simulated hours")
    ax.set_ylabel("USDC")
    ax.set_title("Equity curve")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _traded_outcomes(art: RunArtifacts, market_id: str) -> list[int]:
    traded = sorted({f.outcome for f in art.fills if f.market_id == market_id})
    return traded or [0]


def plot_prices(path: Path, art: RunArtifacts) -> Path:
    markets = sorted(art.prices)
    n = max(1, len(markets))
    fig, axes = plt.subplots(n, 1, figsize=(9, 3 * n), squeeze=False)
    t0 = _t0(art)
    for ax, market_id in zip(axes[:, 0], markets, strict=False):
        series = art.prices[market_id]
        step = _decimate(len(series))
        fair = art.fair.get(market_id, [])
        for o in _traded_outcomes(art, market_id):
            xs = [_hours(ts, t0) for ts, _ in series[::step]]
            ys = [q[o] / WAD for _, q in series[::step] if o < len(q)]
            (line,) = ax.plot(xs[: len(ys)], ys, lw=1, label=f"pool q[{o}]")
            if fair:
                fx = [_hours(ts, t0) for ts, _ in fair]
                fy = [q[o] / WAD for _, q in fair if o < len(q)]
                ax.step(
                    fx[: len(fy)],
                    fy,
                    where="post",
                    ls="--",
                    color=line.get_color(),
                    label=f"fair[{o}]",
                )
            for side, marker in ((Side.BUY, "^"), (Side.SELL, "v")):
                pts = [
                    (_hours(f.ts, t0), f.prob_after / WAD)
                    for f in art.fills
                    if f.market_id == market_id
                    and f.outcome == o
                    and f.side is side
                    and f.prob_after is not None
                ]
                if pts:
                    ax.scatter(
                        [x for x, _ in pts],
                        [y for _, y in pts],
                        marker=marker,
                        color=line.get_color(),
                        edgecolors="black",
                        zorder=3,
                        label=f"our {side.value}s [{o}]",
                    )
        ax.set_title(f"market {market_id}")
        ax.set_ylabel("probability")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("simulated hours")
    return _save(fig, path)


def plot_inventory(path: Path, art: RunArtifacts) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    t0 = _t0(art)
    end = art.metrics.get("sim_end_ts")
    by_pos: dict[str, list[tuple[float, float]]] = {}
    for p in art.inventory:
        by_pos.setdefault(f"{p.market_id}/{p.outcome}", []).append(
            (_hours(p.ts, t0), p.tokens / WAD)
        )
    for pos, pts in sorted(by_pos.items()):
        if isinstance(end, int | float):
            pts = [*pts, (_hours(float(end), t0), pts[-1][1])]
        ax.step([x for x, _ in pts], [y for _, y in pts], where="post", label=pos)
    ax.set_xlabel("simulated hours")
    ax.set_ylabel("tokens")
    ax.set_title("Inventory")
    ax.grid(alpha=0.3)
    if by_pos:
        ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def write_plots(out_dir: Path, art: RunArtifacts) -> list[Path]:
    return [
        plot_equity(out_dir / "equity.png", art),
        plot_prices(out_dir / "prices.png", art),
        plot_inventory(out_dir / "inventory.png", art),
    ]
