"""doctor's pure verdicts: clock skew from a Date header, tier from X-RateLimit-Limit, the API
version from the response headers."""

from __future__ import annotations

from email.utils import formatdate

from kashbot.app.doctor_checks import Probe, scope_check, skew_check, tier_check, version_check


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


def test_version_names_x_api_version_the_server_default_not_the_served_one() -> None:
    # X-API-Version is the server's canonical version on every response, whatever we pinned
    probe = Probe("/markets", 200, None, {"X-API-Version": "2026-04-29"})
    pinned = version_check(probe, "2026-08-19")
    assert pinned.verdict == "OK"
    assert "served" not in pinned.message
    assert "pinned 2026-08-19 accepted" in pinned.message
    assert "server default 2026-04-29" in pinned.message
    unpinned = version_check(probe, None)
    assert unpinned.message == "no pin: requests get the server default 2026-04-29"
    echoed = Probe("/m", 200, None, {"X-Kash-Api-Version": "2026-08-19"})
    assert version_check(echoed, "2026-08-19").message == (
        "pinned 2026-08-19 accepted; server default not reported"
    )
    sunset = Probe("/m", 200, None, {"X-API-Version": "2026-08-19", "Sunset": "Sun, 1 Aug 2027"})
    warn = version_check(sunset, "2026-04-29")
    assert warn.verdict == "WARN" and "server default 2026-08-19" in warn.message
    assert "2026-08-19" in warn.fix
