"""doctor's pure verdicts: clock skew from a Date header, tier from X-RateLimit-Limit."""

from __future__ import annotations

from email.utils import formatdate

from kashbot.app.doctor_checks import Probe, scope_check, skew_check, tier_check


def test_skew_verdicts() -> None:
    now = 1_800_000_000.0
    assert skew_check(formatdate(now, usegmt=True), now + 0.4, 0.1).verdict == "OK"
    assert skew_check(formatdate(now, usegmt=True), now + 30, 0.1).verdict == "WARN"
    bad = skew_check(formatdate(now, usegmt=True), now - 600, 0.1)
    assert bad.verdict == "FAIL" and "-600" in bad.message and "chrony" in bad.fix
    assert skew_check(None, now, 0.1).verdict == "WARN"
    assert skew_check("yesterday", now, 0.1).verdict == "WARN"


def test_tier_from_rate_limit_header() -> None:
    assert tier_check("developer", 300, {"X-RateLimit-Limit": "300"}).verdict == "OK"
    assert tier_check("developer", 300, {"X-RateLimit-Limit": "60"}).verdict == "FAIL"
    assert tier_check("developer", 300, {}).verdict == "WARN"


def test_reporting_key_only_warns_without_strategies() -> None:
    ok = Probe("/markets", 200, None, {})
    denied = Probe("/trades", 403, "INSUFFICIENT_SCOPE", {})
    probes = {"markets:read": ok, "portfolio:read": ok, "trades:read": denied}
    assert scope_check(probes, trading=True).verdict == "FAIL"
    assert scope_check(probes, trading=False).verdict == "WARN"
