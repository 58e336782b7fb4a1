"""``kashbot doctor [CONFIG]``: preflight a deployment against its venue before ``kashbot run``.

One line per check, OK/WARN/FAIL, and the fix under anything not OK; exit 1 on any FAIL, 2 when
the config itself does not load. Only reads: GET probes (never a POST /v1/trades), a temporary
file in the store's folder. Paper configs are checked against a simulator started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kashbot.app.doctor_checks import (
    Check,
    Probe,
    auth_check,
    scope_check,
    skew_check,
    tier_check,
    version_check,
)

if TYPE_CHECKING:  # `kashbot --help` registers this command without importing aiohttp
    import aiohttp

    from kashbot.config import KashbotConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("doctor", help="preflight a config against its venue (OK/WARN/FAIL)")
    p.add_argument("config", nargs="?", default=None, help="YAML config file")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from kashbot.app.commands import CONFIG_ERROR, config_path
    from kashbot.config import ConfigError, load_config

    path = config_path(args.config)
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        print(Check("config", "FAIL", f"{path} does not load", "fix each line below").line())
        print(str(exc))
        return CONFIG_ERROR
    checks = asyncio.run(run_doctor(cfg))
    print(Check("config", "OK", f"{path} ({cfg.venue.mode})").line())
    for check in checks:
        print(check.line())
    failed = sum(c.verdict == "FAIL" for c in checks)
    print(f"{failed} FAIL, {sum(c.verdict == 'WARN' for c in checks)} WARN")
    return 1 if failed else 0


async def run_doctor(cfg: KashbotConfig, sim: Any | None = None) -> list[Check]:
    """Every check of ``cfg``; ``sim``: a running simulator for a paper config (None: start one)."""
    from kashbot.app.venue_access import venue_access
    from kashbot.client.config import KashConfigError, resolve_settings

    checks = [store_check(cfg), caps_check(cfg)]
    try:
        async with venue_access(cfg, sim) as access:
            settings = resolve_settings(access.api_key, access.base_url, env={})
            checks.insert(0, Check("key", "OK", f"format ok ({settings.api_key.environment})"))
            checks[1:1] = await venue_checks(cfg, settings.base_url, access.api_key, access.tier)
    except (KashConfigError, OSError, ValueError) as exc:
        fix = "set venue.api_key: ${KASH_API_KEY} to a kash_live_/kash_test_ key (see kash-api §3)"
        checks.insert(0, Check("key", "FAIL", str(exc), fix))
    checks.append(await webhook_check(cfg))
    return checks


async def venue_checks(cfg: KashbotConfig, base_url: str, api_key: str, tier: str) -> list[Check]:
    """Reachability and clock, then the key, version, tier and scopes from GET probes."""
    import aiohttp

    headers = {"X-API-Key": api_key}
    if cfg.venue.api_version:
        headers["X-Kash-Api-Version"] = cfg.venue.api_version
    timeout = aiohttp.ClientTimeout(total=cfg.venue.timeout_s)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:
        try:
            started = time.time()
            async with http.get(f"{base_url}/health") as resp:
                await resp.read()
                date = resp.headers.get("Date")
            skew = skew_check(date, time.time(), time.time() - started)
            markets = await _probe(http, base_url, "/markets?limit=1")
        except (aiohttp.ClientError, TimeoutError) as exc:
            fix = "check venue.base_url and the network (a proxy, DNS, the firewall)"
            return [Check("venue", "FAIL", f"cannot reach {base_url}: {exc!r}", fix)]
        out = [Check("venue", "OK", f"{base_url} reachable"), skew]
        auth = auth_check(markets)
        out.append(auth)
        version = version_check(markets, cfg.venue.api_version)
        out.append(version)
        if auth.verdict == "FAIL" or version.verdict == "FAIL":
            return out  # every other probe would fail the same way
        from kashbot.client.request_budget import tier_requests_per_min

        try:
            rpm: int | None = tier_requests_per_min(tier, cfg.account.requests_per_minute)
        except ValueError:
            rpm = None
        out.append(tier_check(tier, rpm, markets.headers))
        probes = {
            "markets:read": markets,
            "portfolio:read": await _probe(http, base_url, "/portfolio"),
            "trades:read": await _probe(http, base_url, "/trades?limit=1"),
        }
        out.append(scope_check(probes, trading=bool(cfg.strategies)))
    return out


async def _probe(http: aiohttp.ClientSession, base_url: str, route: str) -> Probe:
    async with http.get(f"{base_url}{route}") as resp:
        body: Any = None
        with contextlib.suppress(ValueError):
            body = await resp.json(content_type=None)
        code = body.get("code") if isinstance(body, dict) else None
        supported = body.get("supported") if isinstance(body, dict) else None
        detail = f"; supported: {', '.join(map(str, supported))}" if supported else ""
        return Probe(route.split("?")[0], resp.status, code, dict(resp.headers), detail)


def caps_check(cfg: KashbotConfig) -> Check:
    """The configured caps on the key's tier (what the risk gate will enforce)."""
    from kashbot.money import fmt_usdc
    from kashbot.risk.limits import CONFIG_KEYS, Limits, LimitsError

    tier = cfg.effective_tier()
    if tier is None:
        return Check("caps", "FAIL", "no account.tier", "set account.tier (free|developer|...)")
    try:
        lim = Limits.from_config(cfg.risk, tier)
    except LimitsError as exc:
        key = CONFIG_KEYS.get(exc.field, exc.field)
        return Check("caps", "FAIL", f"{key}: {exc.message}", f"lower {key} or set the right tier")
    return Check(
        "caps",
        "OK",
        f"{tier}: per trade {fmt_usdc(lim.per_trade_cap)}, daily {fmt_usdc(lim.daily_cap)} USDC",
    )


def store_check(cfg: KashbotConfig) -> Check:
    """The store's folder exists (or can be made) and takes a file."""
    path = cfg.store.path
    if path == ":memory:":
        return Check("store", "OK", "in memory (nothing kept across restarts)")
    folder = Path(cfg.store.resolved_path(time.time())).resolve().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".kashbot-doctor-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return Check(
            "store",
            "FAIL",
            f"store.path {path}: cannot write in {folder} ({exc.strerror})",
            "make the folder writable by this user, or point store.path elsewhere",
        )
    return Check("store", "OK", f"{folder} writable")


async def webhook_check(cfg: KashbotConfig) -> Check:
    """The public URL Kash delivers to answers at all (any HTTP status: something listens)."""
    if cfg.venue.mode == "paper":
        return Check("webhook", "OK", "paper: the simulator is pointed at the receiver at startup")
    if not cfg.sources.webhook.enabled:
        return Check("webhook", "OK", "off: fills are learnt by polling (execution.reconcile)")
    import aiohttp

    url = cfg.sources.webhook.public_url
    if not url:
        return Check(
            "webhook",
            "WARN",
            "no sources.webhook.public_url: reachability not checked",
            "set public_url to the URL registered with Kash for this key",
        )
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(url) as resp,
        ):
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Check(
            "webhook",
            "FAIL",
            f"{url} unreachable: {exc!r}",
            "expose the receiver (sources.webhook host/port behind your proxy) at public_url, "
            "or set sources.webhook.enabled: false",
        )
    return Check("webhook", "OK", f"{url} answers ({status})")
