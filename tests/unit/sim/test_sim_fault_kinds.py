"""Every fault kind a scenario may name bites somewhere: at the HTTP edge, or at the one place
(webhook outbox, stream, trade lifecycle) that asks for it by name."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import aiohttp
import pytest

import kashbot.sim
from kashbot.sim.embedded import run_sim
from kashbot.sim.faults import HTTP_KINDS, NON_HTTP_KINDS, STREAM_KINDS, TRADE_KINDS, WEBHOOK_KINDS
from kashbot.sim.scenario import FaultKind

ALL_KINDS = frozenset(get_args(FaultKind))
SIM_DIR = Path(kashbot.sim.__file__).parent


def test_kinds_are_listed_once_and_partitioned() -> None:
    assert NON_HTTP_KINDS == WEBHOOK_KINDS | STREAM_KINDS | TRADE_KINDS
    assert HTTP_KINDS | NON_HTTP_KINDS == ALL_KINDS  # a misspelt non-HTTP kind would fail here
    assert not HTTP_KINDS & NON_HTTP_KINDS
    assert HTTP_KINDS  # the derivation did not swallow everything


def _kinds_taken_outside_the_registry() -> set[str]:
    """String kinds passed as the first argument of ``faults.take(...)`` in the simulator."""
    taken: set[str] = set()
    for path in SIM_DIR.glob("*.py"):
        if path.name in {"faults.py", "scenario.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "take"
                and node.args
            ):
                taken |= {
                    c.value
                    for c in ast.walk(node.args[0])
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                }
    return taken


def test_every_non_http_kind_is_taken_where_it_bites() -> None:
    missing = NON_HTTP_KINDS - _kinds_taken_outside_the_registry()
    assert not missing, f"never taken: {sorted(missing)}"


@pytest.mark.parametrize("kind", sorted(HTTP_KINDS))
async def test_every_http_kind_changes_the_answer(kind: str) -> None:
    """A POST (aiohttp silently retries a dropped GET once, which would hide the drop)."""
    async with run_sim(time_scale=20, noise=False) as sim:
        market = sim.market_ids[0]
        body = {"marketId": market, "outcomeIndex": 0, "amount": "1", "side": "buy"}
        url = f"{sim.base_url}/trades"

        async def answer(s: aiohttp.ClientSession) -> int | None:
            try:
                async with s.post(url, json=body) as r:
                    await r.read()
                    return r.status
            except aiohttp.ClientError:
                return None  # dropped or lost: no answer at all

        headers = {"X-API-Key": sim.keys["developer"].api_key}
        async with aiohttp.ClientSession(headers=headers) as s:
            assert await answer(s) in (201, 202)
            sim.arm_fault(kind, routes=["POST /v1/trades"], count=1, hang_s=0)
            status = await answer(s)
            assert status is None or status >= 400, f"{kind} answered {status}"
            assert await answer(s) in (201, 202)  # count=1: fired once, then gone
