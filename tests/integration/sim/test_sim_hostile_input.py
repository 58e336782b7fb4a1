"""The simulator's documented refusals for hostile input and slow peers (issue 13)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kashbot.sim import edge
from kashbot.sim.embedded import SimHandle, run_sim

M2 = "610464bf-ef0e-4a59-8144-c69601eef85e"


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(time_scale=20, noise=False) as handle:
        yield handle


def key(sim: SimHandle) -> dict[str, str]:
    return {"X-API-Key": sim.keys["mm"].api_key}


@pytest.mark.parametrize("t", ["9" * 5000, "²", "٣", "1_000"])
async def test_hostile_signature_t_is_401_request_signature_invalid(sim: SimHandle, t: str) -> None:
    """Was: a 500 for ``t=<5000 digits>`` and ``t=²`` (isdigit() then int())."""
    headers = {**key(sim), "X-Kash-Signature": f"t={t},v1={'a' * 64}"}
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{sim.base_url}/trades", data=b"{}", headers=headers) as r,
    ):
        body = await r.json()
    assert r.status == 401
    assert (body["code"], body["signatureReason"]) == ("REQUEST_SIGNATURE_INVALID", "malformed")


def _cursor(seq: object) -> str:
    raw = json.dumps({"s": seq, "f": "x"}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "query",
    [
        "limit=" + "9" * 5000,
        "limit=²",
        "limit=٣",
        f"cursor={_cursor(1e308)}",
        f"cursor={_cursor('9' * 5000)}",
        "cursor=" + "A" * 5000,
    ],
)
async def test_hostile_list_parameters_are_400(sim: SimHandle, query: str) -> None:
    async with (
        aiohttp.ClientSession(headers=key(sim)) as s,
        s.get(f"{sim.base_url}/trades?{query}") as r,
    ):
        body = await r.json()
    assert (r.status, body["code"]) == (400, "VALIDATION_FAILED")


@pytest.mark.parametrize(
    "query", ["outcomeIndex=٣&amount=1", "outcomeIndex=0&amount=" + "9" * 5000]
)
async def test_hostile_quote_parameters_are_400(sim: SimHandle, query: str) -> None:
    url = f"{sim.base_url}/markets/{M2}/quote?action=buy&{query}"
    async with aiohttp.ClientSession(headers=key(sim)) as s, s.get(url) as r:
        body = await r.json()
    assert (r.status, body["code"]) == (400, "VALIDATION_FAILED")


async def test_slow_body_is_cut_and_others_are_served(
    sim: SimHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edge, "BODY_TIMEOUT_S", 0.3)
    host, port = "127.0.0.1", int(sim.base_url.split(":")[2].split("/")[0])
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"POST /v1/trades HTTP/1.1\r\nHost: x\r\nX-API-Key: {sim.keys['mm'].api_key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
    )
    await writer.drain()
    async with aiohttp.ClientSession(headers=key(sim)) as s, s.get(f"{sim.base_url}/markets") as r:
        assert r.status == 200  # not held up by the slow peer
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # cut: no answer
    writer.close()
