"""PNG plots of a backtest (matplotlib, Agg backend: no display needed, same pixels every run)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from kashbot.backtest.report import RunArtifacts, market_title, outcome_label
from kashbot.events import Side
from kashbot.money import USDC_ONE, WAD

MAX_POINTS = 4_000  # per line; longer series are decimated evenly
PANEL_HEIGHT_IN = 2.4  # one market's price panel
TITLE_CHARS = 60  # longer market titles are cut (with an ellipsis) to keep the layout
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


def _short(text: str, limit: int = TITLE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _legend_right(ax: Axes, handles: list[Line2D] | None = None) -> None:
    """Outside the axes, so it never hides data or the title; the layout makes room for it."""
    kwargs = {} if handles is None else {"handles": handles}
    ax.legend(
        **kwargs, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False
    )


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=100, metadata=_META)
    plt.close(fig)
    return path


def plot_equity(path: Path, art: RunArtifacts) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
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


def _style_handles() -> list[Line2D]:
    """Legend keys for what line styles and markers mean (colours are the outcomes)."""
    grey = "0.35"
    return [
        Line2D([], [], color=grey, lw=1, label="pool chance"),
        Line2D([], [], color=grey, lw=1, ls="--", label="fair value"),
        Line2D([], [], color=grey, lw=0, marker="^", markeredgecolor="black", label="our buys"),
        Line2D([], [], color=grey, lw=0, marker="v", markeredgecolor="black", label="our sells"),
    ]


def plot_prices(path: Path, art: RunArtifacts) -> Path:
    markets = sorted(art.prices)
    n = max(1, len(markets))
    fig, axes = plt.subplots(
        n,
        1,
        figsize=(10, PANEL_HEIGHT_IN * n + 0.5),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    t0 = _t0(art)
    for ax, market_id in zip(axes[:, 0], markets, strict=False):
        series = art.prices[market_id]
        step = _decimate(len(series))
        fair = art.fair.get(market_id, [])
        outcome_keys: list[Line2D] = []
        for o in _traded_outcomes(art, market_id):
            xs = [_hours(ts, t0) for ts, _ in series[::step]]
            ys = [q[o] / WAD for _, q in series[::step] if o < len(q)]
            (line,) = ax.plot(xs[: len(ys)], ys, lw=1)
            color = line.get_color()
            outcome_keys.append(
                Line2D([], [], color=color, lw=3, label=outcome_label(art.markets, market_id, o))
            )
            if fair:
                fx = [_hours(ts, t0) for ts, _ in fair]
                fy = [q[o] / WAD for _, q in fair if o < len(q)]
                ax.step(fx[: len(fy)], fy, where="post", ls="--", color=color)
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
                        color=color,
                        edgecolors="black",
                        zorder=3,
                    )
        ax.set_title(_short(market_title(art.markets, market_id)), fontsize="medium")
        ax.set_ylabel("chance")
        ax.grid(alpha=0.3)
        _legend_right(ax, outcome_keys + _style_handles())
    axes[-1, 0].set_xlabel("simulated hours")
    return _save(fig, path)


def plot_inventory(path: Path, art: RunArtifacts) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    t0 = _t0(art)
    end = art.metrics.get("sim_end_ts")
    by_pos: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for p in art.inventory:
        by_pos.setdefault((p.market_id, p.outcome), []).append((_hours(p.ts, t0), p.tokens / WAD))
    for (market_id, outcome), pts in sorted(by_pos.items()):
        if isinstance(end, int | float):
            pts = [*pts, (_hours(float(end), t0), pts[-1][1])]
        name = _short(market_title(art.markets, market_id), 40)
        label = f"{name}: {outcome_label(art.markets, market_id, outcome)}"
        ax.step([x for x, _ in pts], [y for _, y in pts], where="post", label=label)
    ax.set_xlabel("simulated hours")
    ax.set_ylabel("tokens")
    ax.set_title("Inventory")
    ax.grid(alpha=0.3)
    if by_pos:
        _legend_right(ax)
    return _save(fig, path)


def write_plots(out_dir: Path, art: RunArtifacts) -> list[Path]:
    return [
        plot_equity(out_dir / "equity.png", art),
        plot_prices(out_dir / "prices.png", art),
        plot_inventory(out_dir / "inventory.png", art),
    ]
