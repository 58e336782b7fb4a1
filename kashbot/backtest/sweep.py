"""Parameter sweeps: a grid of config overrides × seeds run in parallel, one row per run.

The unit of work is a plain top-level function ``unit(config, params, seed) -> metrics`` whose
arguments and result are plain picklable data, so the same function runs unchanged on the local
process pool (the default) or a Dask cluster (:mod:`kashbot.backtest.sweep_backends`).

A sweep axis is ``name=v1,v2,...`` where ``name`` is a dotted path into the config mapping
(list items by index: ``strategies.0.params.edge_bps=50,100``). Values are parsed as YAML
scalars the way the config reader parses them: ``5`` is an int, ``12.5`` an exact ``Decimal``
(never a float: it may be money, e.g. ``risk.per_trade_cap_usdc``), ``"0.5"`` a string and
``true`` a bool.

Rows sort on their metric as a ``Decimal`` (money metrics are exact decimal strings); a row
without a numeric value sorts last either way.
"""

from __future__ import annotations

import copy
import itertools
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from kashbot.backtest.metrics import metric_decimal

Unit = Callable[[dict[str, Any], dict[str, Any], int], dict[str, Any]]


class SweepError(ValueError):
    """A malformed ``--sweep`` axis or a path that does not exist in the config."""


def parse_axis(spec: str) -> tuple[str, list[Any]]:
    """``"a.b=1,2"`` → ``("a.b", [1, 2])``."""
    name, sep, values = spec.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise SweepError(f"--sweep {spec!r}: expected name=v1,v2,...")
    parsed = []
    for raw in values.split(","):
        try:
            parsed.append(parse_value(raw.strip()))
        except yaml.YAMLError as exc:
            raise SweepError(f"--sweep {name}: cannot parse value {raw!r}: {exc}") from exc
    return name, parsed


_FLOAT_TAG = "tag:yaml.org,2002:float"


def parse_value(text: str) -> Any:
    """One YAML scalar; a float-looking number becomes the exact ``Decimal`` written."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(node, yaml.ScalarNode) and node.tag == _FLOAT_TAG:
        try:
            value = Decimal(node.value)
        except InvalidOperation:  # .inf, .nan, sexagesimal: YAML's own reading
            pass
        else:
            if value.is_finite():
                return value
    return yaml.safe_load(text)


def parse_axes(specs: Sequence[str]) -> dict[str, list[Any]]:
    axes: dict[str, list[Any]] = {}
    for spec in specs:
        name, values = parse_axis(spec)
        if name in axes:
            raise SweepError(f"--sweep {name} given twice")
        axes[name] = values
    return axes


def grid(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product in a stable order (first axis slowest)."""
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def set_path(config: Mapping[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``config`` with ``dotted`` set to ``value``; the parent must exist."""
    out: dict[str, Any] = copy.deepcopy(dict(config))
    parts = dotted.split(".")
    node: Any = out
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SweepError(f"--sweep {dotted}: {where} is not an index of a list")
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                node[part] = {}
            node = node[part]
        else:
            raise SweepError(f"--sweep {dotted}: {where} is not a mapping or list")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise SweepError(f"--sweep {dotted}: {last} is not an index of the list")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise SweepError(f"--sweep {dotted}: parent is not a mapping or list")
    return out


def apply_params(config: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(config)
    for name, value in params.items():
        out = set_path(out, name, value)
    return out


@dataclass(frozen=True, slots=True)
class SweepRow:
    params: dict[str, Any]
    metrics: dict[str, Any]
    error: str | None = None
    seed: int | None = None


def parse_seeds(spec: str) -> list[int]:
    """``"1,2,5-8"`` → ``[1, 2, 5, 6, 7, 8]``: comma-separated seeds and inclusive ranges."""
    seeds: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise SweepError(f"--seeds {spec!r}: {part!r} is not a seed N or a range A-B")
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first:
            raise SweepError(f"--seeds {spec!r}: range {part!r} runs backwards")
        seeds.extend(range(first, last + 1))
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"--seeds {spec!r}: a seed is given twice")
    return seeds


def sort_rows(rows: Sequence[SweepRow], sort_by: str) -> list[SweepRow]:
    """Best first: descending by ``sort_by``, ascending with a leading ``+``; NaN/errors last."""
    ascending = sort_by.startswith("+")
    key_name = sort_by.lstrip("+-")

    def key(row: SweepRow) -> tuple[int, Decimal]:
        v = metric_decimal(row.metrics, key_name) if row.error is None else None
        if v is None:
            return (1, Decimal(0))
        return (0, v if ascending else -v)

    return sorted(rows, key=key)  # stable: ties keep grid order


class _Progress:
    """A bar on a terminal; on a pipe or file, a line to stderr every tenth of a long sweep."""

    LONG = 10  # runs: below this a pipe gets no progress lines

    def __init__(self, total: int, show: bool | None, label: str) -> None:
        tty = sys.stdout.isatty()
        self.total, self.done, self.errors, self.label = total, 0, 0, label
        self.bar = Progress(disable=not (tty if show is None else show), transient=True)
        self.lines = show is None and not tty and total >= self.LONG
        self.step = max(1, total // 10)

    def __enter__(self) -> _Progress:
        self.bar.__enter__()
        self.task = self.bar.add_task("sweep", total=self.total)
        if self.lines:
            print(f"sweep: {self.total} runs on {self.label}", file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def advance(self, error: bool) -> None:
        self.done += 1
        self.errors += error
        self.bar.advance(self.task)
        if self.lines and (self.done % self.step == 0 or self.done == self.total):
            print(
                f"sweep: {self.done}/{self.total} runs done, {self.errors} failed",
                file=sys.stderr,
                flush=True,
            )


def run_sweep(
    unit: Unit,
    config: Mapping[str, Any],
    axes: Mapping[str, Sequence[Any]],
    seed: int,
    *,
    seeds: Sequence[int] | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    progress: bool | None = None,
) -> list[SweepRow]:
    """Run ``unit`` over the grid × ``seeds`` (default: just ``seed``); rows in grid order,
    seeds within a point in the order given, whatever order the runs finish in.

    ``cluster`` None runs on a local process pool of ``workers``; otherwise a Dask cluster,
    see :func:`kashbot.backtest.sweep_backends.open_backend`. A point that raises becomes a
    row with ``error`` set rather than killing the sweep.
    """
    from kashbot.backtest.sweep_backends import open_backend

    points = grid(axes)
    tasks = [(p, s) for p in points for s in (seeds if seeds is not None else [seed])]
    rows: list[SweepRow | None] = [None] * len(tasks)
    with (
        open_backend(cluster, workers) as backend,
        _Progress(len(tasks), progress, backend.description) as bar,
    ):
        for i, metrics, error in backend.run(unit, dict(config), tasks):
            params, s = tasks[i]
            rows[i] = SweepRow(params, metrics or {}, error, s)
            bar.advance(error is not None)
    return [r for r in rows if r is not None]


DEFAULT_COLUMNS = (
    "pnl_at_mark_usdc",
    "pnl_realised_usdc",
    "fees_paid_usdc",
    "volume_usdc",
    "trades",
    "max_drawdown_usdc",
    "sharpe_daily",
    "denials",
)


def sweep_table(
    rows: Sequence[SweepRow], sort_by: str, columns: Sequence[str] = DEFAULT_COLUMNS
) -> Table:
    key_name = sort_by.lstrip("+-")
    cols = [key_name, *[c for c in columns if c != key_name]]
    names = list(rows[0].params) if rows else []
    with_seed = len({r.seed for r in rows}) > 1
    table = Table(title=f"Sweep ({len(rows)} runs) sorted by {sort_by}")
    for n in [*names, "seed"] if with_seed else names:
        table.add_column(n, style="cyan")
    for c in cols:
        table.add_column(c, justify="right")
    for row in sort_rows(rows, sort_by):
        cells = [str(row.params[n]) for n in names] + ([str(row.seed)] if with_seed else [])
        if row.error is not None:
            cells += [f"[red]{row.error}[/red]", *[""] * (len(cols) - 1)]
        else:
            cells += ["n/a" if row.metrics.get(c) is None else str(row.metrics[c]) for c in cols]
        table.add_row(*cells)
    return table


def print_sweep(rows: Sequence[SweepRow], sort_by: str, console: Console | None = None) -> None:
    (console or Console()).print(sweep_table(rows, sort_by))
