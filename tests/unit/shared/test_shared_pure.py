"""The Redis-free parts of kashbot.shared: key names, sizing, settings, the fail-closed rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from kashbot.app.fleet import open_redis
from kashbot.client.request_budget import UserBudget
from kashbot.obs.logging import mask_text
from kashbot.shared.redis_budget import BucketSpec, RedisUserBudget
from kashbot.shared.redis_client import Outage, SharedRedis, connect, scope_id
from kashbot.shared.redis_ledger import RedisSpendLedger
from kashbot.shared.settings import SharedStateConfig, allow_while_unavailable

SECRET = "kash_live_supersecret"


def _redis(prefix: str = "kb") -> SharedRedis:
    return SharedRedis(connect("redis://127.0.0.1:1/0"), prefix=prefix)  # never dialled here


def test_scope_ids_are_stable_opaque_and_distinct() -> None:
    assert scope_id(SECRET) == scope_id(SECRET)
    assert scope_id(SECRET) != scope_id(SECRET + "x")
    assert SECRET not in scope_id(SECRET) and len(scope_id(SECRET)) == 20


def test_key_names_carry_prefix_and_hash_tag_never_the_key() -> None:
    led = RedisSpendLedger(_redis("acme"), SECRET)
    assert all(k.startswith(f"acme:ledger:{{{scope_id(SECRET)}}}:") for k in led._keys)
    assert not any(SECRET in k for k in led._keys)
    with pytest.raises(ValueError):
        SharedRedis(connect("redis://127.0.0.1:1/0"), prefix="a{b}")


@pytest.mark.parametrize("limit,share", [(60, 0.95), (300, 0.95), (10, 0.5), (600, 0.9)])
def test_bucket_sizing_matches_user_budget(limit: int, share: float) -> None:
    local = UserBudget(limit, share=share)
    shared = RedisUserBudget(_redis(), "u", limit, share=share)
    assert shared._main == BucketSpec.of(limit, share, 60.0)
    assert (shared._main.burst, shared._main.rate_per_s) == (
        local._main.burst,
        local._main.rate_per_s,
    )
    assert shared.read_reserve == local.read_reserve


def test_budget_rejects_what_user_budget_rejects() -> None:
    for kwargs in ({"share": 0.99}, {"time_scale": 0.0}, {"read_reserve": -1}):
        with pytest.raises(ValueError):
            RedisUserBudget(_redis(), "u", 60, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RedisUserBudget(_redis(), "u", 2)


@pytest.mark.parametrize("amount", [-1, 2**52 + 1, 1.5, True])
async def test_ledger_rejects_non_atomic_amounts_before_any_io(amount: object) -> None:
    led = RedisSpendLedger(_redis(), SECRET)
    with pytest.raises(ValueError):
        await led.reserve_within_cap("a", amount, 100, 0.0)  # type: ignore[arg-type]


def test_settings_reject_unknown_keys_and_hide_the_url() -> None:
    cfg = SharedStateConfig(url="redis://:pw@127.0.0.1:6379/0")  # type: ignore[arg-type]
    assert "pw" not in repr(cfg)
    with pytest.raises(ValidationError):
        SharedStateConfig(url="redis://x", leas_s=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        SharedStateConfig(url="redis://x", lease_s=3, renew_every_s=3)  # type: ignore[arg-type]


def test_fail_closed_buys_never_sells_by_config() -> None:
    closed = SharedStateConfig(url="redis://x")  # type: ignore[arg-type]
    open_sells = SharedStateConfig(
        url="redis://x",  # type: ignore[arg-type]
        sells_when_unavailable=True,
        budget_fallback_share=0.2,
    )
    assert not allow_while_unavailable(draws_cap=True, cfg=open_sells)
    assert not allow_while_unavailable(draws_cap=False, cfg=closed)
    assert allow_while_unavailable(draws_cap=False, cfg=open_sells)


def test_the_redis_url_and_its_password_are_masked_once_opened() -> None:
    url = "redis://kb:s3cret%2Fpw-77@127.0.0.1:1/0"  # percent-encoded '/' in the password
    line = f"redis ledger reserve: ConnectionError to {url} (AUTH s3cret/pw-77 s3cret%2Fpw-77)"
    cfg = SharedStateConfig.model_validate({"backend": "redis", "url": url})
    assert cfg.secrets() == [url, "s3cret%2Fpw-77", "s3cret/pw-77"]
    open_redis(cfg)  # the daemon's and status --all's door; never dialled here
    masked = mask_text(line)
    assert "s3cret" not in masked and url not in masked
    assert masked.count("***") == 3 and masked.endswith("(AUTH *** ***)")


def test_an_outage_is_two_lines_and_a_count() -> None:
    outage = Outage("budget")
    with capture_logs() as logs:
        for i in range(50):  # every retry of every waiting caller
            outage.failed("budget take", f"refused {i}")
        assert outage.down
        outage.succeeded()
        outage.succeeded()
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("shared_state_down", "warning"),
        ("shared_state_up", "info"),
    ]
    assert logs[0]["error"] == "refused 0" and logs[1]["failed_calls"] == 50
    assert (outage.outages, outage.failed_calls, outage.down) == (1, 50, False)
