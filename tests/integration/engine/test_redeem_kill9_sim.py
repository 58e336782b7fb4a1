"""Issue 11, "a kill -9 between the redemption POST and its answer (no second claim)", for real.

The simulator runs as its own process (``kashbot sim``) so it outlives the daemon; the daemon is
``kashbot run`` in live mode against it, with its store on disk. The daemon buys the winner of a
market that resolves within seconds (the default scenario squeezed by ``fast_lifecycle``); a
``lost_response`` fault on ``POST /v1/redemptions`` lets the simulator create the claim and drops
the answer. Once the store says "requested" and the simulator holds the claim, the daemon gets
SIGKILL; the fault is disarmed and a second daemon on the same store must re-send the same claim
(the venue answers the first, ``200`` idempotent) instead of claiming twice. The simulator's
admin API is the ground truth: one claim, paid once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import yaml
from daemon_cfg import FAIR_VALUE, fast_lifecycle, live_yaml

from kashbot.money import fmt_usdc, parse_usdc_str
from kashbot.sim.embedded import scenario_dict
from kashbot.store.records import REDEEM_ACCEPTED, REDEEM_REQUESTED

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[3]
KASHBOT = str(Path(sys.executable).parent / "kashbot")
SOLANA = "2f3c6a1e-4b7d-4e21-9c3a-5d8e1f0a7b11"  # resolves Yes (0); truth 0.7 / 0.3
FACTOR = 20.0  # freeze at 9 s, resolved about 14.5 s after the simulator starts
OUR_KEY = "developer"
STRATEGY = {
    **FAIR_VALUE,
    "params": {**FAIR_VALUE["params"], "cooldown_s": 0.2, "fair": {SOLANA: ["0.7", "0.3"]}},
}
POLLER = {"markets_interval_s": 0.3, "predictions_interval_s": 0, "quotes_interval_s": 0.3}

T = TypeVar("T")


async def _until(what: str, probe: Callable[[], Awaitable[T | None]], within: float) -> T:
    """Poll ``probe`` every 0.1 s until it answers something truthy; fail naming ``what``."""
    try:
        async with asyncio.timeout(within):
            while True:
                got = await probe()
                if got:
                    return got
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {within} s: {what}") from None


def _store_rows(path: Path) -> list[tuple[str, int, str, str | None]]:
    """The daemon's ``redemptions`` table, read-only (the daemon may be writing)."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    try:
        return db.execute(
            "SELECT market_id, outcome, status, redemption_id FROM redemptions"
        ).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        db.close()


class SimAdmin:
    """The admin API of a simulator running in another process."""

    def __init__(self, http: aiohttp.ClientSession, admin_url: str) -> None:
        self.http = http
        self.admin = admin_url

    async def get(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.admin}{path}", params=params) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(f"{self.admin}{path}", json=body) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def delete(self, path: str) -> None:
        async with self.http.delete(f"{self.admin}{path}") as resp:
            resp.raise_for_status()

    async def market(self, market_id: str) -> dict[str, Any]:
        state = await self.get("/state")
        return next(m for m in state["markets"] if m["id"] == market_id)

    async def key(self, name: str) -> dict[str, Any]:
        keys = await self.get("/keys")
        return next(k for k in keys["keys"] if k["name"] == name)

    async def claims(self, user_id: str) -> list[dict[str, Any]]:
        rows = (await self.get("/redemptions"))["redemptions"]
        return [r for r in rows if r["userId"] == user_id]


async def _spawn(
    stack: contextlib.AsyncExitStack, args: list[str], log: Path, env: dict[str, str] | None = None
) -> Any:
    """``kashbot ARGS`` with its output in ``log``; killed (if still running) when ``stack``
    closes, whatever happened."""
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = await asyncio.create_subprocess_exec(
            KASHBOT,
            *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    stack.push_async_callback(_reap, proc)
    return proc


async def _reap(proc: Any, sig: int = signal.SIGKILL) -> None:
    """Signal ``proc`` (ours, by its pid) unless it is gone, and wait for it, bounded."""
    if proc.returncode is not None:
        return
    proc.send_signal(sig)
    try:
        async with asyncio.timeout(15):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()


def _free_port() -> int:
    """A port free on 127.0.0.1 now (the webhook URL must be known before the daemon starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else "(no log)"


async def _start_sim(stack: contextlib.AsyncExitStack, tmp_path: Path) -> str:
    """``kashbot sim`` on a free port with the squeezed default scenario; its base URL."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(fast_lifecycle(scenario_dict(), FACTOR), sort_keys=False))
    log = tmp_path / "sim.log"
    args = ["sim", "--port", "0", "--scenario", str(scenario), "--seed", "3", "--time-scale", "5"]
    proc = await _spawn(stack, args, log)

    async def banner() -> str | None:
        for line in _tail(log, 100_000).splitlines():
            if line.startswith("kashbot simulator") and "http://127.0.0.1:" in line:
                return line.split()[2]  # http://127.0.0.1:PORT/v1
        assert proc.returncode is None, _tail(log)
        return None

    return await _until("the simulator's banner", banner, 20)


async def _live_config(
    sim: SimAdmin, base_url: str, tmp_path: Path, ours: dict[str, Any]
) -> tuple[Path, dict[str, str]]:
    """The daemon's live config and environment (key and webhook secret); our receiver's URL
    set on the key first, as a user does in the webapp."""
    fixture = next(k for k in scenario_dict()["keys"] if k["name"] == OUR_KEY)
    hook_port = _free_port()
    secret = fixture["webhook_secret"]
    hook = {"url": f"http://127.0.0.1:{hook_port}/kash/webhook", "secret": secret}
    await sim.post(f"/keys/{OUR_KEY}/webhook", hook)
    config = tmp_path / "live.yaml"
    config.write_text(
        live_yaml(
            tmp_path / "live.sqlite",
            base_url,
            tier=ours["tier"],
            user_id=ours["userId"],
            markets=[SOLANA],
            poller=POLLER,
            strategies=[STRATEGY],
            webhook_port=hook_port,
            risk={"per_trade_cap_usdc": 50, "daily_cap_usdc": 2000, "freeze_margin_s": 1},
            redemption={"interval_s": 0.3},
            venue={
                "mode": "live",
                "api_key": "${KASH_API_KEY}",
                "base_url": base_url,
                "api_version": "2026-08-19",  # the Solana market is visible
                "timeout_s": 5,
            },
        )
    )
    return config, {"KASH_API_KEY": fixture["api_key"], "KASH_WEBHOOK_SECRET": secret}


async def _bought_then_frozen(sim: SimAdmin, ours: dict[str, Any], proc: Any, log: Path) -> int:
    """Wait until trading in the market is over (no trade of ours pending) and check we hold
    the winner; our USDC balance then, before any claim."""
    freeze_at = float((await sim.market(SOLANA))["freezeAt"])

    async def frozen() -> bool:
        assert proc.returncode is None, _tail(log)
        return bool((await sim.get("/state"))["now"] > freeze_at + 0.5)

    await _until("the market's freeze", frozen, 30)
    balance = parse_usdc_str((await sim.key(OUR_KEY))["balance"])
    assert await sim.claims(ours["userId"]) == []  # so the balance is the one before the payout
    bought = [
        t
        for t in (await sim.get("/trades"))["trades"]
        if t["keyName"] == OUR_KEY
        and (t["marketId"], t["outcomeIndex"], t["side"], t["status"])
        == (SOLANA, 0, "buy", "completed")
    ]
    assert bought, f"the daemon bought no Yes before the freeze: {_tail(log)}"
    return balance


async def test_kill9_between_redemption_post_and_answer_claims_once(tmp_path: Path) -> None:
    store = tmp_path / "live.sqlite"
    first_log, second_log = tmp_path / "d1.log", tmp_path / "d2.log"
    async with (
        contextlib.AsyncExitStack() as stack,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
    ):
        base_url = await _start_sim(stack, tmp_path)
        sim = SimAdmin(http, base_url.removesuffix("/v1") + "/_sim")
        ours = await sim.key(OUR_KEY)
        config, env = await _live_config(sim, base_url, tmp_path, ours)
        first = await _spawn(stack, ["run", str(config)], first_log, env)
        # every answer to a claim is lost from now on: the simulator creates it, then hangs up
        await sim.post("/faults", {"kind": "lost_response", "routes": ["POST /v1/redemptions"]})
        balance = await _bought_then_frozen(sim, ours, first, first_log)

        async def claimed_and_requested() -> list[dict[str, Any]] | None:
            claims = await sim.claims(ours["userId"])
            sent = [r for r in _store_rows(store) if r[:3] == (SOLANA, 0, REDEEM_REQUESTED)]
            return claims if claims and sent else None

        claims = await _until(
            "the claim at the venue, 'requested' in the store", claimed_and_requested, 20
        )
        assert [(c["marketId"], c["outcomeIndex"]) for c in claims] == [(SOLANA, 0)]
        dropped = await sim.get("/requests", route="POST /v1/redemptions")
        assert dropped["requests"] and all(r["status"] == 0 for r in dropped["requests"])
        await _reap(first, signal.SIGKILL)
        assert first.returncode == -signal.SIGKILL
        assert '"redemption_accepted"' not in _tail(first_log, 1_000_000)  # never answered
        assert _store_rows(store) == [(SOLANA, 0, REDEEM_REQUESTED, None)]

        await sim.delete("/faults")
        second = await _spawn(stack, ["run", str(config)], second_log, env)

        async def accepted() -> list[tuple[str, int, str, str | None]] | None:
            assert second.returncode is None, _tail(second_log)
            rows = _store_rows(store)
            return rows if rows and rows[0][2] == REDEEM_ACCEPTED else None

        rows = await _until("the re-sent claim accepted in the store", accepted, 20)
        assert rows == [(SOLANA, 0, REDEEM_ACCEPTED, claims[0]["id"])]  # the first claim
        await _reap(second, signal.SIGINT)
        assert second.returncode == 0, _tail(second_log)

        async def paid() -> list[dict[str, Any]] | None:
            now = await sim.claims(ours["userId"])
            return now if all(c["status"] == "completed" for c in now) else None

        # ground truth: one claim for the position, paid once
        final = await _until("the payout", paid, 10)
        assert [c["id"] for c in final] == [claims[0]["id"]]
        payout = int(final[0]["payoutAtomic"])
        assert payout > 0
        assert parse_usdc_str((await sim.key(OUR_KEY))["balance"]) == balance + payout
        # the re-sent claim was answered 200 (the first one); no request created another
        sent = await sim.get("/requests", route="POST /v1/redemptions")
        statuses = [r["status"] for r in sent["requests"]]
        assert 200 in statuses and set(statuses) <= {0, 200}, statuses
        out = _tail(second_log, 1_000_000)
        assert '"redemption_accepted"' in out and '"replay": true' in out, out[-3000:]
        assert "redemptions: 1 position(s) closed (1 claimed)" in out, out[-3000:]
        # the PnL is the expected payout less what the position cost, although the restarted
        # daemon's book no longer held it (the venue had zeroed it): not the whole payout
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            cost, expected = db.execute(
                "SELECT cost_basis, expected_payout FROM redemptions"
            ).fetchone()
        finally:
            db.close()
        pnl = fmt_usdc(int(expected) - int(cost)).removesuffix(" USDC")
        assert f"realised PnL {pnl} USDC" in out, out[-3000:]
