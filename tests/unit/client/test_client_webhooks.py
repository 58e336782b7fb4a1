"""Webhook verification (§9) against vectors computed here by hand with hmac/hashlib."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal

import pytest

from kashbot.client.webhooks import (
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookUnknownEventType,
    construct_event,
    parse_header,
    sign,
    verify,
    verify_any,
)

SECRET = "whsec_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo"
OLD_SECRET = "whsec_b2xkLXNlY3JldC1zdGlsbC12YWxpZC1mb3ItN2Q"
NOW_MS = 1_780_000_000_000
BODY = json.dumps(
    {
        "id": "evt_0123456789abcdef0123456789abcdef",
        "type": "trade.completed",
        "apiVersion": "2026-04-29",
        "createdAt": "2026-05-28T20:26:40.000Z",
        "data": {
            "tradeId": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
            "marketId": "3f2b8c1e-6a4d-4e8b-9c2f-1a2b3c4d5e6f",
            "outcomeIndex": 1,
            "amount": "25.000001",
            "side": "buy",
            "status": "completed",
            "metadata": {"strategy": "mm"},
            "txHash": "0x" + "ab" * 32,
            "tokensOut": "61234567890123456789",
        },
    },
    separators=(",", ":"),
).encode()


def hand_sig(secret: str, t: int, body: bytes) -> str:
    """§9 step 4-5, written out independently of the module under test."""
    return hmac.new(
        secret.encode("utf-8"), str(t).encode() + b"." + body, hashlib.sha256
    ).hexdigest()


def reason(exc: pytest.ExceptionInfo[WebhookSignatureError]) -> str:
    return exc.value.reason


def test_single_v1() -> None:
    header = f"t={NOW_MS},v1={hand_sig(SECRET, NOW_MS, BODY)}"
    verify(SECRET, header, BODY, now_ms=NOW_MS)


def test_known_answer_vector() -> None:
    """A fixed vector so a change in the signing recipe cannot go unnoticed."""
    sig = hand_sig("whsec_test", 1_700_000_000_000, b'{"id":"evt_1"}')
    assert (
        sig == hmac.new(b"whsec_test", b'1700000000000.{"id":"evt_1"}', hashlib.sha256).hexdigest()
    )
    verify("whsec_test", f"t=1700000000000,v1={sig}", b'{"id":"evt_1"}', now_ms=1_700_000_000_000)


def test_two_v1_one_matches() -> None:
    good = hand_sig(SECRET, NOW_MS, BODY)
    other = hand_sig(OLD_SECRET, NOW_MS, BODY)
    verify(SECRET, f"t={NOW_MS},v1={other},v1={good}", BODY, now_ms=NOW_MS)
    verify(SECRET, f"t={NOW_MS},v1={good},v1={other}", BODY, now_ms=NOW_MS)


def test_two_v1_none_matches() -> None:
    bad1 = hand_sig("whsec_x", NOW_MS, BODY)
    bad2 = hand_sig("whsec_y", NOW_MS, BODY)
    with pytest.raises(WebhookSignatureError) as exc:
        verify(SECRET, f"t={NOW_MS},v1={bad1},v1={bad2}", BODY, now_ms=NOW_MS)
    assert reason(exc) == "mismatch"


@pytest.mark.parametrize("skew_ms", [300_001, -300_001, 3_600_000])
def test_stale_timestamp(skew_ms: int) -> None:
    t = NOW_MS - skew_ms
    with pytest.raises(WebhookSignatureError) as exc:
        verify(SECRET, f"t={t},v1={hand_sig(SECRET, t, BODY)}", BODY, now_ms=NOW_MS)
    assert reason(exc) == "stale"


def test_tolerance_boundary_is_inclusive() -> None:
    t = NOW_MS - 300_000
    verify(SECRET, f"t={t},v1={hand_sig(SECRET, t, BODY)}", BODY, now_ms=NOW_MS)
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, f"t={t},v1={hand_sig(SECRET, t, BODY)}", BODY, now_ms=NOW_MS, tolerance_ms=1)


def test_t_in_seconds_fails_as_stale() -> None:
    t_s = NOW_MS // 1000
    header = f"t={t_s},v1={hand_sig(SECRET, t_s, BODY)}"  # correctly signed, but seconds
    with pytest.raises(WebhookSignatureError) as exc:
        verify(SECRET, header, BODY, now_ms=NOW_MS)
    assert reason(exc) == "stale"


def test_body_altered_by_one_byte() -> None:
    header = f"t={NOW_MS},v1={hand_sig(SECRET, NOW_MS, BODY)}"
    altered = bytearray(BODY)
    altered[len(altered) // 2] ^= 0x01
    with pytest.raises(WebhookSignatureError) as exc:
        verify(SECRET, header, bytes(altered), now_ms=NOW_MS)
    assert reason(exc) == "mismatch"
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, header, BODY + b" ", now_ms=NOW_MS)


@pytest.mark.parametrize("header", ["", "   "])
def test_missing_header(header: str) -> None:
    with pytest.raises(WebhookSignatureError) as exc:
        verify(SECRET, header, BODY, now_ms=NOW_MS)
    assert reason(exc) == "malformed"


def test_none_header_is_malformed() -> None:
    with pytest.raises(WebhookSignatureError) as exc:
        verify(SECRET, None, BODY, now_ms=NOW_MS)  # type: ignore[arg-type]
    assert reason(exc) == "malformed"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "v1=" + "a" * 64,  # no t
        f"t=,v1={'a' * 64}",
        f"t=abc,v1={'a' * 64}",
        f"t=1.5e12,v1={'a' * 64}",
        f"t=-{NOW_MS},v1={'a' * 64}",
        f"t={NOW_MS}",  # no v1
        f"t={NOW_MS},v0={'a' * 64}",
    ],
)
def test_malformed_header(header: str) -> None:
    with pytest.raises(WebhookSignatureError) as exc:
        verify(SECRET, header, BODY, now_ms=NOW_MS)
    assert reason(exc) == "malformed"


def test_whitespace_around_parts() -> None:
    sig = hand_sig(SECRET, NOW_MS, BODY)
    verify(SECRET, f"  t = {NOW_MS} ,  v1 = {sig}  ", BODY, now_ms=NOW_MS)
    verify(SECRET, f"t={NOW_MS}, v1={'0' * 64}, v1={sig}", BODY, now_ms=NOW_MS)


def test_unknown_keys_are_ignored() -> None:
    sig = hand_sig(SECRET, NOW_MS, BODY)
    verify(SECRET, f"t={NOW_MS},v0=deadbeef,v1={sig},x=y", BODY, now_ms=NOW_MS)


def test_wrong_length_v1_is_skipped() -> None:
    sig = hand_sig(SECRET, NOW_MS, BODY)
    verify(SECRET, f"t={NOW_MS},v1={sig[:-1]},v1=,v1={sig}", BODY, now_ms=NOW_MS)
    with pytest.raises(WebhookSignatureError) as exc:
        verify(SECRET, f"t={NOW_MS},v1={sig[:-1]},v1={sig}00", BODY, now_ms=NOW_MS)
    assert reason(exc) == "mismatch"


def test_uppercase_hex_is_not_the_documented_format() -> None:
    sig = hand_sig(SECRET, NOW_MS, BODY)
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, f"t={NOW_MS},v1={sig.upper()}", BODY, now_ms=NOW_MS)


def test_secret_is_used_as_is_not_base64_decoded() -> None:
    import base64

    decoded = base64.urlsafe_b64decode(SECRET.removeprefix("whsec_") + "==")
    wrong = hmac.new(decoded, f"{NOW_MS}.".encode() + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, f"t={NOW_MS},v1={wrong}", BODY, now_ms=NOW_MS)


def test_verify_any_accepts_previous_secret() -> None:
    header = f"t={NOW_MS},v1={hand_sig(OLD_SECRET, NOW_MS, BODY)}"
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, header, BODY, now_ms=NOW_MS)
    verify_any([SECRET, OLD_SECRET], header, BODY, now_ms=NOW_MS)
    with pytest.raises(WebhookSignatureError):
        verify_any([SECRET, "whsec_unrelated"], header, BODY, now_ms=NOW_MS)
    with pytest.raises(ValueError):
        verify_any([], header, BODY, now_ms=NOW_MS)


def test_sign_matches_hand_computation() -> None:
    assert sign(SECRET, BODY, NOW_MS) == f"t={NOW_MS},v1={hand_sig(SECRET, NOW_MS, BODY)}"


def test_construct_event_typed() -> None:
    header = f"t={NOW_MS},v1={hand_sig(OLD_SECRET, NOW_MS, BODY)}"
    event = construct_event([SECRET, OLD_SECRET], header, BODY, now_ms=NOW_MS)
    assert event.id == "evt_0123456789abcdef0123456789abcdef"
    assert event.type == "trade.completed" and event.api_version == "2026-04-29"
    assert str(event.data.amount) == "25.000001"
    assert event.data.tokens_out == 61_234_567_890_123_456_789
    assert event.data.metadata == {"strategy": "mm"}


def _sell_body(**extra: object) -> bytes:
    event = json.loads(BODY)
    event["data"].update(side="sell", tokensOut=None, **extra)
    return json.dumps(event).encode()


def test_construct_event_sell_tokens_in() -> None:
    """The simulator's ``tokensIn`` on a completed sell is kept (WAD, parsed strictly)."""
    body = _sell_body(tokensIn="4000000000000000000")
    event = construct_event(SECRET, sign(SECRET, body, NOW_MS), body, now_ms=NOW_MS)
    assert event.data.tokens_in == 4 * 10**18 and event.data.tokens_out is None
    body = _sell_body()  # Kash's own events carry no tokensIn
    event = construct_event(SECRET, sign(SECRET, body, NOW_MS), body, now_ms=NOW_MS)
    assert event.data.tokens_in is None
    body = _sell_body(tokensIn="4.5")
    with pytest.raises(WebhookPayloadError):
        construct_event(SECRET, sign(SECRET, body, NOW_MS), body, now_ms=NOW_MS)


def test_construct_event_uuid_id_and_confirmation_required() -> None:
    body = json.dumps(
        {
            "id": "0b9f3c1a-1111-4222-8333-444455556666",
            "type": "trade.confirmation-required",
            "apiVersion": "2026-04-29",
            "createdAt": "2026-05-28T20:26:40Z",
            "data": {
                "tradeId": "t",
                "marketId": "m",
                "outcomeIndex": 0,
                "amount": "30000",
                "side": "buy",
                "status": "pending_confirmation",
                "metadata": {},
                "confirmationExpiresAt": "2026-05-28T20:27:40Z",
                "newField": 1,
            },
        }
    ).encode()
    event = construct_event(SECRET, sign(SECRET, body, NOW_MS), body, now_ms=NOW_MS)
    assert event.data.confirmation_expires_at is not None


def test_construct_event_rejects_bad_signature_before_parsing() -> None:
    with pytest.raises(WebhookSignatureError):
        construct_event(SECRET, f"t={NOW_MS},v1={'0' * 64}", b"not json", now_ms=NOW_MS)


def test_construct_event_bad_payload() -> None:
    body = b'{"id": "x"}'
    with pytest.raises(WebhookPayloadError):
        construct_event(SECRET, sign(SECRET, body, NOW_MS), body, now_ms=NOW_MS)


def test_construct_event_reads_json_numbers_as_exact_decimals() -> None:
    """A JSON number never passes through a binary float: 17 significant digits stay exact."""
    raw = BODY.replace(b'"amount":"25.000001"', b'"amount":98765432101.123456')
    assert raw != BODY and float("98765432101.123456") != Decimal("98765432101.123456")
    event = construct_event(SECRET, sign(SECRET, raw, NOW_MS), raw, now_ms=NOW_MS)
    assert event.data.amount == Decimal("98765432101.123456")


# ---- issue 13: hostile headers and unknown event types


@pytest.mark.parametrize("t", ["9" * 5000, "1" * 4301, "²", "٣", "１７６７", "1_000", "-5", ""])
def test_hostile_t_is_malformed_not_a_value_error(t: str) -> None:
    """Was: 5,000 digits passed ``isdigit`` and ``int()`` raised ValueError (a 500)."""
    header = f"t={t},v1={'a' * 64}"
    with pytest.raises(WebhookSignatureError) as info:
        parse_header(header)
    assert info.value.reason == "malformed"
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, header, BODY, now_ms=NOW_MS)


def test_unknown_event_type_is_reported_only_after_the_signature() -> None:
    raw = json.dumps({"id": "evt_new", "type": "market.resolved", "data": {"x": 1}}).encode()
    with pytest.raises(WebhookUnknownEventType) as info:
        construct_event(SECRET, sign(SECRET, raw, NOW_MS), raw, now_ms=NOW_MS)
    assert info.value.event_type == "market.resolved"
    with pytest.raises(WebhookSignatureError):  # forged: a signature error, not "unknown"
        construct_event(SECRET, f"t={NOW_MS},v1={'0' * 64}", raw, now_ms=NOW_MS)
    long_type = json.dumps({"id": "e", "type": "x" * 500, "data": {}}).encode()
    with pytest.raises(WebhookUnknownEventType) as info:
        construct_event(SECRET, sign(SECRET, long_type, NOW_MS), long_type, now_ms=NOW_MS)
    assert len(info.value.event_type) == 64  # bounded: it becomes a log field and a label


def test_deeply_nested_signed_body_is_a_payload_error() -> None:
    raw = b"[" * 100_000
    with pytest.raises(WebhookPayloadError):
        construct_event(SECRET, sign(SECRET, raw, NOW_MS), raw, now_ms=NOW_MS)


@pytest.mark.parametrize("raw_id", ['"evt_\\ud800"', '"evt_\\udfff"'])
def test_a_lone_surrogate_is_a_malformed_body(raw_id: str) -> None:
    """SQLite (the dedupe and the store) cannot take such a string: refused with a 400 like any
    malformed body, never journalled."""
    body = BODY.replace(b'"evt_0123456789abcdef0123456789abcdef"', raw_id.encode())
    assert body != BODY
    header = sign(SECRET, body, NOW_MS)
    with pytest.raises(WebhookPayloadError, match="surrogate"):
        construct_event(SECRET, header, body, now_ms=NOW_MS)


def test_an_escaped_surrogate_pair_is_fine() -> None:
    body = BODY.replace(b'"mm"', b'"mm \\ud83d\\ude00"')
    header = sign(SECRET, body, NOW_MS)
    event = construct_event(SECRET, header, body, now_ms=NOW_MS)
    assert event.data.metadata == {"strategy": "mm \U0001f600"}
