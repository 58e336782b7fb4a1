"""Wire-level details over raw aiohttp: envelopes, headers, ETags, problem+json, auth codes,
request signing, version pinning, the stream and the admin API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kashbot.sim.embedded import SimHandle, run_sim, scenario_dict

M2 = "610464bf-ef0e-4a59-8144-c69601eef85e"


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    overrides = {"stream": {"heartbeat_interval_s": 0.5}}
    async with run_sim(time_scale=20, noise=False, overrides=overrides) as handle:
        yield handle


def hdr(sim: SimHandle, tier: str = "developer") -> dict[str, str]:
    return {"X-API-Key": sim.keys[tier].api_key}


async def test_single_resource_envelope_headers_and_etag_304(sim: SimHandle) -> None:
    async with aiohttp.ClientSession(headers=hdr(sim)) as s:
        async with s.get(f"{sim.base_url}/markets/{M2}") as r:
            body = await r.json()
            assert r.status == 200
            assert body["market"] == body["data"] and body["market"]["outcomeCount"] == 2
            assert body["_meta"]["requestId"] == r.headers["X-Request-Id"]
            assert r.headers["X-Kash-Api-Version"] == "2026-04-29"
            assert r.headers["Cache-Control"] == "private, no-cache"
            etag = r.headers["ETag"]
            assert etag.startswith('W/"')
            assert int(r.headers["X-RateLimit-Reset"]) >= int(time.time())
            remaining = int(r.headers["X-RateLimit-Remaining"])
        async with s.get(f"{sim.base_url}/markets/{M2}", headers={"If-None-Match": etag}) as r:
            assert r.status == 304 and await r.read() == b""
            assert int(r.headers["X-RateLimit-Remaining"]) == remaining - 1  # 304 still counts
        sim.venue.apply_external_trade(M2, 0, "buy", 5_000_000)
        async with s.get(f"{sim.base_url}/markets/{M2}", headers={"If-None-Match": etag}) as r:
            assert r.status == 200 and r.headers["ETag"] != etag


async def test_quote_envelope(sim: SimHandle) -> None:
    url = f"{sim.base_url}/markets/{M2}/quote?outcomeIndex=1&action=buy&amount=10000000"
    async with aiohttp.ClientSession(headers=hdr(sim)) as s, s.get(url) as r:
        body = await r.json()
    assert set(body) == {"quote", "market", "units", "_meta"}
    assert body["units"] == {"usdc": "atomic-6", "token": "wad-18"}
    assert r.headers["Cache-Control"] == "public, max-age=10"
    q = body["quote"]
    assert sum(int(x) for x in q["pAfter"]) == sum(int(x) for x in q["qAfter"]) == 10**18
    assert q["c"] == "1000000000000000000"  # buys leave c unchanged on a seeded pool


async def test_problem_json_and_auth_codes(sim: SimHandle) -> None:
    cases = [
        ({}, 401, "API_KEY_MISSING"),
        ({"X-API-Key": "kash_test_nope"}, 401, "API_KEY_MALFORMED"),
        ({"X-API-Key": "kash_test_" + "Z" * 32}, 401, "API_KEY_INVALID"),
        ({**hdr(sim), "X-Kash-Api-Version": "1999-01-01"}, 410, "API_VERSION_UNSUPPORTED"),
    ]
    async with aiohttp.ClientSession() as s:
        for headers, status, code in cases:
            async with s.get(f"{sim.base_url}/markets", headers=headers) as r:
                body = await r.json(content_type=None)
                assert r.status == status and body["code"] == code
                assert r.content_type == "application/problem+json"
                assert body["type"].endswith("/" + code) and body["instance"] == "/v1/markets"
                assert body["requestId"] == r.headers["X-Request-Id"]
        async with s.get(
            f"{sim.base_url}/markets/00000000-0000-4000-8000-000000000000", headers=hdr(sim)
        ) as r:
            assert (await r.json(content_type=None))["code"] == "MARKET_NOT_FOUND"
        async with s.post(
            f"{sim.base_url}/trades",
            headers=hdr(sim),
            json={"marketId": M2, "outcomeIndex": 0, "amount": 10, "side": "buy"},
        ) as r:
            body = await r.json(content_type=None)
            assert r.status == 400 and body["code"] == "VALIDATION_FAILED"
            assert body["issues"][0]["path"] == "amount"
        async with s.post(
            f"{sim.base_url}/trades",
            headers=hdr(sim),
            json={"marketId": M2, "outcomeIndex": 7, "amount": "1", "side": "buy"},
        ) as r:
            assert (await r.json(content_type=None))["code"] == "OUTCOME_INDEX_INVALID"


async def test_missing_scope_is_403() -> None:
    data = scenario_dict()
    data["keys"][0]["scopes"] = ["markets:read"]
    async with (
        run_sim(data, noise=False) as sim,
        aiohttp.ClientSession(headers=hdr(sim, "free")) as s,
        s.get(f"{sim.base_url}/portfolio") as r,
    ):
        body = await r.json(content_type=None)
        assert r.status == 403 and body["code"] == "INSUFFICIENT_SCOPE"


async def test_request_signature_is_verified_when_present(sim: SimHandle) -> None:
    key = sim.keys["developer"].api_key
    body = json.dumps({"marketId": M2, "outcomeIndex": 0, "amount": "1", "side": "buy"}).encode()

    def sig(ts: int, secret: str = key) -> str:
        msg = f"{ts}.POST./v1/trades.".encode() + body
        return f"t={ts},v1=" + hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()

    now = int(time.time() * 1000)
    cases = [
        (sig(now), 201, None),
        (sig(now, "wrong"), 401, "mismatch"),
        (sig(now - 400_000), 401, "stale"),
        ("garbage", 401, "malformed"),
    ]
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as s:
        for header, status, reason in cases:
            headers = {"X-Kash-Signature": header, "Content-Type": "application/json"}
            async with s.post(f"{sim.base_url}/trades", data=body, headers=headers) as r:
                out = await r.json(content_type=None)
                assert r.status == status
                if reason:
                    assert out["code"] == "REQUEST_SIGNATURE_INVALID"
                    assert out["signatureReason"] == reason


async def test_hang_times_out_and_dropped_connections_surface(sim: SimHandle) -> None:
    sim.arm_fault("hang", routes=["GET /v1/portfolio"], count=1, hang_s=0.05)
    sim.arm_fault("drop_connection", routes=["GET /v1/trades"], count=2)
    sim.arm_fault("timeout", routes=["GET /v1/account/usage"], count=1)
    async with aiohttp.ClientSession(headers=hdr(sim)) as s:
        async with s.get(f"{sim.base_url}/portfolio") as r:
            assert (
                r.status == 504 and (await r.json(content_type=None))["code"] == "REQUEST_TIMEOUT"
            )
        # count=2: aiohttp itself retries an idempotent GET once after a disconnect
        with pytest.raises(aiohttp.ClientError):
            async with s.get(f"{sim.base_url}/trades") as r:
                await r.read()
        async with s.get(f"{sim.base_url}/account/usage") as r:
            assert r.status == 504 and r.headers["Retry-After"] == "5"
        async with s.get(f"{sim.base_url}/trades") as r:
            assert r.status == 200  # the faults are spent
    dropped = [r for r in sim.venue.requests if r["route"] == "GET /v1/trades"]
    assert [r["status"] for r in dropped] == [0, 0, 200]


async def test_stream_snapshot_trade_price_heartbeat_and_disconnect(sim: SimHandle) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.stream_url, headers=hdr(sim)) as ws:
        await ws.send_json({"type": "subscribe", "markets": [M2]})
        snap = await ws.receive_json(timeout=5)
        assert snap["type"] == "snapshot" and snap["market"]["id"] == M2 and snap["seq"] == 1
        sim.venue.apply_external_trade(M2, 1, "buy", 7_000_000)
        trade = await ws.receive_json(timeout=5)
        price = await ws.receive_json(timeout=5)
        assert trade["type"] == "trade" and trade["prediction"]["usdcIn"] == "7000000"
        assert price["type"] == "price" and len(price["probabilities"]) == 2
        assert (trade["seq"], price["seq"]) == (2, 3)
        beat = await ws.receive_json(timeout=5)
        assert beat["type"] == "heartbeat" and beat["seq"] == 4
        assert sim.disconnect_streams() == 1
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_admin_ground_truth_and_webhook_registration(sim: SimHandle) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{sim.admin_url}/keys/{sim.keys['mm'].prefix}/webhook",
            json={"url": "http://127.0.0.1:9/hook"},
        ) as r:
            reg = await r.json()
            assert reg["name"] == "mm" and reg["secret"].startswith("whsec_")
        async with s.get(f"{sim.base_url}/markets", headers=hdr(sim, "free")) as r:
            assert r.status == 200
        async with s.get(f"{sim.admin_url}/requests", params={"key": "free"}) as r:
            rows = (await r.json())["requests"]
            assert rows[-1]["route"] == "GET /v1/markets" and rows[-1]["status"] == 200
        async with s.get(f"{sim.admin_url}/truth") as r:
            truth = await r.json()
            assert truth[M2]["trueProbabilities"] == ["0.62", "0.38"]
        async with s.post(
            f"{sim.admin_url}/faults", json={"kind": "rate_limit_storm", "count": 1}
        ) as r:
            assert r.status == 201
        async with s.get(f"{sim.base_url}/markets", headers=hdr(sim)) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "1"
        async with s.post(f"{sim.admin_url}/markets/{M2}/resolve", json={"winners": [0]}) as r:
            assert (await r.json())["status"] == "RESOLVED"
    await asyncio.sleep(0)
