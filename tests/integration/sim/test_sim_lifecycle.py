"""Today's Kash in the simulator over 127.0.0.1 (issue 11): both API versions with their
Solana gating, chains side by side, the market lifecycle, per-market fees and redemptions.

Wire-level JSON is read with aiohttp where kashbot's typed models may not carry a field yet.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kashbot import amm
from kashbot.client import KashClient, RetryPolicy
from kashbot.clock import SimClock
from kashbot.money import USDC_ONE
from kashbot.sim.embedded import SimHandle, run_sim
from kashbot.sim.redemptions import cancel_refund
from kashbot.sim.scenario import DEFAULT_SCENARIO

LIFECYCLE = DEFAULT_SCENARIO.parent / "lifecycle.yaml"
SOL = "5a1a0c3e-8f7e-4d0b-9a53-0c1d7e2f4a01"  # resolves to 0: freeze 180, expiry 240, ...
BASE = "5a1a0c3e-8f7e-4d0b-9a53-0c1d7e2f4a02"  # evm:8453, resolves to 1
CANCEL = "5a1a0c3e-8f7e-4d0b-9a53-0c1d7e2f4a03"  # cancelled at 215
OPEN = "5a1a0c3e-8f7e-4d0b-9a53-0c1d7e2f4a04"  # no end
ABANDONED = "5a1a0c3e-8f7e-4d0b-9a53-0c1d7e2f4a05"
OLD, NEW = "2026-04-29", "2026-08-19"
BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(LIFECYCLE, clock=SimClock(), noise=False) as handle:
        yield handle


def hdr(sim: SimHandle, version: str | None = NEW, tier: str = "developer") -> dict[str, str]:
    out = {"X-API-Key": sim.keys[tier].api_key}
    if version is not None:
        out["X-Kash-Api-Version"] = version
    return out


async def get(sim: SimHandle, path: str, version: str | None = NEW) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(sim.base_url + path, headers=hdr(sim, version)) as r,
    ):
        return r.status, await r.json(content_type=None)


async def post(sim: SimHandle, path: str, body: Any, version: str | None = NEW) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(sim.base_url + path, json=body, headers=hdr(sim, version)) as r,
    ):
        return r.status, await r.json(content_type=None)


async def buy(sim: SimHandle, market: str, outcome: int, usdc: str) -> dict[str, Any]:
    status, body = await post(
        sim, "/trades", {"marketId": market, "outcomeIndex": outcome, "amount": usdc, "side": "buy"}
    )
    assert status == 201, body
    await sim.advance(1)  # the SimClock moves only when told: past the trade's lifecycle
    _, done = await get(sim, f"/trades/{body['trade']['id']}")
    assert done["trade"]["status"] == "completed"
    return dict(done["trade"])


async def at(sim: SimHandle, seconds: float) -> None:
    """Move the SimClock to ``seconds`` after the venue's start."""
    await sim.advance(sim.venue.start + seconds - sim.venue.clock.now())


async def test_2026_04_29_hides_solana_markets_and_2026_08_19_serves_them(sim: SimHandle) -> None:
    status, old = await get(sim, "/markets", OLD)
    assert status == 200
    assert [m["id"] for m in old["data"]] == [BASE]
    assert old["data"][0]["chainId"] == 8453 and "chainRef" not in old["data"][0]
    for path in (
        f"/markets/{SOL}",
        f"/markets/{SOL}/quote?outcomeIndex=0&action=buy&amount=1000000",
    ):
        status, problem = await get(sim, path, OLD)
        assert (status, problem["code"]) == (400, "CHAIN_NOT_SUPPORTED"), path
    status, problem = await post(
        sim, "/trades", {"marketId": SOL, "outcomeIndex": 0, "amount": "1", "side": "buy"}, OLD
    )
    assert (status, problem["code"]) == (400, "CHAIN_NOT_SUPPORTED")

    status, new = await get(sim, "/markets?limit=10", NEW)
    rows = {m["id"]: m for m in new["data"]}
    assert set(rows) == {SOL, BASE, CANCEL, OPEN, ABANDONED}
    sol, base = rows[SOL], rows[BASE]
    assert sol["chainRef"] == "solana:mainnet-beta" and "chainId" not in sol
    assert BASE58.match(sol["contractAddress"]) and not sol["contractAddress"].startswith("0x")
    assert (base["chainRef"], base["chainId"]) == ("evm:8453", 8453)
    assert sol["resolution"] is None and sol["resolutionState"] is None
    assert (sol["protocolFeeBps"], sol["sellFeeBps"]) == (100, 200)
    assert rows[ABANDONED]["status"] == "ABANDONED"
    assert rows[ABANDONED]["resolutionState"] == "cancelled"

    status, one = await get(sim, f"/markets/{SOL}/quote?outcomeIndex=0&action=buy&amount=1000000")
    assert status == 200 and one["market"]["chainRef"] == "solana:mainnet-beta"
    assert "chainId" not in one["market"]


async def test_versions_headers_and_unknown_version(sim: SimHandle) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{sim.base_url}/markets", headers=hdr(sim, NEW)) as r:
            assert r.headers["X-Kash-Api-Version"] == NEW
            assert r.headers["X-API-Version"] == OLD  # the canonical one, whatever the pin
            assert "Sunset" not in r.headers and "Deprecation" not in r.headers
        async with s.get(f"{sim.base_url}/markets", headers=hdr(sim, "2026-09-01")) as r:
            body = await r.json(content_type=None)
            assert r.status == 410 and body["code"] == "API_VERSION_UNSUPPORTED"
            assert body["supported"] == [OLD, NEW]


async def test_a_scenario_can_deprecate_a_version() -> None:
    notice = {
        "deprecation": "true",
        "sunset": "Thu, 29 Apr 2027 00:00:00 GMT",
        "link": "https://docs.kash.bot/changelog",
    }
    over = {"api": {"deprecations": {OLD: notice}}}
    async with (
        run_sim(LIFECYCLE, clock=SimClock(), noise=False, overrides=over) as sim,
        aiohttp.ClientSession() as s,
    ):
        async with s.get(f"{sim.base_url}/markets", headers=hdr(sim, OLD)) as r:
            assert r.headers["Deprecation"] == "true"
            assert r.headers["Sunset"] == notice["sunset"]
            assert r.headers["Link"] == '<https://docs.kash.bot/changelog>; rel="sunset"'
        async with s.get(f"{sim.base_url}/markets", headers=hdr(sim, NEW)) as r:
            assert "Sunset" not in r.headers and "Link" not in r.headers


async def test_solana_trade_predictions_and_webhooks(sim: SimHandle) -> None:
    trade = await buy(sim, SOL, 0, "10")
    assert trade["txHash"] is None and trade["chainRef"] == "solana:mainnet-beta"
    _, old = await get(sim, f"/trades/{trade['id']}", OLD)
    assert old["trade"]["txHash"] is None and "chainRef" not in old["trade"]
    base = await buy(sim, BASE, 0, "10")
    assert base["txHash"].startswith("0x") and base["chainRef"] == "evm:8453"

    # predictions are not gated: a Solana row under 2026-04-29, base58 hash, no logIndex
    status, preds = await get(sim, f"/markets/{SOL}/predictions", OLD)
    assert status == 200
    row = preds["data"][0]
    assert row["logIndex"] is None and BASE58.match(row["transactionHash"])
    assert row["id"] == row["transactionHash"] + "-2-1"

    await buy(sim, SOL, 1, "5")  # webhook bodies exist even with no receiver registered
    events = [e for e in sim.venue.events.values() if e.type == "trade.completed"]
    data = json.loads(events[-1].body)["data"]
    assert data["chainRef"] == "solana:mainnet-beta" and BASE58.match(data["txHash"])


async def test_per_market_fees_price_quotes_and_executions(sim: SimHandle) -> None:
    trade = await buy(sim, SOL, 0, "50")
    pool = sim.venue.markets[SOL].pool
    tokens = int(trade["tokensOut"]) // 2
    _, q = await get(sim, f"/markets/{SOL}/quote?outcomeIndex=0&action=sell&amount={tokens}")
    expected = amm.sell(pool, 0, tokens, amm.Fees(100, 200)).payout
    assert int(q["quote"]["usdcOut"]) == expected
    assert expected != amm.sell(pool, 0, tokens, amm.Fees(100, 100)).payout


async def test_freeze_then_resolution_steps_then_redemption(sim: SimHandle) -> None:
    win = await buy(sim, SOL, 0, "40")
    await buy(sim, SOL, 1, "10")
    await at(sim, 181)
    status, problem = await post(
        sim, "/trades", {"marketId": SOL, "outcomeIndex": 0, "amount": "1", "side": "buy"}
    )
    assert (status, problem["code"]) == (409, "MARKET_NOT_TRADEABLE")
    _, m = await get(sim, f"/markets/{SOL}")
    assert m["market"]["status"] == "ACTIVE" and m["market"]["resolutionState"] is None
    assert m["market"]["freezeAt"] < m["market"]["expiresAt"]
    status, problem = await post(sim, "/redemptions", {"marketId": SOL, "outcomeIndex": 0})
    assert (status, problem["code"]) == (409, "POSITION_NOT_CLAIMABLE")

    await at(sim, 241)
    _, m = await get(sim, f"/markets/{SOL}")
    assert m["market"]["resolutionState"] == "resolving" and m["market"]["resolution"] is None
    await at(sim, 256)
    _, m = await get(sim, f"/markets/{SOL}")
    res = m["market"]["resolution"]
    assert m["market"]["resolutionState"] == "proposed"
    assert res["proposedOutcomeIndex"] == 0 and res["disputeOpen"] is True
    assert res["settlementStatus"] == "proposed" and res["finalizableAt"] > res["proposedAt"]
    await at(sim, 286)
    _, m = await get(sim, f"/markets/{SOL}")
    assert m["market"]["resolutionState"] == "settling" and m["market"]["status"] == "ACTIVE"
    assert m["market"]["resolution"]["settlementStatus"] == "finalized"
    await at(sim, 291)
    _, m = await get(sim, f"/markets/{SOL}")
    assert m["market"]["status"] == "RESOLVED" and m["market"]["resolutionState"] == "resolved"
    assert m["market"]["resolvedAt"] is not None

    venue = sim.venue
    user = venue.users[sim.keys["developer"].user_id]
    before = user.balance
    settled = venue.markets[SOL].resolved_pool
    assert settled is not None
    shares = venue.positions[(user.id, SOL, 0)].shares
    async with KashClient(
        sim.keys["developer"].api_key,
        sim.base_url,
        api_version=NEW,
        retry_policy=RetryPolicy(max_retries=0),
    ) as kash:
        first = await kash.create_redemption(SOL, 0)
        again = await kash.create_redemption(SOL, 0)
    assert not first.idempotent and again.idempotent and again.id == first.id
    assert first.kind == "resolved" and first.shares_wad == shares >= int(win["tokensOut"])
    status, problem = await post(sim, "/redemptions", {"marketId": SOL, "outcomeIndex": 1})
    assert (status, problem["code"]) == (409, "POSITION_NOT_CLAIMABLE")  # the losing side
    assert "lost" in problem["detail"]
    status, replay = await post(sim, "/redemptions", {"marketId": SOL, "outcomeIndex": 0})
    assert status == 200 and replay["_meta"]["idempotent"] is True
    assert replay["redemption"]["status"] == "pending" and user.balance == before
    await at(sim, 295)
    payout = amm.redemption(settled, (0,), shares)
    assert payout > 40 * USDC_ONE // 2 and user.balance == before + payout
    _, positions = await get(sim, f"/portfolio/positions?marketId={SOL}")
    assert [p["outcomeIndex"] for p in positions["data"]] == [1]  # the loser stays, unpaid


async def test_cancelled_market_refunds_at_snapshotted_marginal_prices(sim: SimHandle) -> None:
    await buy(sim, CANCEL, 0, "30")
    await buy(sim, CANCEL, 2, "20")
    await at(sim, 216)
    _, m = await get(sim, f"/markets/{CANCEL}")
    assert m["market"]["status"] == "ABANDONED" and m["market"]["resolutionState"] == "cancelled"
    venue = sim.venue
    snap = venue.markets[CANCEL].resolved_pool
    assert snap is not None
    uid = sim.keys["developer"].user_id
    for outcome in (0, 2):
        shares = venue.positions[(uid, CANCEL, outcome)].shares
        status, body = await post(
            sim, "/redemptions", {"marketId": CANCEL, "outcomeIndex": outcome}
        )
        assert status == 201 and body["redemption"]["kind"] == "cancelled"
        assert int(body["redemption"]["payoutAtomic"]) == cancel_refund(snap, outcome, shares)
    status, problem = await post(sim, "/redemptions", {"marketId": CANCEL, "outcomeIndex": 1})
    assert (status, problem["code"]) == (409, "POSITION_NOT_CLAIMABLE")  # holds none


async def test_admin_forces_lifecycle_steps(sim: SimHandle) -> None:
    await buy(sim, OPEN, 2, "10")
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{sim.admin_url}/markets/{OPEN}/freeze") as r:
            assert r.status == 200
        status, problem = await post(
            sim, "/trades", {"marketId": OPEN, "outcomeIndex": 0, "amount": "1", "side": "buy"}
        )
        assert (status, problem["code"]) == (409, "MARKET_NOT_TRADEABLE")
        body = {"winners": [2], "disputeWindowS": 600, "disputed": True}
        async with s.post(f"{sim.admin_url}/markets/{OPEN}/propose", json=body) as r:
            state = await r.json()
            assert state["resolutionState"] == "proposed"
            assert state["resolution"]["settlementStatus"] == "disputed"
        async with s.post(f"{sim.admin_url}/markets/{OPEN}/finalize") as r:
            state = await r.json()
            assert state["status"] == "RESOLVED" and state["resolutionState"] == "resolved"
        async with s.post(f"{sim.admin_url}/markets/{OPEN}/cancel") as r:
            assert r.status == 400  # already resolved
        async with s.post(f"{sim.admin_url}/markets/{BASE}/cancel") as r:
            state = await r.json()
            assert state["status"] == "ABANDONED" and state["resolutionState"] == "cancelled"
        status, _ = await post(sim, "/redemptions", {"marketId": OPEN, "outcomeIndex": 2})
        assert status == 201
        async with s.get(f"{sim.admin_url}/redemptions") as r:
            rows = (await r.json())["redemptions"]
            assert [(x["marketId"], x["kind"]) for x in rows] == [(OPEN, "resolved")]


async def test_redemptions_can_be_switched_off() -> None:
    over = {"api": {"redemptions_enabled": False}}
    async with run_sim(LIFECYCLE, clock=SimClock(), noise=False, overrides=over) as sim:
        status, problem = await post(sim, "/redemptions", {"marketId": SOL, "outcomeIndex": 0})
        assert (status, problem["code"]) == (404, "REDEMPTIONS_NOT_ENABLED")


async def test_redemption_needs_trades_write() -> None:
    async with run_sim(LIFECYCLE, clock=SimClock(), noise=False) as sim:
        sim.venue.keys[sim.keys["developer"].key_id].scopes = frozenset({"markets:read"})
        status, problem = await post(sim, "/redemptions", {"marketId": SOL, "outcomeIndex": 0})
        assert (status, problem["code"]) == (403, "INSUFFICIENT_SCOPE")
