"""The status page in headless Chromium (Debian's ``chromium``, driven by Playwright without its
own browser download) against a real paper daemon on the simulator: state, markets and
positions shown; halt, reduce (while halted, as the CLI allows) and resume from the page reach
the gate; a held (202) trade is released with its Confirm button; without the token the API
answers 401 and the page says so."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemon_cfg import daemon_cfg
from playwright.async_api import async_playwright, expect

from kashbot.app.daemon import Daemon
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(180)


CHROMIUM = os.environ.get("KASHBOT_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Waits go through locators (Playwright's own world): a string predicate in wait_for_function
# is an eval, which the page's CSP (no 'unsafe-eval') rightly refuses.
WAIT_MS = 60_000  # generous: a loaded machine, the daemon's first trades
# The developer tier has no confirm gate; this one holds every trade of 10 USDC or more (all of
# this strategy's), so positions appear only once the page's Confirm button released one.
HOLDING = {"tiers": {"developer": {"high_value_trade_threshold_usdc": "10"}}}
STRATEGY = {
    "name": "fair_value",
    "id": "fv",
    "params": {"max_trade_usdc": 20, "max_position_usdc": 200, "cooldown_s": 0.5},
}


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=3, overrides=HOLDING) as handle:
        yield handle


@pytest.fixture
async def browser_page(tmp_path: Path) -> AsyncIterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} not installed (.ci/run installs Debian's chromium)")

    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS
        )
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()


async def api(url: str, token: str | None, method: str = "GET", body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.request(method, url, headers=headers, json=body) as resp,
    ):
        return resp.status, await resp.json()


async def until(what: str, check: Any) -> None:
    """Poll the control API (another process's view, as the CLI would) until ``check`` holds."""
    for _ in range(300):  # 60 s: generous on a loaded machine
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not seen within 60 s: {what}")


async def test_status_page_in_chromium(sim: SimHandle, tmp_path: Path, browser_page: Any) -> None:
    cfg = daemon_cfg(
        tmp_path / "web" / "s.sqlite",
        poller={"markets_interval_s": 2, "predictions_interval_s": 0, "quotes_interval_s": 5},
        strategies=[STRATEGY],
    )
    page = browser_page
    async with Daemon(cfg, sim=sim, control_port=0) as d:
        run = asyncio.create_task(d.run(150))
        assert d.control is not None
        url = d.control.url
        token = (tmp_path / "web" / "control.token").read_text()

        # no token: the HTML loads, the data does not, the page says why
        resp = await page.goto(url + "/")
        assert resp.status == 200
        assert "default-src 'self'" in resp.headers["content-security-policy"]
        await page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
        assert "control token" in await page.text_content("#error")
        assert await page.text_content("#state") == "unknown"
        for path in ("/status", "/status/detail"):
            assert (await api(url + path, None))[0] == 401
        fetched = await page.evaluate("fetch('/status').then(r => r.status)")
        assert fetched == 401

        # a wrong token: refused, and the page shows the error
        await page.fill("#token", "not-the-token")
        await page.click("#token-save")
        await expect(page.locator("#error")).to_contain_text("401", timeout=WAIT_MS)

        # the right token: state, markets, positions, a held trade
        await page.fill("#token", token)
        await page.click("#token-save")
        await expect(page.locator("#state")).to_have_text("ACTIVE", timeout=WAIT_MS)
        assert await page.is_hidden("#error")
        markets = await page.locator("#markets tbody tr").all_text_contents()
        assert markets and all(any(m in row for row in markets) for m in d.markets)
        button = page.locator("#held button.confirm").first
        await button.wait_for(timeout=WAIT_MS)
        trade_id = await button.get_attribute("data-trade-id")
        assert trade_id and trade_id in (await api(url + "/status", token))[1]["held_trades"]
        row = await page.locator("#held tbody tr").first.text_content()
        assert "USDC" in (row or "") and ("buy" in (row or "").lower())

        await button.click()

        async def released() -> bool:
            status, body = await api(url + "/status", token)
            return status == 200 and trade_id not in body["held_trades"]

        async def confirmed_at_venue() -> bool:
            return sim.venue.trades[trade_id].status != "pending_confirmation"

        await until("the confirmed trade left the held list", released)
        await until("the venue has the confirmation", confirmed_at_venue)
        # the released trade fills: its position shows, with its PnL at mark
        await page.wait_for_selector("#positions tbody tr td:not(.empty)", timeout=WAIT_MS)
        shot = os.environ.get("KASHBOT_SCREENSHOT")
        await page.screenshot(path=shot or str(tmp_path / "status-page.png"), full_page=True)

        # halt and resume from the page reach the daemon's gate
        await page.click("#halt")

        async def state_is(want: str) -> bool:
            status, body = await api(url + "/status", token)
            return status == 200 and body["state"] == want

        await until("halted from the page", lambda: state_is("HALTED"))
        await expect(page.locator("#state")).to_have_text("HALTED", timeout=WAIT_MS)
        assert "web page" in await page.text_content("#state-reason")
        # reducing exposure is always allowed, as with `kashbot reduce`: HALTED -> REDUCING
        await expect(page.locator("#reduce")).to_be_enabled(timeout=WAIT_MS)
        await page.click("#reduce")
        await until("reducing from the page while halted", lambda: state_is("REDUCING"))
        await expect(page.locator("#state")).to_have_text("REDUCING", timeout=WAIT_MS)
        await expect(page.locator("#reduce")).to_be_disabled(timeout=WAIT_MS)
        await expect(page.locator("#halt")).to_be_enabled(timeout=WAIT_MS)
        await page.click("#resume")
        await until("resumed from the page", lambda: state_is("ACTIVE"))

        # forgetting the token empties the page again
        await page.click("#token-forget")
        await expect(page.locator("#state")).to_have_text("unknown", timeout=WAIT_MS)
        d.stop()
        await run
