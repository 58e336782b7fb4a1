"""``kashbot backtest`` and ``kashbot record`` (heavy imports happen inside the commands)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

CLUSTER_ENV = "KASHBOT_CLUSTER"  # kashbot.backtest.sweep_backends.CLUSTER_ENV, without importing it


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bt = subparsers.add_parser(
        "backtest", help="replay a recording or a sim scenario through the same engine"
    )
    bt.add_argument("config", help="a daemon config, optionally with a backtest: block")
    src = bt.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="a journal written by `kashbot record`")
    src.add_argument("--scenario", help="a sim scenario whose noise traders make the flow")
    bt.add_argument(
        "--fair-values",
        metavar="FILE",
        help="external fair values (CSV/JSONL with timestamps) to trade on instead of the "
        "simulator's truth or the recorded ones (docs/fair-values.md)",
    )
    bt.add_argument("--out", required=True, help="output directory")
    bt.add_argument(
        "--seed",
        type=int,
        default=None,
        help="simulation seed (default: the scenario file's seed:, else 0)",
    )
    bt.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="grid axis over a dotted config path (repeatable)",
    )
    bt.add_argument(
        "--sort-by",
        default="pnl_at_mark_usdc",
        metavar="METRIC",
        help="sweep table order: descending, or ascending with a leading +",
    )
    bt.add_argument(
        "--seeds",
        default=None,
        metavar="S1,S2,A-B",
        help="run every sweep point (or, without --sweep, the config) once per seed",
    )
    bt.add_argument(
        "--workers",
        type=int,
        default=None,
        help="sweep processes, or local cluster workers (default: cores)",
    )
    bt.add_argument(
        "--cluster",
        default=os.environ.get(CLUSTER_ENV) or None,
        metavar="local[:N]|tcp://HOST:PORT",
        help=f"run the sweep on Dask: a LocalCluster on 127.0.0.1 with N workers, or an "
        f"existing scheduler (default: ${CLUSTER_ENV}, else the local process pool)",
    )
    bt.add_argument("--verbose", action="store_true", help="show the engine's warnings")
    bt.set_defaults(func=cmd_backtest)

    rec = subparsers.add_parser("record", help="run the daemon and journal what it sees")
    rec.add_argument("config", help="daemon config (paper or live)")
    rec.add_argument("--out", required=True, help="journal file (.jsonl.gz)")
    rec.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    rec.set_defaults(func=cmd_record)


def _quiet_logs(verbose: bool) -> None:
    import logging

    import structlog

    level = logging.WARNING if verbose else logging.ERROR
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))


def default_seed(args: argparse.Namespace) -> int:
    """``--seed`` when given, else the ``--scenario`` file's own ``seed:``, else 0 (a journal's
    flow is recorded: its seed only names the run)."""
    if args.seed is not None:
        return int(args.seed)
    if args.scenario:
        from kashbot.sim.scenario import load_scenario

        return load_scenario(args.scenario).seed
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from rich.console import Console

    from kashbot.backtest.config import load_backtest_file
    from kashbot.backtest.report import print_summary
    from kashbot.backtest.runner import BacktestError, run_backtest
    from kashbot.backtest.sweep import SweepError
    from kashbot.config import ConfigError

    _quiet_logs(args.verbose)
    try:
        config = load_backtest_file(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2  # config errors exit 2 in every command (docs/operations.md)
    block: dict[str, Any] = dict(config.get("backtest") or {})
    block["data"] = str(Path(args.data).resolve()) if args.data else None
    block["scenario"] = str(Path(args.scenario).resolve()) if args.scenario else None
    if args.fair_values:  # only when given: a run without one keeps its config digest
        block["fair_values"] = str(Path(args.fair_values).resolve())
    config["backtest"] = block
    console = Console()
    out = Path(args.out)
    try:
        if args.sweep or args.seeds is not None:
            return _sweep(args, config, console, out)
        if args.cluster is not None and os.environ.get(CLUSTER_ENV) != args.cluster:
            raise SweepError("--cluster runs sweeps: give --sweep or --seeds")
        report = run_backtest(config, seed=default_seed(args), out_dir=out)
    except (BacktestError, SweepError, ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"kashbot backtest: {exc}", file=sys.stderr)
        return 1
    print_summary(report.metrics, console, out, report.artifacts)
    return 0


def _sweep(args: argparse.Namespace, config: dict[str, Any], console: Any, out: Path) -> int:
    from kashbot.backtest.sweep import SweepError, parse_axes, parse_seeds, print_sweep, run_sweep
    from kashbot.backtest.sweep_unit import run_unit_digest

    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    if seeds is not None and args.seed is not None:
        raise SweepError("give --seed or --seeds, not both")
    axes = parse_axes(args.sweep)
    rows = run_sweep(
        run_unit_digest,
        config,
        axes,
        default_seed(args),
        seeds=seeds,
        workers=args.workers,
        cluster=args.cluster,
    )
    print_sweep(rows, args.sort_by, console)
    out.mkdir(parents=True, exist_ok=True)
    _write_sweep(out / "sweep.json", rows)
    return 0 if all(r.error is None for r in rows) else 1


def _write_sweep(path: Path, rows: Any) -> None:
    import json

    doc = [
        {"params": r.params, "seed": r.seed, "metrics": r.metrics, "error": r.error} for r in rows
    ]
    path.write_text(json.dumps(doc, sort_keys=True, indent=2, default=str) + "\n")


def cmd_record(args: argparse.Namespace) -> int:
    from kashbot.backtest.record import cmd_record as record_command

    return record_command(args.config, Path(args.out), args.duration)
