"""Webhook ingest: kashbot's receiver as the daemon wires it, next to a bare aiohttp + HMAC server.

    .venv/bin/python bench/bench_webhook.py [--seconds 3] [--concurrency 8] [--rounds 3]

Each server runs in its own process and stays up for the whole run; this process POSTs signed
trade events, each with a new event id (so every one is a first delivery, persisted for dedupe),
over ``--concurrency`` keep-alive loopback connections, ``--seconds`` per server per round, the
two servers taking turns (the order alternates by round). It prints each round, the median
requests/s of each server, the median of the per-round ratios, and CPU µs per request of each
server process (``/proc``, all threads) and of this load generator.

- ``bare``: an aiohttp app that checks the ``X-Kash-Signature`` HMAC over the raw body, parses
  the JSON and answers 200 (the least any receiver must do);
- ``kashbot``: :class:`kashbot.sources.webhook.WebhookReceiver` exactly as ``kashbot run`` wires
  it (inbound guard with its deadlines and cap, signature, typed event, dedupe in the daemon's
  on-disk :class:`kashbot.store.Store` -- the journalled window of :mod:`kashbot.store.seen` --
  and the worker task handing each event to a no-op handler). Logging is filtered to errors in
  both servers.

On the project's 2-core machine the load generator (an aiohttp client, ~170 µs of CPU per
request) takes one core and the server the other; the bare server needs ~140 µs, so both run
near a full core, and a receiver's req/s follows its CPU per request. On a loaded machine the
CPU per request is the steadier figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from kashbot.client.webhooks import SIGNATURE_HEADER, sign

SECRET = "whsec_bench_secret_value_0123456789"
PATH = "/kash/webhook"

BARE = """
import hashlib, hmac, json, sys
from aiohttp import web
SECRET = sys.argv[2].encode()
async def handle(request):
    body = await request.read()
    head = dict(p.split("=", 1) for p in request.headers["X-Kash-Signature"].split(","))
    want = hmac.new(SECRET, head["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, head["v1"]):
        return web.json_response({"error": "invalid signature"}, status=401)
    json.loads(body)
    return web.json_response({"ok": True})
app = web.Application()
app.router.add_post(sys.argv[3], handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

KASHBOT = """
import asyncio, logging, sys
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
from kashbot.clock import WallClock
from kashbot.sources.webhook import WebhookReceiver
from kashbot.store import Store

async def main():
    store = await Store.open(sys.argv[4])
    async def handler(event):
        return None
    rx = WebhookReceiver(secrets=[sys.argv[2]], seen=store, handler=handler,
                         clock=WallClock(), port=int(sys.argv[1]), path=sys.argv[3])
    await rx.run(lambda e: None)

asyncio.run(main())
"""


def body(i: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{i:012x}",
            "type": "trade.completed",
            "apiVersion": "2026-04-29",
            "createdAt": "2026-01-01T00:00:00Z",
            "data": {
                "tradeId": f"t-{i}",
                "marketId": "m-1",
                "outcomeIndex": 0,
                "amount": "10",
                "side": "buy",
                "status": "completed",
                "metadata": {"kb_intent": f"i-{i}"},
                "tokensOut": "1000",
            },
        }
    ).encode()


def requests(n: int, first: int) -> list[tuple[bytes, dict[str, str]]]:
    """Signed deliveries, built before the clock starts (the client must not be the limit)."""
    now_ms = int(time.time() * 1000)
    out = []
    for i in range(first, first + n):
        b = body(i)
        out.append(
            (b, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, b, now_ms)})
        )
    return out


async def wait_up(url: str) -> None:
    b = body(10**9)
    h = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(SECRET, b, int(time.time() * 1000)),
    }
    async with aiohttp.ClientSession() as s:
        for _ in range(400):
            try:
                async with s.post(url, data=b, headers=h) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server at {url} did not come up")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (all its threads) from /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    rate: float  # answered requests per second (wall)
    server_cpu_us: float | None  # server process CPU per request
    client_cpu_us: float  # this process's CPU per request (the load generator)


async def hammer(
    url: str, reqs: list[tuple[bytes, dict[str, str]]], seconds: float, conc: int, pid: int
) -> Round:
    ok = bad = 0
    it = iter(reqs)
    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=connector) as s:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal ok, bad
            for data, headers in it:
                if time.perf_counter() >= deadline:
                    return
                async with s.post(url, data=data, headers=headers) as r:
                    await r.read()
                    ok += r.status == 200
                    bad += r.status != 200

        cpu0, mine0 = cpu_seconds(pid), time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        elapsed = time.perf_counter() - start
        cpu1, mine1 = cpu_seconds(pid), time.process_time()
    if bad:
        raise RuntimeError(f"{bad} non-200 answers from {url}")
    server = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / ok * 1e6
    return Round(ok / elapsed, server, (mine1 - mine0) / ok * 1e6)


def measure(
    seconds: float, concurrency: int, rounds: int = 3, *, show: bool = False
) -> dict[str, float]:
    """Median requests/s of each server over ``rounds`` interleaved rounds in this run.

    Both servers stay up for the whole run; each round hammers one, then the other (the order
    alternates), so a change in the machine's load hits both alike. Keys: ``bare``, ``kashbot``
    (median req/s), ``ratio`` (median of the per-round ratios), ``<name>_cpu_us`` (median server
    CPU µs per request), ``client_cpu_us``.
    """
    from bench_sim_quotes import free_port

    tmp = Path(tempfile.mkdtemp(prefix="kashbot-bench-wh-"))
    procs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    got: dict[str, list[Round]] = {"bare": [], "kashbot": []}
    ratios: list[float] = []
    budget = max(20_000, int(seconds * 40_000))  # more than either server answers in time
    first = 0
    try:
        for name, code in (("bare", BARE), ("kashbot", KASHBOT)):
            port = free_port()
            argv = [sys.executable, "-c", code, str(port), SECRET, PATH, str(tmp / "store.db")]
            procs[name] = (subprocess.Popen(argv), f"http://127.0.0.1:{port}{PATH}")
        for _, url in procs.values():
            asyncio.run(wait_up(url))
        for r in range(rounds):
            order = ("bare", "kashbot") if r % 2 == 0 else ("kashbot", "bare")
            this: dict[str, float] = {}
            for name in order:
                proc, url = procs[name]
                reqs = requests(budget, first)
                first += budget
                rd = asyncio.run(hammer(url, reqs, seconds, concurrency, proc.pid))
                got[name].append(rd)
                this[name] = rd.rate
                if show:
                    cpu = "n/a" if rd.server_cpu_us is None else f"{rd.server_cpu_us:.0f}"
                    print(
                        f"  round {r + 1} {name:8s} {rd.rate:8.0f} req/s  server CPU {cpu} µs/req"
                        f"  client CPU {rd.client_cpu_us:.0f} µs/req",
                        flush=True,
                    )
            ratios.append(this["kashbot"] / this["bare"])
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            proc.wait(timeout=10)
    out = {name: statistics.median(rd.rate for rd in rds) for name, rds in got.items()}
    out["ratio"] = statistics.median(ratios)
    for name, rds in got.items():
        cpus = [rd.server_cpu_us for rd in rds if rd.server_cpu_us is not None]
        if cpus:
            out[f"{name}_cpu_us"] = statistics.median(cpus)
    out["client_cpu_us"] = statistics.median(rd.client_cpu_us for v in got.values() for rd in v)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="per server per round")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    r = measure(args.seconds, args.concurrency, args.rounds, show=True)
    cpu = {
        n: f", server CPU {r[f'{n}_cpu_us']:.0f} µs/req" if f"{n}_cpu_us" in r else ""
        for n in ("bare", "kashbot")
    }
    print(f"bare aiohttp + HMAC : {r['bare']:8.0f} req/s{cpu['bare']}")
    print(f"kashbot receiver    : {r['kashbot']:8.0f} req/s{cpu['kashbot']}")
    print(f"ratio (median of the {args.rounds} same-round ratios): {r['ratio']:.2f}x bare")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
