"""The receiver's one-regex parse of ``X-Kash-Signature`` (the shape Kash writes) answers exactly
what the general parse answers, and a body is decoded as ``json.loads`` would whatever its
encoding (the ASCII shortcut is taken only where ``json.detect_encoding`` says UTF-8)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot.client.webhooks import (
    WebhookPayloadError,
    WebhookSignatureError,
    _parse_header_general,
    construct_event,
    parse_header,
    sign,
)

SECRET = "whsec_header_fast_secret"
NOW_MS = 1_767_225_600_000
HEX = "0123456789abcdefABCDEF"
T = st.one_of(
    st.integers(min_value=0, max_value=10**17).map(str),
    st.text("0123456789", min_size=0, max_size=18),
    st.text("0123456789-+ x٣", min_size=0, max_size=6),
)
V1 = st.one_of(
    st.text(HEX, min_size=64, max_size=64),
    st.text(HEX, min_size=0, max_size=66),
    st.text(HEX + "g ,=", min_size=60, max_size=66),
)
SEP = st.sampled_from([",", ", ", " ,", ",,", ";"])


@st.composite
def headers(draw: st.DrawFn) -> str:
    parts = [f"t={draw(T)}", f"v1={draw(V1)}"]
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from([f"v1={draw(V1)}", f"v0={draw(V1)}", "t=1", "x"])))
    if draw(st.booleans()):
        parts.reverse()
    head = draw(SEP).join(parts)
    return draw(st.sampled_from(["", " ", "\t"])) + head + draw(st.sampled_from(["", " "]))


def _outcome(parse: object, header: str) -> object:
    try:
        return parse(header)  # type: ignore[operator]
    except WebhookSignatureError as exc:
        return ("raised", exc.reason, str(exc))


@settings(max_examples=400, deadline=None)
@given(headers())
def test_fast_header_parse_answers_as_the_general_one(header: str) -> None:
    assert _outcome(parse_header, header) == _outcome(_parse_header_general, header)


def test_the_signers_header_takes_the_fast_path() -> None:
    header = sign(SECRET, b"{}", NOW_MS)
    assert parse_header(header) == (NOW_MS, [header.split("v1=")[1]])


EVENT = {
    "id": "evt_é",
    "type": "trade.completed",
    "data": {
        "tradeId": "t-1",
        "marketId": "m-1",
        "outcomeIndex": 0,
        "amount": "1.5",
        "side": "buy",
        "status": "completed",
    },
}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32"])
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_body_in_any_json_encoding_parses_as_json_loads(encoding: str, ensure_ascii: bool) -> None:
    body = json.dumps(EVENT, ensure_ascii=ensure_ascii).encode(encoding)
    ev = construct_event(SECRET, sign(SECRET, body, NOW_MS), body, now_ms=NOW_MS)
    want = json.loads(body, parse_float=Decimal)
    assert (ev.id, ev.data.amount) == (want["id"], Decimal(want["data"]["amount"]))


def test_ascii_body_with_a_nul_is_still_refused_as_json() -> None:
    body = json.dumps(EVENT).encode()[:-1] + b"\x00}"
    with pytest.raises(WebhookPayloadError):
        construct_event(SECRET, sign(SECRET, body, NOW_MS), body, now_ms=NOW_MS)
