"""Optional request signing for write routes (§3): ``X-Kash-Signature: t=<ms>,v1=<hex>``.

The HMAC key is the API key plaintext (not the webhook secret); the message is
``"{t}.{METHOD}.{path}.{raw body}"`` where ``path`` is the URL path including ``/v1`` and no query.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Kash-Signature"


def request_signature(api_key: str, method: str, path: str, body: bytes, t_ms: int) -> str:
    """The lowercase hex HMAC-SHA256 over the canonical request string."""
    canonical = f"{t_ms}.{method.upper()}.{path}.".encode() + body
    return hmac.new(api_key.encode(), canonical, hashlib.sha256).hexdigest()


def signature_header(api_key: str, method: str, path: str, body: bytes, t_ms: int) -> str:
    return f"t={t_ms},v1={request_signature(api_key, method, path, body, t_ms)}"
