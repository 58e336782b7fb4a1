"""``kashbot strategy resume ID [CONFIG]``: call a strategy the running daemon paused after
repeated exceptions again (``POST /strategy/<id>/resume`` on its control endpoint, with the
token it wrote beside its store). ``kashbot status`` lists paused strategies."""

from __future__ import annotations

import argparse
from urllib.parse import quote


def cmd_strategy_resume(args: argparse.Namespace) -> int:
    from kashbot.app.commands import cmd_control

    args.control_action = f"strategy/{quote(args.strategy_id, safe='')}/resume"
    return cmd_control(args)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    strategy = sub.add_parser("strategy", help="act on one strategy of a running daemon")
    actions = strategy.add_subparsers(dest="strategy_command", metavar="ACTION", required=True)
    resume = actions.add_parser(
        "resume", help="call a strategy paused after repeated exceptions again (fix it first)"
    )
    resume.add_argument("strategy_id", help="the strategy's id (see `kashbot status`)")
    resume.add_argument("config", nargs="?", default=None, help="the daemon's config")
    resume.add_argument("--reason", default="operator", help="recorded in the daemon's log")
    resume.set_defaults(func=cmd_strategy_resume)
