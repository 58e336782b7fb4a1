"""Is the venue serving our pinned API version the markets we came for? Pure decisions.

Under ``X-Kash-Api-Version: 2026-04-29`` Kash filters Solana markets out of ``GET /v1/markets``
and answers ``400 CHAIN_NOT_SUPPORTED`` on a Solana market's get/quote; an unknown pin answers
``410 API_VERSION_UNSUPPORTED`` (kash-today §2-§3). Each of these would leave a daemon idle with
nothing stale and no alarm, so each becomes a startup error or a halt whose reason names the pin.

Startup hook (the daemon, after resolving its market selection)::

    venue_checks.check_startup(pin=client.api_version, listed=len(markets),
                               expected=cfg.markets is "all" or a filter, errors=fetch_errors)

raises :class:`VenueMismatch` (message names the pin). At run time ``pin_halt_reason(error)``
names the halt for an error seen by any poll; ``RiskGate.note_error`` and ``refused`` use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kashbot.client.errors import ApiVersionUnsupported, ChainNotSupported, KashError

CURRENT_API_VERSION = "2026-08-19"  # the first version that lists and serves Solana markets


class VenueMismatch(RuntimeError):
    """The venue cannot serve what the config asks under the pinned API version."""


@dataclass(frozen=True, slots=True)
class VenueVerdict:
    reason: str  # one operator line; always names the pin


def _pin(pin: str | None) -> str:
    return f"X-Kash-Api-Version {pin}" if pin else "no X-Kash-Api-Version (server default)"


def pin_halt_reason(error: BaseException, pin: str | None = None) -> str | None:
    """The halt reason for an error that means "wrong API version pin", else None."""
    if not isinstance(error, KashError):
        return None
    pinned = pin if pin is not None else error.api_version
    if isinstance(error, ApiVersionUnsupported):
        supported = error.supported
        listed = f"; the venue serves {supported}" if supported else ""
        return (
            f"venue refused {_pin(pinned)} (API_VERSION_UNSUPPORTED){listed}: "
            f"set api_version to a supported date (kashbot pins {CURRENT_API_VERSION})"
        )
    if isinstance(error, ChainNotSupported):
        return (
            f"venue answers CHAIN_NOT_SUPPORTED under {_pin(pinned)}: this market's chain "
            f"(Solana since 2026-10-01) needs api_version {CURRENT_API_VERSION} or later"
        )
    return None


def startup_verdict(
    *,
    pin: str | None,
    listed: int,
    expected: bool,
    errors: Iterable[BaseException] = (),
) -> VenueVerdict | None:
    """Why the daemon must not start (None: go on).

    ``listed``: markets the selection found; ``expected``: the config asked for markets (an
    ``all``/filter selection, or named ids); ``errors``: what fetching named markets raised.
    """
    for error in errors:
        reason = pin_halt_reason(error, pin)
        if reason is not None:
            return VenueVerdict(reason)
    if expected and listed == 0:
        hint = (
            f"; {pin} filters Solana markets out of GET /v1/markets, set api_version "
            f"{CURRENT_API_VERSION}"
            if pin is not None and pin < CURRENT_API_VERSION
            else ""
        )
        return VenueVerdict(f"the venue lists 0 markets under {_pin(pin)}{hint}")
    return None


def check_startup(
    *, pin: str | None, listed: int, expected: bool, errors: Iterable[BaseException] = ()
) -> None:
    """:func:`startup_verdict`, raising :class:`VenueMismatch` with its reason."""
    verdict = startup_verdict(pin=pin, listed=listed, expected=expected, errors=errors)
    if verdict is not None:
        raise VenueMismatch(verdict.reason)
