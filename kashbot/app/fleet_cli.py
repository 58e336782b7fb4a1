"""``kashbot status --all CONFIG``: every daemon sharing the config's budget, read from Redis.

Light on purpose: the CLI builds its parser from here, so Redis and the daemon's modules load
only when the command runs. The registrations are :mod:`kashbot.app.fleet`'s heartbeats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from kashbot.shared.settings import SharedStateConfig


def add_all_flag(parser: argparse.ArgumentParser) -> None:
    """``kashbot status --all CONFIG``: the fleet sharing the config's budget (from Redis)."""
    parser.add_argument(
        "--all",
        action="store_true",
        help="list every daemon sharing this config's budget (shared_state.backend: redis)",
    )
    control = parser.get_default("func")

    def dispatch(args: argparse.Namespace) -> int:
        return cmd_status_all(args) if args.all else int(control(args))

    parser.set_defaults(func=dispatch)


def cmd_status_all(args: argparse.Namespace) -> int:
    from kashbot.app.commands import config_path
    from kashbot.config import load_config_or_report

    cfg = load_config_or_report(config_path(args.config))
    if cfg is None:
        return 1
    if not cfg.shared_state.shared:
        print(
            f"kashbot status --all: {cfg.where('shared_state')}: shared_state.backend is"
            " embedded; only daemons on a shared (redis) backend have a fleet",
            file=sys.stderr,
        )
        return 2
    from kashbot.shared.redis_client import SharedStateUnavailable

    try:
        members = asyncio.run(fleet_members(cfg.shared_state, cfg.account.user_id))
    except SharedStateUnavailable as exc:
        print(f"kashbot status --all: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(fleet_report(cfg.account.user_id, members), indent=2))
    return 0


async def fleet_members(cfg: SharedStateConfig, user_id: str) -> list[dict[str, Any]]:
    from kashbot.app.fleet import open_redis
    from kashbot.shared.fleet_registry import FleetRegistry

    redis = open_redis(cfg)
    try:
        return await FleetRegistry(redis, user_id).members()
    finally:
        await redis.aclose()


def fleet_report(user_id: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``status --all`` prints: the members, newest heartbeat last, and their totals."""
    return {
        "user_id": user_id,
        "at": time.time(),
        "daemons": len(members),
        "requests_last_minute": sum(int(m.get("requests_last_minute") or 0) for m in members),
        "members": members,
    }
