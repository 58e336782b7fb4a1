"""Quotes served per second by the simulator, against a bare-aiohttp baseline, on loopback.

Each server runs in its own process (``kashbot sim`` and a constant-JSON aiohttp app); this
process hammers ``GET /v1/markets/{id}/quote`` (and the baseline's one route) with several
concurrent keep-alive connections for N seconds and prints requests/s and the ratio.

    .venv/bin/python bench/bench_sim_quotes.py [--seconds 5] [--concurrency 8]

The simulator uses the default scenario with the mm tier's request quota raised so the rate
limiter never throttles the bench (noise traders stay on: the pool keeps moving as in a paper run).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

from kashbot.sim.embedded import deep_merge, scenario_dict

BASELINE_APP = """
import sys
from aiohttp import web
BODY = b'{"quote":{"outcomeIndex":0,"action":"buy","amountIn":"10000000"},"_meta":{}}'
async def handle(request):
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_get("/v1/markets/{id}/quote", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_up(url: str, headers: dict[str, str]) -> None:
    async with aiohttp.ClientSession(headers=headers) as s:
        for _ in range(200):
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server at {url} did not come up")


async def hammer(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> float:
    ok = 0
    bad = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as s:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal ok, bad
            while time.perf_counter() < deadline:
                async with s.get(url) as r:
                    await r.read()
                    if r.status == 200:
                        ok += 1
                    else:
                        bad += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    if bad:
        raise RuntimeError(f"{bad} non-200 answers from {url}")
    return ok / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()

    data = deep_merge(scenario_dict(), {"tiers": {"mm": {"requests_per_minute": 100_000_000}}})
    mm = next(k for k in data["keys"] if k["tier"] == "mm")
    market = data["markets"][0]["id"]
    query = f"/v1/markets/{market}/quote?outcomeIndex=0&action=buy&amount=10000000"
    headers = {"X-API-Key": mm["api_key"]}
    sim_port, base_port = free_port(), free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(data, f)
        scenario = Path(f.name)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from kashbot.cli import main; raise SystemExit(main())",
                "sim",
                "--port",
                str(sim_port),
                "--scenario",
                str(scenario),
            ],
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen([sys.executable, "-c", BASELINE_APP, str(base_port)]),
    ]
    try:
        sim_url = f"http://127.0.0.1:{sim_port}{query}"
        base_url = f"http://127.0.0.1:{base_port}{query}"
        asyncio.run(wait_up(sim_url, headers))
        asyncio.run(wait_up(base_url, {}))
        sim_rate = asyncio.run(hammer(sim_url, headers, args.seconds, args.concurrency))
        base_rate = asyncio.run(hammer(base_url, {}, args.seconds, args.concurrency))
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        scenario.unlink()
    print(
        f"simulator quotes/s : {sim_rate:8.0f}  ({args.concurrency} connections, "
        f"{args.seconds:.0f} s, GET /v1/markets/{{id}}/quote, noise traders on)"
    )
    print(f"bare aiohttp req/s : {base_rate:8.0f}  (constant JSON, same load generator)")
    print(f"ratio              : {sim_rate / base_rate:8.2f}")
    print("target >= 1000 quotes/s:", "met" if sim_rate >= 1000 else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
