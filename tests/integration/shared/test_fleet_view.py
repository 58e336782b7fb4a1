"""The fleet view and the shared part of a daemon's status and metrics, against a real
redis-server: registrations with a heartbeat TTL (a silent daemon drops out by itself), the
key's ledger used on Redis, the user's shared bucket."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest
from shared_redis_support import clients

from kashbot.app.fleet import SharedState
from kashbot.app.fleet_cli import fleet_members, fleet_report
from kashbot.clock import WallClock
from kashbot.execution.shared_spend import SharedSpend
from kashbot.money import USDC_ONE
from kashbot.shared import RedisSpendLedger, SharedStateConfig
from kashbot.shared.fleet_registry import FleetRegistry

U = USDC_ONE
USER = "usr_desk"


async def test_members_register_refresh_and_expire(redis_url: str, redis_prefix: str) -> None:
    async with clients(redis_url, redis_prefix, 2) as (r1, r2):
        a, b = FleetRegistry(r1, USER), FleetRegistry(r2, USER)
        await a.register("a", {"pid": 1, "state": "ACTIVE"}, ttl_s=0.5)
        await b.register("b", {"pid": 2}, ttl_s=30)
        assert sorted(m["id"] for m in await a.members()) == ["a", "b"]
        assert await FleetRegistry(r1, "another user").members() == []
        await asyncio.sleep(0.7)  # a missed its heartbeat: gone, nobody cleaned up
        [only] = await a.members()
        assert only["id"] == "b" and only["pid"] == 2 and 0 < only["expires_in_s"] <= 30
        await b.leave("b")
        assert await a.members() == []


async def test_shared_state_view_status_and_metrics(redis_url: str, redis_prefix: str) -> None:
    cfg = SharedStateConfig.model_validate(
        {"backend": "redis", "url": redis_url, "prefix": redis_prefix, "rejoin_grace_s": 0}
    )
    clock = WallClock()
    state = SharedState(cfg, USER, clock=clock)
    spend = SharedSpend.connect(cfg, "kash_test_key")
    state.spend, state.spend_cap = spend, 100 * U
    budget = state.request_budget(tier="developer", requests_per_min=None, share=0.9)
    try:
        other = RedisSpendLedger(spend.ledger.redis, "kash_test_key", rejoin_grace_s=0)
        await other.join()
        assert await other.reserve_within_cap("x", 12 * U, 100 * U, clock.now(), 30)
        await budget.acquire("GET /v1/markets", write=False)
        await state.beat(lambda: {"pid": 7, "requests_last_minute": 1})
        view = state.status()
        assert view["reachable"] is True and view["fleet_members"] == 1
        assert view["ledger_used_usdc"] == "12.00" and view["ledger_cap_usdc"] == "100.00"
        assert view["budget"]["burst"] > view["budget"]["tokens"] >= 0
        registry = CollectorRegistry(auto_describe=False)
        registry.register(state.collector())
        text = generate_latest(registry).decode()
        assert "kashbot_shared_spend_used_usdc 12.0" in text
        assert "kashbot_fleet_members 1.0" in text and "kashbot_shared_state_up 1.0" in text
        assert "kashbot_shared_state_failed_calls_total 0.0" in text
        members = await fleet_members(cfg, USER)
        report = fleet_report(USER, members)
        assert report["daemons"] == 1 and members[0]["pid"] == 7
        assert report["requests_last_minute"] == 1
    finally:
        await spend.close()
        await state.close()
    assert await fleet_members(cfg, USER) == []  # close() left the fleet


async def test_unreachable_redis_shows_in_the_view(redis_url: str, redis_prefix: str) -> None:
    cfg = SharedStateConfig.model_validate(
        {"backend": "redis", "url": "redis://127.0.0.1:1/0", "op_timeout_s": 0.3}
    )
    state = SharedState(cfg, USER, clock=WallClock())
    try:
        await state.beat(lambda: {})
        view = state.status()
        assert view["reachable"] is False and "redis" in view["error"]
        assert view["failed_calls"] == 1 and state.redis.outage.down
    finally:
        await state.close()


def test_status_screen_line() -> None:
    from rich.console import Console
    from rich.text import Text

    from kashbot.app.fleet import shared_line

    cfg = SharedStateConfig.model_validate({"backend": "redis", "url": "redis://127.0.0.1:1/0"})
    state = SharedState(cfg, USER, clock=WallClock())
    state._view = {
        "reachable": True,
        "ledger_used_usdc": "12.00",
        "ledger_cap_usdc": "100.00",
        "budget": {"tokens": 3.5, "burst": 14.0},
        "fleet_members": 2,
        "fleet_requests_last_minute": 40,
    }
    console = Console(width=200, record=True)
    console.print(shared_line(Text("view"), state, None))
    out = console.export_text()
    assert "ledger 12.00 of 100.00 USDC" in out and "fleet 2 daemon(s)" in out
    assert shared_line(Text("view"), None, None).plain == "view"  # type: ignore[union-attr]


async def test_close_retries_a_failed_leave(redis_url: str, redis_prefix: str) -> None:
    """One slow Redis reply at stop (a loaded host) must not leave the daemon listed until its
    TTL runs out: the leave is tried again."""
    from kashbot.shared.redis_client import SharedStateUnavailable

    cfg = SharedStateConfig.model_validate(
        {"backend": "redis", "url": redis_url, "prefix": redis_prefix, "member_ttl_s": 60}
    )
    state = SharedState(cfg, USER, clock=WallClock())
    await state.beat(lambda: {"pid": 7})
    assert len(await fleet_members(cfg, USER)) == 1
    real_leave, calls = state.fleet.leave, []

    async def slow_once(member: str) -> None:
        calls.append(member)
        if len(calls) == 1:
            raise SharedStateUnavailable("redis: fleet leave timed out")
        await real_leave(member)

    state.fleet.leave = slow_once  # type: ignore[method-assign]
    await state.close()
    assert calls == [state.member_id] * 2
    assert await fleet_members(cfg, USER) == []  # gone at once, not after 60 s
