"""Webhook signing exactly as §9, and the pure retry-schedule rules of the outbox.

Signature: ``X-Kash-Signature: t=<unix ms>,v1=<hex>[,v1=<hex>]`` where
``hex = HMAC_SHA256(key=<full "whsec_..." string, UTF-8>, msg=f"{t}.{raw_body}")``.
During a secret rotation both the new and the previous secret sign (two ``v1`` entries).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

USER_AGENT = "KashDAO-Webhook-Delivery/1.0"


def signature(secret: str, body: bytes, t_ms: int) -> str:
    msg = str(t_ms).encode() + b"." + body
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], body: bytes, t_ms: int) -> str:
    parts = [f"t={t_ms}"] + [f"v1={signature(s, body, t_ms)}" for s in secrets]
    return ",".join(parts)


def outcome_of(status: int | None) -> str:
    """Classify one attempt: ``delivered``, ``retry`` or ``terminal`` (§9 table)."""
    if status is None:
        return "retry"  # timeout / TCP / DNS error
    if 200 <= status < 300:
        return "delivered"
    if 400 <= status < 500 and status not in (408, 429):
        return "terminal"
    return "retry"  # 3xx, 408, 429, 5xx


def failure_code(status: int | None, timed_out: bool) -> str:
    if status is None:
        return "timeout" if timed_out else "connection_error"
    if 400 <= status < 500:
        return "terminal_client_error" if outcome_of(status) == "terminal" else "http_4xx"
    if status >= 500:
        return "http_5xx"
    return "http_3xx"
