"""Webhook signature verification exactly as Kash documents it (§9), plus a signer.

Header: ``X-Kash-Signature: t=<unix-ms>,v1=<hex>[,v1=<hex>...]``. The signed payload is
``f"{t}." + raw body``; the HMAC-SHA256 key is the full ``whsec_...`` secret string as UTF-8.
``t`` is milliseconds: a seconds value is ~1000x too small and therefore fails as stale.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from kashbot.client.webhook_event import WebhookEvent, WebhookTradeData, fast_event
from kashbot.wire import TIMESTAMP_DIGITS, ascii_int

SIGNATURE_HEADER = "X-Kash-Signature"
EVENT_ID_HEADER = "X-Kash-Event-Id"
DEFAULT_TOLERANCE_MS = 300_000
_HEX_LEN = 64

_DECODER = json.JSONDecoder(parse_float=Decimal)  # no binary-float rounding
# the header exactly as Kash (and our signer) writes it: one regex instead of the general split
_CANONICAL = re.compile(rf"t=([0-9]{{1,{TIMESTAMP_DIGITS}}}),v1=([0-9a-f]{{{_HEX_LEN}}})")
Reason = Literal["malformed", "stale", "mismatch"]
# Kash documents these four (§9). Anything else that is well signed is a type Kash added later:
# acknowledged and ignored, because a 4xx is final for Kash and the event would be lost for ever.
KNOWN_EVENT_TYPES = frozenset(
    {"trade.confirmation-required", "trade.completed", "trade.failed", "trade.rejected"}
)


class WebhookSignatureError(Exception):
    """Reject the delivery. ``reason`` is ``malformed``, ``stale`` or ``mismatch``."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason


class WebhookPayloadError(ValueError):
    """The signature was valid but the body is not a webhook event we understand."""


class WebhookUnknownEventType(Exception):
    """Authentic, but of a type not in :data:`KNOWN_EVENT_TYPES`: acknowledge, do not process."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown webhook event type {event_type[:64]!r}")
        self.event_type = event_type[:64]  # bounded: it ends up in logs and metric labels


@functools.lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    """The HMAC state after the key (copied per delivery: the key schedule is computed once)."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def _expected(secret: str, t: int, body: bytes) -> str:
    mac = _keyed(secret).copy()
    mac.update(b"%d." % t)
    mac.update(body)
    return mac.hexdigest()


def parse_header(signature_header: str | None) -> tuple[int, list[str]]:
    """``(t, [v1, ...])``; raises ``malformed`` for a missing header or a missing/bad ``t``."""
    if signature_header and (m := _CANONICAL.fullmatch(signature_header)):
        return int(m[1]), [m[2]]  # what the general parse answers for this shape
    return _parse_header_general(signature_header)


def _parse_header_general(signature_header: str | None) -> tuple[int, list[str]]:
    """Any spacing, order and number of entries (tests hold the fast path to this)."""
    if not signature_header or not signature_header.strip():
        raise WebhookSignatureError("malformed", "missing X-Kash-Signature header")
    t_value: str | None = None
    signatures: list[str] = []
    for part in signature_header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "t":
            t_value = value
        elif key == "v1":
            signatures.append(value)
    t = ascii_int(t_value, TIMESTAMP_DIGITS)
    if t is None:  # only ASCII digits of bounded length: int() refuses > 4,300 digits
        raise WebhookSignatureError("malformed", "missing or non-integer t")
    if not signatures:
        raise WebhookSignatureError("malformed", "no v1 signature")
    return t, signatures


def _check(
    secrets: Sequence[str],
    signature_header: str | None,
    body: bytes,
    now_ms: int | None,
    tolerance_ms: int,
) -> None:
    t, signatures = parse_header(signature_header)
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if abs(now - t) > tolerance_ms:
        raise WebhookSignatureError("stale", f"timestamp is {abs(now - t)} ms from now")
    matched = False
    for secret in secrets:
        expected = _expected(secret, t, body)
        for candidate in signatures:
            # Constant-time compare; entries of the wrong length are skipped, not errors.
            if len(candidate) == _HEX_LEN and hmac.compare_digest(
                candidate.encode(), expected.encode()
            ):
                matched = True
    if not matched:
        raise WebhookSignatureError("mismatch", "no v1 signature matches")


def verify(
    secret: str,
    signature_header: str,
    body: bytes,
    *,
    now_ms: int | None = None,
    tolerance_ms: int = DEFAULT_TOLERANCE_MS,
) -> None:
    """Return if the delivery is authentic and fresh; raise :class:`WebhookSignatureError`."""
    _check([secret], signature_header, body, now_ms, tolerance_ms)


def verify_any(
    secrets: Sequence[str],
    signature_header: str,
    body: bytes,
    *,
    now_ms: int | None = None,
    tolerance_ms: int = DEFAULT_TOLERANCE_MS,
) -> None:
    """Accept a signature by any of ``secrets`` (current + previous during the 7-day rotation)."""
    usable = [s for s in secrets if s]
    if not usable:
        raise ValueError("verify_any needs at least one non-empty secret")
    _check(usable, signature_header, body, now_ms, tolerance_ms)


def sign(secret: str, body: bytes, t_ms: int) -> str:
    """Build the header Kash would send (used by the simulator and tests)."""
    return f"t={t_ms},v1={_expected(secret, t_ms, body)}"


# the full validation, into the dataclasses themselves: the reference the fast path agrees with
_EVENT: TypeAdapter[WebhookEvent] = TypeAdapter(WebhookEvent)


def validate_event(payload: Any) -> WebhookEvent:
    """The decoded JSON of a delivery as an event; ValueError (pydantic's) if it is not one.

    The shapes Kash sends (camelCase keys, strings where it documents strings, an integer
    outcome index, digit-string WADs) are checked by hand (:mod:`kashbot.client.webhook_event`);
    anything else goes through pydantic (into the same dataclasses), whose answer is final. A
    property test holds the two to the same result wherever the fast path answers.
    """
    event = fast_event(payload)
    return event if event is not None else _EVENT.validate_python(payload)


def construct_event(
    secrets: str | Sequence[str],
    signature_header: str,
    body: bytes,
    *,
    now_ms: int | None = None,
    tolerance_ms: int = DEFAULT_TOLERANCE_MS,
) -> WebhookEvent:
    """Verify, then parse the raw body into a typed event (never re-serialise before verifying).

    Raises :class:`WebhookUnknownEventType` for an authentic event of a type Kash added after
    :data:`KNOWN_EVENT_TYPES` (a JSON object whose ``type`` is some other string).
    """
    verify_any(
        (secrets,) if isinstance(secrets, str) else secrets,
        signature_header,
        body,
        now_ms=now_ms,
        tolerance_ms=tolerance_ms,
    )
    ascii_body = body.isascii()
    try:
        # json.loads(body, parse_float=Decimal) without building a decoder per call; an ASCII
        # body without NULs is UTF-8 to json.detect_encoding (UTF-16/32 JSON holds NULs)
        text = (
            body.decode("ascii")
            if ascii_body and b"\x00" not in body
            else body.decode(json.detect_encoding(body), "surrogatepass")
        )
        payload: Any = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise WebhookPayloadError(f"webhook body is not valid JSON: {exc}") from None
    if (b"\\u" in body or not ascii_body) and _lone_surrogate(payload):
        # "\ud800" parses to a str that is not UTF-8: SQLite (the dedupe, the store) cannot
        # take it, so it is refused here like any other malformed body (400, not retried)
        raise WebhookPayloadError("webhook body holds a lone UTF-16 surrogate")
    kind = payload.get("type") if isinstance(payload, dict) else None
    if isinstance(kind, str) and kind not in KNOWN_EVENT_TYPES:
        raise WebhookUnknownEventType(kind)
    try:
        return validate_event(payload)
    except (ValueError, ValidationError) as exc:
        raise WebhookPayloadError(f"webhook body is not a valid event: {exc}") from None


def _lone_surrogate(value: Any) -> bool:
    """True if a string anywhere in ``value`` (keys too) cannot be encoded as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(v) for v in value)
    return False


__all__ = [
    "EVENT_ID_HEADER",
    "KNOWN_EVENT_TYPES",
    "SIGNATURE_HEADER",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "WebhookTradeData",
    "WebhookUnknownEventType",
    "construct_event",
    "parse_header",
    "sign",
    "validate_event",
    "verify",
    "verify_any",
]
