"""What a venue error means for trading, decided from its type alone (pure; the gate acts on it).

``kashbot.client.errors`` markers: a wrong API-version pin and a halting error halt (a platform
halt until ``Retry-After``, else its class's default), a balance shortfall reduces; any failure
that does not halt counts towards the consecutive-failure halt.
"""

from __future__ import annotations

from dataclasses import dataclass

from kashbot.client.errors import HaltsTrading, KashError, PlatformHalt, ReducesOnly, error_class
from kashbot.client.pin_checks import pin_halt_reason


@dataclass(frozen=True, slots=True)
class Reaction:
    """``halt``: the halt's reason (``halt_for``: seconds until it lifts by itself, None: until
    an operator resumes); else ``reduce``: REDUCING's reason (or None), and the failure counts."""

    code: str
    halt: str | None = None
    halt_for: float | None = None
    reduce: str | None = None


def reaction(error: KashError | str, retry_after: float | None = None) -> Reaction:
    """The reaction to a venue error for an order (the error, or only its code)."""
    kind: type[KashError] | None
    if isinstance(error, KashError):
        code, kind = error.code or type(error).__name__, type(error)
        if retry_after is None:
            retry_after = error.retry_after
        pinned = pin_halt_reason(error)
        if pinned is not None:
            return Reaction(code, halt=pinned)
    else:
        code, kind = error, error_class(error)
    if kind is not None and issubclass(kind, HaltsTrading):
        wait = None
        if issubclass(kind, PlatformHalt):
            wait = retry_after if retry_after is not None else kind.default_halt_s
        return Reaction(code, halt=f"venue error {code}", halt_for=wait)
    if kind is not None and issubclass(kind, ReducesOnly):
        return Reaction(code, reduce=f"venue error {code}: fund the smart account")
    return Reaction(code)
