"""API key and base-URL resolution (§2, §3), with the key kept out of every repr and message.

Resolution order matches the official SDK: explicit argument → environment (``KASH_API_KEY``,
``KASH_BASE_URL``) → base URL inferred from the key prefix → production.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

API_KEY_RE = re.compile(r"^kash_(live|test)_[A-Za-z0-9]{32}$")
PRODUCTION_BASE_URL = "https://api.kash.bot/v1"
STAGING_BASE_URL = "https://api-staging.kash.bot/v1"
ENV_API_KEY = "KASH_API_KEY"
ENV_BASE_URL = "KASH_BASE_URL"
DEFAULT_API_VERSION = "2026-08-19"  # lists and serves Solana markets (kash-today §3)


class KashConfigError(ValueError):
    """Bad client configuration. Messages name the setting, never its secret value."""


class ApiKey:
    """The API key plaintext, hidden from ``repr``/``str``/logs; ``reveal()`` for the header."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def environment(self) -> str:
        """``live`` or ``test`` (from the validated prefix)."""
        return "live" if self._value.startswith("kash_live_") else "test"

    def __repr__(self) -> str:
        return f"ApiKey(kash_{self.environment}_***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def check_api_key(value: str, *, source: str = "api_key") -> ApiKey:
    """Validate the documented key format locally; the error describes, never echoes, the key."""
    if API_KEY_RE.match(value):
        return ApiKey(value)
    hints: list[str] = [f"{len(value)} characters"]
    if value != value.strip():
        hints.append("leading/trailing whitespace")
    if not value.strip().startswith(("kash_live_", "kash_test_")):
        hints.append("prefix is not kash_live_ or kash_test_")
    raise KashConfigError(
        f"{source} is malformed: expected kash_live_ or kash_test_ followed by 32 letters/digits "
        f"({', '.join(hints)})"
    )


def _normalise_base_url(url: str, source: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise KashConfigError(f"{source} must be an http(s) URL like https://api.kash.bot/v1")
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"  # a bare host means the v1 API root
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True, slots=True)
class ClientSettings:
    api_key: ApiKey
    base_url: str


def resolve_settings(
    api_key: str | None,
    base_url: str | None,
    env: Mapping[str, str] | None = None,
) -> ClientSettings:
    environ = os.environ if env is None else env
    key_source = "api_key"
    if api_key is None:
        api_key = environ.get(ENV_API_KEY)
        key_source = ENV_API_KEY
    if not api_key:
        raise KashConfigError(f"no API key: pass api_key=... or set {ENV_API_KEY}")
    key = check_api_key(api_key, source=key_source)

    if base_url is not None:
        url = _normalise_base_url(base_url, "base_url")
    elif environ.get(ENV_BASE_URL):
        url = _normalise_base_url(environ[ENV_BASE_URL], ENV_BASE_URL)
    elif key.environment == "test":
        url = STAGING_BASE_URL
    else:
        url = PRODUCTION_BASE_URL
    return ClientSettings(api_key=key, base_url=url)
