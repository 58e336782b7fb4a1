"""``kashbot new-strategy NAME [--dir DIR]``: a working strategy to start from.

Writes ``NAME.py`` (the strategy), ``test_NAME.py`` (its table-driven unit test),
``NAME.backtest.yaml`` and ``NAME.paper.yaml`` (configs that load it by dotted path from their own
folder, no ``PYTHONPATH``) and ``NAME.scenario.yaml`` (a copy of the simulator's default
scenario, to backtest on and to edit into scenarios of your own) into DIR. The skeleton passes
its test and backtests as written; docs/strategies.md is the tutorial that goes through it.
Existing files are never overwritten.
"""

from __future__ import annotations

import argparse
import importlib.util
import keyword
import re
import sys
from pathlib import Path

from kashbot.app import new_strategy_templates as tpl

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def class_name(module: str) -> str:
    """``fair_gap`` -> ``FairGap``."""
    return "".join(part.capitalize() for part in module.split("_") if part)


def check_name(name: str) -> str | None:
    """Why ``name`` cannot be a strategy module name, or None."""
    if not NAME_RE.match(name):
        return f"{name!r}: use lower_case letters, digits and _ (a Python module name)"
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword; pick another name"
    if name in sys.stdlib_module_names:
        return f"{name!r} is a standard-library module; pick another name"
    installed = installed_module(name)
    if installed is not None:
        return (
            f"{name!r} is already an installed module ({installed}): the strategy would not "
            "load, or would hide it from code that imports it; pick another name"
        )
    if name.startswith("test"):
        return f"{name!r}: pytest would collect the strategy module as a test; pick another name"
    return None


def installed_module(name: str) -> str | None:
    """Where an importable top-level module ``name`` lives (kashbot, a dependency, anything
    in site-packages), or None. The user's own folders are not on this process's path."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    return spec.origin or (next(iter(spec.submodule_search_locations or ()), None)) or "built in"


def skeleton(name: str, scenario: Path) -> dict[str, str]:
    """File name -> content for strategy ``name`` (``scenario``: the scenario file to copy)."""
    fields = {"module": name, "cls": class_name(name)}
    return {
        f"{name}.py": tpl.STRATEGY.format(**fields),
        f"test_{name}.py": tpl.TEST.format(**fields),
        f"{name}.backtest.yaml": tpl.BACKTEST.format(**fields),
        f"{name}.paper.yaml": tpl.PAPER.format(**fields),
        f"{name}.scenario.yaml": scenario.read_text(encoding="utf-8"),
    }


def write_skeleton(name: str, directory: Path, scenario: Path) -> list[Path]:
    """Write the files; raises ``FileExistsError`` (writing nothing) if any exists."""
    files = skeleton(name, scenario)
    existing = [directory / f for f in files if (directory / f).exists()]
    if existing:
        raise FileExistsError(", ".join(str(p) for p in existing))
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, text in files.items():
        path = directory / fname
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def cmd_new_strategy(args: argparse.Namespace) -> int:
    from kashbot.sim.scenario import DEFAULT_SCENARIO

    problem = check_name(args.name)
    if problem is not None:
        print(f"kashbot new-strategy: {problem}", file=sys.stderr)
        return 2
    directory = Path(args.dir)
    try:
        written = write_skeleton(args.name, directory, DEFAULT_SCENARIO)
    except FileExistsError as exc:
        print(f"kashbot new-strategy: would overwrite {exc}; nothing written", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    print(
        "next:\n"
        f"  {where}python -m pytest -q test_{args.name}.py\n"
        f"  {where}kashbot backtest {args.name}.backtest.yaml --scenario {args.name}.scenario.yaml"
        f" --out out/{args.name}\n"
        f"  {where}kashbot run {args.name}.paper.yaml --duration 60"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "new-strategy",
        help="write a working strategy skeleton, its unit test and configs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="module name, e.g. fair_gap (the class becomes FairGap)")
    p.add_argument("--dir", default=".", help="where to write the files (default: here)")
    p.set_defaults(func=cmd_new_strategy)
