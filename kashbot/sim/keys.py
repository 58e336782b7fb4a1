"""API keys: authentication (§3), scopes, request limits (§4) and the request log."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from kashbot.money import usdc_to_atomic
from kashbot.sim.errors import SimError
from kashbot.sim.limits import LimitDecision, SlidingWindow, TokenBucket
from kashbot.sim.models import (
    KeyState,
)
from kashbot.sim.scenario import KeyConfig
from kashbot.sim.venue_state import VenueState

KEY_FORMAT = re.compile(r"^kash_(live|test)_[A-Za-z0-9]{32}$")


class KeysAndLimits(VenueState):
    """Resolves ``X-API-Key`` to a key and counts each request against its user's quota."""

    def _add_key(self, k: KeyConfig) -> None:
        sc = self.scenario
        tier = sc.tier_limits(k.tier)
        caps = tier.model_copy(update=k.caps.model_dump(exclude_none=True))
        threshold = caps.high_value_trade_threshold_usdc
        key = KeyState(
            id=self.ids.uuid("key"),
            name=k.name,
            api_key=k.api_key,
            user_id=k.user,
            tier=k.tier,
            scopes=frozenset(k.scopes),
            requests_per_minute=caps.requests_per_minute,
            per_trade_cap=usdc_to_atomic(caps.per_trade_limit_usdc),
            daily_cap=usdc_to_atomic(caps.daily_spend_limit_usdc),
            threshold=usdc_to_atomic(threshold) if threshold is not None else None,
            confirm_window_s=k.confirm_window_s or sc.api.confirm_window_s,
            webhook_url=k.webhook_url,
            webhook_secret=k.webhook_secret,
            ip_allowlist=tuple(ipaddress.ip_network(n, strict=False) for n in k.ip_allowlist),
            revoked=k.revoked,
            expires_at=self.start + k.expires_after_s if k.expires_after_s is not None else None,
        )
        if key.webhook_url and not key.webhook_secret:
            key.webhook_secret = "whsec_" + self.ids.token("whsec")
        self.keys[key.id] = key
        self._by_api_key[key.api_key] = key
        self._outbox[key.id] = []
        self._queued[key.id] = []

    def authenticate(self, api_key: str | None, remote: str | None = None) -> KeyState:
        """Resolve ``X-API-Key`` to a key, raising the documented 401/403 codes."""
        now = self.clock.now()
        if not api_key:
            raise SimError("API_KEY_MISSING", "X-API-Key header is required")
        if not KEY_FORMAT.match(api_key):
            raise SimError("API_KEY_MALFORMED", "X-API-Key is not kash_(live|test)_<32 base62>")
        key = self._by_api_key.get(api_key)
        if key is None:
            raise SimError("API_KEY_INVALID", "unknown API key for this environment")
        if key.revoked:
            key.auth_failures.append(now)
            raise SimError("API_KEY_REVOKED", "this API key has been revoked")
        if key.expires_at is not None and now >= key.expires_at:
            key.auth_failures.append(now)
            raise SimError("API_KEY_EXPIRED", "this API key has expired")
        if key.ip_allowlist and remote is not None:
            try:
                addr = ipaddress.ip_address(remote)
            except ValueError:
                addr = None
            if addr is None or not any(addr in net for net in key.ip_allowlist):
                key.auth_failures.append(now)
                raise SimError("IP_NOT_ALLOWED", "source IP is not in this key's allowlist")
        return key

    def key_for(self, api_key: str | KeyState) -> KeyState:
        if isinstance(api_key, KeyState):
            return api_key
        return self.authenticate(api_key)

    @staticmethod
    def require_scope(key: KeyState, *scopes: str) -> None:
        if not any(s in key.scopes for s in scopes):
            raise SimError("INSUFFICIENT_SCOPE", f"this key lacks scope {' or '.join(scopes)}")

    def _user_rpm(self, user_id: str) -> int:
        return max(k.requests_per_minute for k in self.keys.values() if k.user_id == user_id)

    def rate_check(self, key: KeyState, *, write: bool) -> LimitDecision:
        """Count one request against the user's quota (sliding window or token bucket)."""
        now = self.clock.now()
        if write:
            bucket = self._writes.get(key.user_id)
            if bucket is None:
                bucket = self._writes[key.user_id] = TokenBucket(self._user_rpm(key.user_id))
            decision = bucket.hit(now)
        else:
            window = self._reads.get(key.user_id)
            if window is None:
                window = self._reads[key.user_id] = SlidingWindow(self._user_rpm(key.user_id))
            decision = window.hit(now)
        if not decision.allowed:
            key.rate_rejections.append(now)
        return decision

    def log_request(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)

    def find_key(self, ref: str) -> KeyState:
        """A key by id, scenario name or a unique prefix (>= 12 chars) of its api_key."""
        for key in self.keys.values():
            if ref in (key.id, key.name):
                return key
        if len(ref) >= 12:
            found = [k for k in self.keys.values() if k.api_key.startswith(ref)]
            if len(found) == 1:
                return found[0]
        raise SimError("RESOURCE_NOT_FOUND", f"no key matches {ref[:14]!r}")
