"""The ``kashbot`` command: a thin dispatcher over subcommands that live beside their code.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
Keeping the commands next to what they drive keeps this file free of imports of heavy modules:
a module is imported only when its command list is built.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from typing import cast

from kashbot import __version__

# (module, purpose) in the order `kashbot --help` shows them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "kashbot.app.commands",  # run, config check, status, halt
    "kashbot.sim.cli",  # sim
    "kashbot.backtest.commands",  # record, backtest
    "kashbot.app.new_strategy",  # new-strategy
    "kashbot.app.strategy_cmd",  # strategy resume
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kashbot",
        description="Market-making bots for Kash: run, simulate, backtest.",
    )
    parser.add_argument("--version", action="version", version=f"kashbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that component is not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code = cast(Callable[[argparse.Namespace], int], func)(args)
        sys.stdout.flush()  # a closed pipe shows up here rather than at interpreter exit
    except BrokenPipeError:
        # `kashbot ... | head`: the reader left. Point stdout at /dev/null so the interpreter's
        # own flush at exit does not fail again, and exit as a SIGPIPE'd process would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13
    return code
