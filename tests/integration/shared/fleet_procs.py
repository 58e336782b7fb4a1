"""Processes for the fleet tests: a ``kashbot sim`` process, ``kashbot run`` daemons in live mode
against it sharing one key and one real redis-server, and a webhook fan-out.

A Kash key has one webhook URL, so the daemons on one key cannot each register theirs; the
fan-out (a tiny aiohttp server here) receives the key's deliveries and passes each, body and
signature headers untouched, to every daemon's receiver, as a reverse proxy in front of a fleet
would. Without webhooks a daemon learns a trade's end only by polling after 30 s of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml
from aiohttp import web
from daemon_cfg import FAIR_VALUE, live_yaml

from kashbot.money import parse_usdc_str
from kashbot.sim.embedded import scenario_dict

ROOT = Path(__file__).resolve().parents[3]
KASHBOT = str(Path(sys.executable).parent / "kashbot")
MARKET = "610464bf-ef0e-4a59-8144-c69601eef85e"  # Yes/No, 10,000 USDC of liquidity
KEY = "developer"
POLLER = {"markets_interval_s": 0.3, "predictions_interval_s": 0, "quotes_interval_s": 0.3}

T = TypeVar("T")


async def until(what: str, probe: Callable[[], Awaitable[T | None]], within: float) -> T:
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else "(no log)"


async def spawn(
    stack: contextlib.AsyncExitStack, args: list[str], log: Path, env: dict[str, str] | None = None
) -> Any:
    """``kashbot ARGS`` with its output in ``log``; killed when ``stack`` closes, whatever
    happened."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            KASHBOT,
            *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    stack.push_async_callback(reap, proc)
    return proc


async def reap(proc: Any, sig: int = signal.SIGKILL) -> None:
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


class SimAdmin:
    """The admin API of the simulator process (the ground truth of every assertion)."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self.admin = base_url.removesuffix("/v1") + "/_sim"

    async def get(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.admin}{path}", params=params) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(f"{self.admin}{path}", json=body) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def key(self, name: str = KEY) -> dict[str, Any]:
        return next(k for k in (await self.get("/keys"))["keys"] if k["name"] == name)

    async def daily_used(self, name: str = KEY) -> int:
        """The venue's rolling-24h buy volume of the key (pending and completed buys)."""
        return parse_usdc_str((await self.key(name))["dailyUsed"])

    async def buys(self, name: str = KEY) -> list[dict[str, Any]]:
        """The key's buys the venue holds against its cap (not failed/rejected/...)."""
        trades = (await self.get("/trades"))["trades"]
        gone = {"failed", "rejected", "cancelled", "expired"}
        return [
            t
            for t in trades
            if t["keyName"] == name and t["side"] == "buy" and t["status"] not in gone
        ]

    async def quota_rejections(self, user_id: str) -> int:
        """429s the venue answered any key of the user."""
        rows = (await self.get("/requests", status="429"))["requests"]
        keys = {k["name"] for k in (await self.get("/keys"))["keys"] if k["userId"] == user_id}
        return sum(1 for r in rows if r["keyName"] in keys)


async def start_sim(
    stack: contextlib.AsyncExitStack, tmp_path: Path, *, requests_per_minute: int
) -> str:
    """``kashbot sim`` on a free port, the default scenario without noise traders, the key's
    request quota set; its base URL."""
    scen = scenario_dict()
    for k in scen["keys"]:
        if k["name"] == KEY:
            k["caps"] = {**k.get("caps", {}), "requests_per_minute": requests_per_minute}
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(scen, sort_keys=False))
    log = tmp_path / "sim.log"
    proc = await spawn(stack, ["sim", "--port", "0", "--scenario", str(scenario)], log)

    async def banner() -> str | None:
        for line in tail(log, 100_000).splitlines():
            if line.startswith("kashbot simulator") and "http://127.0.0.1:" in line:
                return line.split()[2]
        assert proc.returncode is None, tail(log)
        return None

    return await until("the simulator's banner", banner, 30)


class Fanout:
    """Receives the key's webhook deliveries and passes each to every daemon's receiver."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.port = free_port()
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        self._http = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        )
        app = web.Application()
        app.router.add_post("/hook", self._deliver)
        runner = web.AppRunner(app)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", self.port).start()

    async def _deliver(self, request: web.Request) -> web.Response:
        body = await request.read()
        keep = {k: v for k, v in request.headers.items() if k.lower().startswith(("x-", "content"))}
        assert self._http is not None

        async def one(url: str) -> None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self._http.post(url, data=body, headers=keep) as resp:  # type: ignore[union-attr]
                    await resp.read()

        await asyncio.gather(*(one(t) for t in self.targets))
        return web.Response(status=200)


class Fleet:
    """``kashbot run`` daemons on one key of the simulator, sharing one Redis namespace."""

    def __init__(
        self,
        stack: contextlib.AsyncExitStack,
        tmp_path: Path,
        sim: SimAdmin,
        *,
        redis_url: str,
        prefix: str,
        cap_usdc: int,
        requests_per_minute: int,
        fanout: Fanout,
    ) -> None:
        self.stack, self.tmp, self.sim = stack, tmp_path, sim
        self.redis_url, self.prefix = redis_url, prefix
        self.cap_usdc, self.rpm = cap_usdc, requests_per_minute
        self.fanout = fanout
        self.procs: list[Any] = []
        self.logs: list[Path] = []
        self.configs: list[Path] = []
        self.env: dict[str, str] = {}
        self.user_id = ""

    async def prepare(self) -> None:
        fixture = next(k for k in scenario_dict()["keys"] if k["name"] == KEY)
        secret = fixture["webhook_secret"]
        await self.sim.post(f"/keys/{KEY}/webhook", {"url": self.fanout.url, "secret": secret})
        self.user_id = (await self.sim.key())["userId"]
        self.env = {
            "KASH_API_KEY": fixture["api_key"],
            "KASH_WEBHOOK_SECRET": secret,
            "KASH_REDIS_URL": self.redis_url,
        }

    def config(self, i: int, **shared: Any) -> Path:
        hook_port = free_port()
        self.fanout.targets.append(f"http://127.0.0.1:{hook_port}/kash/webhook")
        strategy = {
            **FAIR_VALUE,
            "id": f"fv{i}",
            "params": {
                "max_trade_usdc": 5,
                "max_position_usdc": 1000,
                "fair": {MARKET: ["0.9", "0.1"]},
            },
            "protections": {"cooldown": {"seconds": 0.2}, "backoff": {"base_s": 0.5, "max_s": 1}},
        }
        path = self.tmp / f"d{i}.yaml"
        path.write_text(
            live_yaml(
                self.tmp / f"d{i}.sqlite",
                self.sim.base_url,
                tier="developer",
                user_id=self.user_id,
                markets=[MARKET],
                poller=POLLER,
                strategies=[strategy],
                webhook_port=hook_port,
                account={
                    "user_id": self.user_id,
                    "tier": "developer",
                    "requests_per_minute": self.rpm,
                },
                risk={"per_trade_cap_usdc": 50, "daily_cap_usdc": self.cap_usdc},
                engine={"shutdown_grace_s": 2},
                shared_state={
                    "backend": "redis",
                    "url": "${KASH_REDIS_URL}",
                    "prefix": self.prefix,
                    "op_timeout_s": 0.5,
                    "lease_s": 3,
                    "rejoin_grace_s": 1,
                    "heartbeat_s": 0.5,
                    "member_ttl_s": 3,
                    "adopt_interval_s": 1,
                    **shared,
                },
            )
        )
        self.configs.append(path)
        return path

    async def start(self, n: int, **shared: Any) -> None:
        for i in range(len(self.procs), len(self.procs) + n):
            log = self.tmp / f"d{i}.log"
            self.logs.append(log)
            args = ["run", str(self.config(i, **shared))]
            self.procs.append(await spawn(self.stack, args, log, self.env))

    def assert_alive(self) -> None:
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.returncode is not None and proc.returncode != -signal.SIGKILL:
                raise AssertionError(f"a daemon exited ({proc.returncode}): {tail(log)}")

    async def stop(self) -> None:
        """SIGINT every daemon still running; each must exit cleanly."""
        await asyncio.gather(*(reap(p, signal.SIGINT) for p in self.procs))
        for proc, log in zip(self.procs, self.logs, strict=True):
            assert proc.returncode in (0, -signal.SIGKILL), tail(log)

    async def status_all(self, i: int = 0) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            KASHBOT,
            "status",
            "--all",
            str(self.configs[i]),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()


class CapWatch:
    """Samples the key's venue volume every 0.1 s in the background: the peak it ever reached."""

    def __init__(self, sim: SimAdmin) -> None:
        self.sim = sim
        self.peak = 0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CapWatch:
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.sample()

    async def sample(self) -> int:
        used = await self.sim.daily_used()
        self.peak = max(self.peak, used)
        self.samples += 1
        return used

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                await self.sample()
            await asyncio.sleep(0.1)
