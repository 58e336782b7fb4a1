"""``kashbot doctor``'s verdicts: pure functions from what a probe saw to an OK/WARN/FAIL line.

Each :class:`Check` names what was checked, the verdict and, unless OK, the fix. The I/O (HTTP
probes, the store folder) lives in :mod:`kashbot.app.doctor`; these stay testable without it.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["OK", "WARN", "FAIL"]
SKEW_WARN_S = 5.0  # Date has one-second resolution; more than this is a clock problem
SKEW_FAIL_S = 120.0  # signing and webhook timestamps allow ±300 s: fail well before that
READ_SCOPES = ("markets:read", "portfolio:read")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    verdict: Verdict
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.verdict:<4}  {self.name:<10} {self.message}"
        return f"{text}\n      fix: {self.fix}" if self.fix and self.verdict != "OK" else text


@dataclass(frozen=True, slots=True)
class Probe:
    """One answered request: status, the problem ``code`` if any, and the response headers."""

    route: str
    status: int
    code: str | None
    headers: Mapping[str, str]
    detail: str = ""


def auth_check(probe: Probe) -> Check:
    """The key is accepted at all (a well-formed key can still be unknown, revoked, expired)."""
    if probe.status == 401:
        return Check(
            "auth",
            "FAIL",
            f"the venue refused the key on {probe.route}: {probe.code or probe.status}",
            "use a key that is active for this base_url (kash_live_ on production, kash_test_ "
            "on staging); issue one in the Kash app, Settings → API Keys",
        )
    if probe.status == 403 and probe.code == "IP_NOT_ALLOWED":
        return Check(
            "auth",
            "FAIL",
            "the key's IP allowlist does not include this host",
            "add this host's address to the key's allowlist",
        )
    return Check("auth", "OK", f"key accepted ({probe.route} answered {probe.status})")


def version_check(probe: Probe, pinned: str | None) -> Check:
    """The pinned ``X-Kash-Api-Version`` is accepted, and not on its way out (Sunset headers).

    ``X-API-Version`` is the server's default (canonical) version, sent "on every request,
    independent of the client pin" (kash-today §2): it says nothing about which version answered
    us, so it is reported as the default, never as the version that served the request. Only
    ``X-Kash-Api-Version`` in a response names that version (the docs' header; not every
    server sends it)."""
    if probe.status == 410 or probe.code == "API_VERSION_UNSUPPORTED":
        return Check(
            "version",
            "FAIL",
            f"venue.api_version {pinned} is not supported by the venue "
            f"(410 API_VERSION_UNSUPPORTED{probe.detail})",
            "set venue.api_version to a supported version (or null for the server default)",
        )
    default = probe.headers.get("X-API-Version")
    answered = probe.headers.get("X-Kash-Api-Version")
    default_text = f"server default {default}" if default else "server default not reported"
    sunset, deprecation = probe.headers.get("Sunset"), probe.headers.get("Deprecation")
    if sunset or (deprecation and deprecation.strip().lower() != "false"):
        return Check(
            "version",
            "WARN",
            f"venue.api_version {pinned or '(none: the server default)'} is deprecated "
            f"(Sunset: {sunset or 'not given'}); {default_text}",
            "move venue.api_version to a supported version "
            f"({'e.g. the server default ' + default if default else 'see the changelog'}) "
            "before the sunset",
        )
    if pinned is None:
        return Check("version", "OK", f"no pin: requests get the {default_text}")
    echo = f", answered as {answered}" if answered and answered != pinned else ""
    return Check("version", "OK", f"pinned {pinned} accepted{echo}; {default_text}")


def scope_check(probes: Mapping[str, Probe], trading: bool) -> Check:
    """Read scopes present; ``trades:read`` marks a trading key (admin-issued keys carry
    ``trades:read`` and ``trades:write`` together; self-served keys carry neither)."""
    missing = [s for s, p in probes.items() if p.status == 403 and p.code == "INSUFFICIENT_SCOPE"]
    other = [f"{s}: {p.status}" for s, p in probes.items() if p.status >= 400 and s not in missing]
    if other:
        return Check(
            "scopes", "WARN", f"probe failed: {', '.join(other)}", "rerun; check the venue status"
        )
    if any(s in missing for s in READ_SCOPES):
        return Check(
            "scopes",
            "FAIL",
            f"the key lacks {', '.join(missing)}",
            "issue a key with markets:read, markets:quote, portfolio:read (and trades:read, "
            "trades:write to trade)",
        )
    if "trades:read" in missing:
        verdict: Verdict = "FAIL" if trading else "WARN"
        return Check(
            "scopes",
            verdict,
            "a read-only reporting key (no trades:read; trades:write not granted with it)",
            "trading needs a key with trades:read and trades:write: enterprise/mm keys have "
            "them; ask Kash support to add them to yours",
        )
    return Check(
        "scopes",
        "OK",
        "trading key: " + ", ".join(probes) + " answered (trades:write is not probed: it "
        "would need a POST)",
    )


def tier_check(configured: str, expected_rpm: int | None, headers: Mapping[str, str]) -> Check:
    """``X-RateLimit-Limit`` against the configured tier's published per-minute quota."""
    raw = headers.get("X-RateLimit-Limit")
    if raw is None or not raw.strip().isdigit():
        return Check("tier", "WARN", "no X-RateLimit-Limit header", "check account.tier by hand")
    limit = int(raw)
    if expected_rpm is not None and limit != expected_rpm:
        return Check(
            "tier",
            "FAIL",
            f"the venue allows {limit} requests/min; account.tier {configured} means "
            f"{expected_rpm}",
            "set account.tier (and account.requests_per_minute) to what the key really has",
        )
    return Check("tier", "OK", f"{configured}, {limit} requests/min")


def skew_check(date_header: str | None, local_now: float, round_trip_s: float) -> Check:
    """The venue's ``Date`` against our clock (one-second resolution, plus the round trip)."""
    if not date_header:
        return Check("clock", "WARN", "the venue sent no Date header", "keep NTP running")
    try:
        remote = email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return Check("clock", "WARN", f"unreadable Date {date_header!r}", "keep NTP running")
    skew = local_now - remote
    slack = 1.0 + round_trip_s  # Date drops the fraction of a second
    off = max(0.0, abs(skew) - slack)
    text = f"local clock {skew:+.1f} s from the venue's Date"
    if off > SKEW_FAIL_S:
        return Check("clock", "FAIL", text, "sync the clock (chrony/systemd-timesyncd)")
    if off > SKEW_WARN_S:
        return Check("clock", "WARN", text, "sync the clock (chrony/systemd-timesyncd)")
    return Check("clock", "OK", text)
