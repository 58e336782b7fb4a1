"""Issue 11 end to end: a paper daemon on the default scenario trades Solana and Base markets,
stops buying at the freeze margin, sees them resolve and redeems each winning position exactly
once; a redemption whose answer was lost to a kill -9 is not claimed twice after a restart; a
pin that hides Solana markets refuses to start, naming the version.

The default scenario's lifecycle (freeze and resolution within six minutes) is squeezed into
seconds with ``daemon_cfg.fast_lifecycle``; the simulator is the ground truth throughout.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from daemon_cfg import FAIR_VALUE, daemon_cfg, fast_lifecycle
from prometheus_client.parser import text_string_to_metric_families

from kashbot.app.daemon import Daemon
from kashbot.app.redeem import redeem_once
from kashbot.app.run import run_daemon
from kashbot.client import KashClient
from kashbot.events import OrderIntent, Side
from kashbot.execution.redeem import redemption_key
from kashbot.risk.gate import Approval, Denial
from kashbot.sim.embedded import SimHandle, run_sim, scenario_dict
from kashbot.store.records import REDEEM_ACCEPTED, REDEEM_REQUESTED, RedemptionRecord
from kashbot.store.store import Store

pytestmark = pytest.mark.timeout(60)

SOLANA = "2f3c6a1e-4b7d-4e21-9c3a-5d8e1f0a7b11"  # resolves Yes (0)
BASE = "2f3c6a1e-4b7d-4e21-9c3a-5d8e1f0a7b12"  # resolves No (1)
FACTOR = 30.0  # the six-minute lifecycle in about twelve seconds
MARGIN = 2.0  # risk.freeze_margin_s


def _scenario() -> dict[str, Any]:
    return fast_lifecycle(scenario_dict(), FACTOR)


STRATEGY = {**FAIR_VALUE, "params": {**FAIR_VALUE["params"], "cooldown_s": 0.2}}


def _cfg(store: Path, strategies: Any = (STRATEGY,), **sections: Any) -> Any:
    poller = {"markets_interval_s": 0.3, "predictions_interval_s": 0, "quotes_interval_s": 0.5}
    return daemon_cfg(
        store,
        poller=poller,
        strategies=strategies,
        risk={"per_trade_cap_usdc": 50, "daily_cap_usdc": 2000, "freeze_margin_s": MARGIN},
        redemption={"interval_s": 0.3},
        **sections,
    )


def _our(sim: SimHandle) -> tuple[str, str]:
    key = sim.key("developer")
    return key.key_id, key.user_id


async def test_paper_daemon_trades_freezes_resolves_and_redeems_once(tmp_path: Path) -> None:
    async with run_sim(_scenario(), seed=5, time_scale=5) as sim:
        venue = sim.venue
        cfg = _cfg(tmp_path / "a.sqlite", metrics={"enabled": True})
        async with Daemon(cfg, sim=sim, control_port=0) as d:
            approved: list[tuple[float, OrderIntent]] = []  # every buy the gate approved, when
            check = d.gate.check

            def spy(intent: OrderIntent, now: float | None = None) -> Approval | Denial:
                verdict = check(intent, now)
                if isinstance(verdict, Approval) and intent.side is Side.BUY:
                    approved.append((d.clock.now() if now is None else now, intent))
                return verdict

            d.gate.check = spy  # type: ignore[method-assign]

            def redeemed() -> bool:
                done = {r.market_id for r in d.engine.state.redemptions} >= {SOLANA, BASE}
                return done and d.poller is not None and {SOLANA, BASE} <= d.poller.retired

            stopper = asyncio.create_task(_stop_when(d, redeemed, 30))
            summary = await d.run()
            stopper.cancel()
            status = d.status_json()
            assert d.metrics is not None
            scrape = _scrape(d.metrics.exposition().decode())
        key_id, user_id = _our(sim)
        ours = [t for t in venue.trades.values() if t.key_id == key_id]
        chains = {venue.markets[t.market_id].chain for t in ours if t.status == "completed"}
        assert {"solana:mainnet-beta", "evm:84532"} <= chains  # traded on both chains
        for mid in (SOLANA, BASE):
            m = venue.markets[mid]
            assert m.resolution_state == "resolved"
            assert m.freeze_at is not None
            buys = [t for t in ours if t.market_id == mid and t.side == "buy"]
            assert buys, f"no buy in {mid}"
            # the gate approved no buy past the margin, and the venue saw none after it
            mine = [ts for ts, i in approved if i.market_id == mid]
            assert mine and all(ts < m.freeze_at - MARGIN for ts in mine)
            assert all(t.created_at <= m.freeze_at - MARGIN + 1.0 for t in buys)
        # one redemption per winning position: the venue's ground truth
        claims = [r for r in venue.redemptions.values() if r.user_id == user_id]
        positions = [(r.market_id, r.outcome) for r in claims]
        assert len(positions) == len(set(positions))
        assert {(SOLANA, 0), (BASE, 1)} <= set(positions)
        assert all(r.outcome in venue.markets[r.market_id].winners for r in claims)
        # the engine's book: the winners paid out, exposure released, PnL realised
        state = d.engine.state
        paid = [r for r in state.redemptions if r.kind == "resolved"]
        assert {(r.market_id, r.outcome) for r in paid} >= {(SOLANA, 0), (BASE, 1)}
        assert all(not any(m == mid for m, _ in state.positions) for mid in (SOLANA, BASE))
        assert d.gate.exposure.book.exposure(SOLANA) == 0
        text = summary.text()
        assert "redemptions:" in text and "payout" in text
        red = status["redemptions"]
        assert red["claimed"] >= 2 and red["payout_usdc"] != "0"
        chains_seen = {m["market_id"]: m["chain"] for m in status["markets"]}
        assert chains_seen[SOLANA] == "solana:mainnet-beta" and chains_seen[BASE] == "evm:84532"
        # the scrape (issue 15): redemptions by kind, payout, and realised PnL per market
        kinds = Counter(r.kind for r in state.redemptions)
        assert scrape["kashbot_redemptions_total"] == {(("kind", k),): n for k, n in kinds.items()}
        payout = sum(r.payout for r in state.redemptions) / 1e6
        assert scrape["kashbot_redemption_payout_usdc_total"][()] == pytest.approx(payout)
        realized = scrape["kashbot_pnl_realized_usdc"]
        assert sum(realized.values()) == pytest.approx(state.realized / 1e6, abs=1e-5)
        assert scrape["kashbot_pnl_realized_total_usdc"][()] == state.realized / 1e6
        assert {(("market", SOLANA),), (("market", BASE),)} <= set(realized)
        # settled and nothing of ours left in them: the poller stopped asking about them
        assert d.poller is not None and {SOLANA, BASE} <= d.poller.retired


def _scrape(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def _stop_when(d: Daemon, until: Any, seconds: float) -> None:
    for _ in range(int(seconds / 0.1)):
        await asyncio.sleep(0.1)
        if until():
            await asyncio.sleep(0.3)  # let the last events land
            break
    d.stop()


async def test_lost_redemption_answer_is_not_claimed_twice_after_restart(tmp_path: Path) -> None:
    """The store says "persisted, POST sent, no answer" (a kill -9 between the POST and its
    answer): the restarted daemon re-sends the same claim and the venue answers the first."""
    sc = scenario_dict()
    for m in sc["markets"]:
        m["noise"] = {**m.get("noise", {}), "enabled": False}
    store_path = tmp_path / "b.sqlite"
    async with run_sim(sc, seed=1, time_scale=10) as sim:
        key = sim.key("developer")
        async with KashClient(key.api_key, sim.base_url) as client:
            created = await client.create_trade(SOLANA, 0, Side.BUY.value, "20")
            for _ in range(100):
                trade = await client.get_trade(created.trade.id)
                if trade.status == "completed":
                    break
                await asyncio.sleep(0.05)
            sim.venue.resolve_market(SOLANA, [0])
            position = (await client.list_positions(SOLANA))[0]
            balance_before = sim.venue.balance(key.api_key)
            # the POST the crashed process sent: the venue created the claim ...
            first = await client.create_redemption(
                SOLANA, 0, idempotency_key=redemption_key(SOLANA, 0)
            )
        # ... and the store knows it was sent, never what the venue answered
        store = await Store.open(str(store_path))
        await store.put_redemption(
            RedemptionRecord(
                market_id=SOLANA,
                outcome=0,
                shares=position.shares,
                cost_basis=position.cost_basis_atomic,
                kind="resolved",
                expected_payout=position.cost_basis_atomic,
                idempotency_key=redemption_key(SOLANA, 0),
                status=REDEEM_REQUESTED,
            )
        )
        await store.close()
        cfg = _cfg(store_path, strategies=[])
        async with Daemon(cfg, sim=sim, control_port=0) as d:
            stopper = asyncio.create_task(_stop_when(d, lambda: d.engine.state.redemptions, 10))
            await d.run()
            stopper.cancel()
            rows = await d.store.redemptions()
        claims = [r for r in sim.venue.redemptions.values() if r.user_id == key.user_id]
        assert [r.id for r in claims] == [first.id]  # one claim, the first one
        assert [(r.status, r.redemption_id) for r in rows] == [(REDEEM_ACCEPTED, first.id)]
        await asyncio.sleep(0.1)  # the payout lands redemption_s later
        assert sim.venue.balance(key.api_key) == balance_before + claims[0].payout  # paid once


async def test_kashbot_redeem_claims_each_settled_position_once(tmp_path: Path) -> None:
    sc = scenario_dict()
    for m in sc["markets"]:
        m["noise"] = {**m.get("noise", {}), "enabled": False}
    async with run_sim(sc, seed=2, time_scale=10) as sim:
        key = sim.key("developer")
        async with KashClient(key.api_key, sim.base_url) as client:
            for outcome in (0, 1):
                created = await client.create_trade(BASE, outcome, Side.BUY.value, "10")
                for _ in range(100):
                    if (await client.get_trade(created.trade.id)).status == "completed":
                        break
                    await asyncio.sleep(0.05)
        sim.venue.resolve_market(BASE, [1])
        cfg = _cfg(tmp_path / "r.sqlite", strategies=[])
        first, second = io.StringIO(), io.StringIO()
        assert await redeem_once(cfg, out=first, sim=sim) == 0
        assert await redeem_once(cfg, out=second, sim=sim) == 0
    claims = [r for r in sim.venue.redemptions.values() if r.user_id == key.user_id]
    assert [(r.market_id, r.outcome) for r in claims] == [(BASE, 1)]  # the loser: no request
    assert f"{BASE} outcome 1: resolved, payout" in first.getvalue()
    assert f"{BASE} outcome 0: lost, payout 0" in first.getvalue()
    assert "nothing to redeem" in second.getvalue()


def test_pin_that_hides_solana_markets_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = scenario_dict()
    for m in sc["markets"]:
        m["chain"] = "solana:mainnet-beta"
    scenario = tmp_path / "solana.yaml"
    scenario.write_text(yaml.safe_dump(sc))
    cfg = _cfg(
        tmp_path / "c.sqlite",
        venue={
            "mode": "paper",
            "api_version": "2026-04-29",
            "sim": {"scenario": str(scenario), "key_tier": "developer"},
        },
    )
    code = run_daemon(cfg, duration=1, status=False)
    err = capsys.readouterr().err
    assert code == 2
    assert "2026-04-29" in err and "0 markets" in err and "2026-08-19" in err
