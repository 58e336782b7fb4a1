"""``kashbot sim``: serve the Kash simulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from kashbot.clock import WallClock
from kashbot.sim.app import SimServer
from kashbot.sim.scenario import ScenarioError, load_scenario
from kashbot.sim.venue import Venue


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "sim",
        help="run the local Kash simulator (REST API, stream, webhooks, faults)",
        description="Serve a faithful local double of the Kash REST API at http://HOST:PORT/v1.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--scenario", type=Path, default=None, help="scenario YAML (default bundled)")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="run lifecycle latencies, webhook retries and noise traders this many times faster",
    )
    p.set_defaults(func=main)


def banner(server: SimServer) -> str:
    v = server.venue
    lines = [
        f"kashbot simulator  {server.base_url}   (seed {v.seed}, time scale {v.time_scale})",
        f"  admin  {server.admin_url}/state    stream  {server.stream_url}",
        "  test keys (public fixtures from the scenario file; they work only here):",
    ]
    for k in v.keys.values():
        secret = k.webhook_secret or "-"
        lines.append(f"    {k.name:<11} {k.tier:<10} {k.api_key}  webhook secret {secret}")
    lines.append("  markets:")
    for m in v.markets.values():
        lines.append(f"    {m.id}  {len(m.labels)} outcomes  {m.title}")
    return "\n".join(lines)


async def serve(args: argparse.Namespace) -> None:
    venue = Venue(
        load_scenario(args.scenario), clock=WallClock(), seed=args.seed, time_scale=args.time_scale
    )
    server = SimServer(venue, host=args.host, port=args.port)
    await server.start()
    print(banner(server), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(args: argparse.Namespace) -> int:
    if args.time_scale <= 0:
        print("kashbot sim: --time-scale must be positive", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(args))
    except ScenarioError as exc:
        print(f"kashbot sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"kashbot sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
