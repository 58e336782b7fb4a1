"""Wire contract of today's Kash (kash-today.md): Solana markets, lifecycle fields, deprecation
headers, pin errors naming the pin, redemption errors and the persisted Idempotency-Key."""

from __future__ import annotations

import pytest
from kash_fake_server import MARKET_ID, FakeKash, Reply, market_json, meta, one, problem

from kashbot.client import KashClient
from kashbot.client import errors as E
from kashbot.client.deprecation import notice_from_headers, sunset_link
from kashbot.client.pin_checks import pin_halt_reason
from kashbot.sources.convert import market_snapshot

SOLANA = {
    "chainRef": "solana:mainnet-beta",
    "contractAddress": "4PuVtUZxh7CQ1bZ9jYp6p4yq2m8k1RqGZ86rRQ",
    "freezeAt": "2026-11-01T11:55:00.000Z",
    "expiresAt": "2026-11-01T12:00:00.000Z",
    "resolutionState": "resolved",
    "resolution": {
        "proposedOutcomeIndex": 1,
        "proposedAt": "2026-11-01T12:05:00.000Z",
        "finalizableAt": None,
        "settlementStatus": "finalized",
        "disputeOpen": False,
    },
    "protocolFeeBps": 80,
    "sellFeeBps": 150,
}


async def test_a_solana_market_parses_and_becomes_a_lifecycle_snapshot(
    scripted_server: FakeKash, scripted_kash: KashClient
) -> None:
    body = {k: v for k, v in market_json().items() if k != "chainId"} | SOLANA
    scripted_server.always("GET", f"/v1/markets/{MARKET_ID}", Reply(json=one("market", body)))
    market = await scripted_kash.get_market(MARKET_ID)
    assert market.chain_id is None and market.chain == "solana:mainnet-beta"
    assert market.resolution is not None and market.resolution.proposed_outcome_index == 1
    snap = market_snapshot(market, 1.0)
    assert snap.resolution_state == "resolved" and snap.winning_outcomes == (1,)
    assert snap.chain_ref == "solana:mainnet-beta" and snap.expires_at is not None
    assert (snap.protocol_fee_bps, snap.sell_fee_bps) == (80, 150)


async def test_unknown_chains_and_evm_ids_parse(
    scripted_server: FakeKash, scripted_kash: KashClient
) -> None:
    body = market_json() | {"chainRef": "cosmos:whatever-9"}
    scripted_server.always("GET", f"/v1/markets/{MARKET_ID}", Reply(json=one("market", body)))
    assert (await scripted_kash.get_market(MARKET_ID)).chain == "cosmos:whatever-9"


def test_deprecation_headers_become_one_notice() -> None:
    headers = {
        "Deprecation": "@1798761600",
        "Sunset": "Sun, 29 Apr 2027 00:00:00 GMT",
        "Link": '<https://docs.kash.bot/x>; rel="deprecation", <https://docs.kash.bot/s>; '
        'rel="sunset"',
        "X-API-Version": "2026-08-19",
    }
    notice = notice_from_headers(headers, pinned="2026-04-29", route="GET /v1/markets")
    assert notice is not None and notice.link == "https://docs.kash.bot/s"
    text = notice.message()
    assert "2026-04-29" in text and "Sun, 29 Apr 2027" in text and "2026-08-19" in text
    assert notice_from_headers({"X-API-Version": "x"}, pinned=None, route="r") is None
    assert sunset_link('<a>; rel="next"') is None


async def test_the_client_keeps_the_first_notice_and_counts_them(
    scripted_server: FakeKash, scripted_kash: KashClient, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.always(
        "GET", "/v1/health", Reply(json={}, headers={"Sunset": "Sun, 29 Apr 2027 00:00:00 GMT"})
    )
    await scripted_kash.health()
    await scripted_kash.health()
    assert scripted_kash.deprecation is not None and scripted_kash.deprecation_notices == 2
    assert len([r for r in caplog.records if "deprecated" in r.getMessage()]) == 1


async def test_a_chain_refusal_names_the_pin(
    scripted_server: FakeKash, scripted_kash: KashClient
) -> None:
    scripted_server.always(
        "GET",
        f"/v1/markets/{MARKET_ID}",
        problem(400, "CHAIN_NOT_SUPPORTED"),
    )
    with pytest.raises(E.ChainNotSupported) as err:
        await scripted_kash.get_market(MARKET_ID)
    assert err.value.api_version == scripted_kash.api_version
    reason = pin_halt_reason(err.value)
    assert reason is not None and str(scripted_kash.api_version) in reason


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("POSITION_NOT_CLAIMABLE", 409, E.PositionNotClaimable),
        ("REDEMPTIONS_NOT_ENABLED", 404, E.RedemptionsNotEnabled),
    ],
)
async def test_redemption_errors_are_typed_and_the_key_is_ours(
    scripted_server: FakeKash,
    scripted_kash: KashClient,
    code: str,
    status: int,
    cls: type[E.KashError],
) -> None:
    scripted_server.always("POST", "/v1/redemptions", problem(status, code))
    with pytest.raises(cls):
        await scripted_kash.create_redemption(MARKET_ID, 0, idempotency_key="kb-redeem:x:0")
    assert scripted_server.requests[-1].headers["Idempotency-Key"] == "kb-redeem:x:0"


async def test_a_replayed_redemption_is_marked_idempotent(
    scripted_server: FakeKash, scripted_kash: KashClient
) -> None:
    item = {
        "id": "6f1d3b0e-0000-4000-8000-000000000001",
        "marketId": MARKET_ID,
        "outcomeIndex": 1,
        "kind": "resolved",
        "sharesWad": "1000",
        "status": "pending",
    }
    scripted_server.always(
        "POST",
        "/v1/redemptions",
        Reply(200, json={"redemption": item, "_meta": meta(idempotent=True)}),
    )
    got = await scripted_kash.create_redemption(MARKET_ID, 1)
    assert got.idempotent and got.status == "pending"
