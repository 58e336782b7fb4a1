"""``kashbot init [DIR]``: a starter config folder from the configs bundled in the wheel.

Writes the paper config (pointed at its own copy of the simulator scenario), the live and
backtest examples, the scenario and a README, and refuses to overwrite any of them without
``--force``. Paths in a config are relative to the folder ``kashbot`` runs in, so the README
says to run from DIR's parent (or use absolute paths).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from kashbot import bundled

DEFAULT_DIR = "configs"  # `kashbot run` without CONFIG then finds configs/paper.yaml
_SCENARIO_RE = re.compile(r"^(\s*scenario:\s*)null\b.*$", re.MULTILINE)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("init", help="write a starter config folder (paper, live, scenario)")
    p.add_argument("dir", nargs="?", default=DEFAULT_DIR, help=f"folder (default: {DEFAULT_DIR})")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(func=cmd_init)


def starter_files(folder: Path) -> dict[Path, str]:
    """Target path -> text, for ``folder`` as the user named it (relative stays relative)."""
    scenario = folder / "sim" / "default.yaml"
    paper = _SCENARIO_RE.sub(
        lambda m: f"{m.group(1)}{scenario.as_posix()}   # this folder's copy: edit it freely",
        bundled.PAPER_CONFIG.read_text(),
        count=1,
    )
    readme = (
        f"# kashbot configs\n\n"
        f"Paper-trade for 30 s (run from the folder that holds `{folder.as_posix()}/`; paths in a\n"
        f"config, like `store.path`, are relative to where you run kashbot):\n\n"
        f"    kashbot run {(folder / 'paper.yaml').as_posix()} --duration 30\n\n"
        f"Check a config and the venue before going live:\n\n"
        f"    kashbot config check {(folder / 'live.yaml').as_posix()}\n"
        f"    kashbot doctor {(folder / 'live.yaml').as_posix()}\n\n"
        f"`live.example.yaml` documents every key; copy it to `live.yaml` and set KASH_API_KEY.\n"
    )
    return {
        folder / "paper.yaml": paper,
        folder / "live.example.yaml": bundled.LIVE_EXAMPLE.read_text(),
        folder / "backtest.example.yaml": bundled.BACKTEST_EXAMPLE.read_text(),
        scenario: bundled.DEFAULT_SCENARIO.read_text(),
        folder / "README.md": readme,
    }


def cmd_init(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    files = starter_files(folder)
    existing = [p for p in files if p.exists()]
    if existing and not args.force:
        names = ", ".join(str(p) for p in existing)
        print(
            f"kashbot init: {names} exist(s); nothing written (--force overwrites)", file=sys.stderr
        )
        return 1
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    except OSError as exc:
        print(f"kashbot init: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    for path in files:
        print(f"wrote {path}")
    print(f"next: kashbot run {(folder / 'paper.yaml').as_posix()} --duration 30")
    return 0
