"""Protections: per-strategy guards the engine applies outside ``decide`` (as Freqtrade's).

A denial or a failed trade says something about asking again soon that a pure
``decide(state, event, params, now)`` cannot remember without keeping state of its own. So the
engine keeps it, one :class:`Protections` per strategy: it folds the strategy's ``RiskDenied``
and our ``TradeUpdate`` events into a per-market :class:`MarketGuard` (the pure :func:`fold`),
and drops the strategy's intents for a market while a protection holds it (the pure
:func:`admits`). Every strategy gets them; each is off unless the strategy's class or its YAML
``protections:`` block turns it on.

* **cooldown**: no intent in a market for ``seconds`` after a denial of ours there.
* **backoff**: a cap denial (``reasons``, by default the spend, exposure and size caps) will not
  go away within a cooldown, so after the ``n``-th in a row in a market no *buy* goes there for
  ``min(max_s, base_s * factor**(n-1))`` seconds from that denial (sells still do: they draw no
  cap). A completed trade in the market resets the count.
* **pause**: ``after`` denials or failed trades of ours in a market within ``window_s`` pause
  the market for ``pause_s`` (no intent at all); the count starts again after a pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kashbot.events import Event, OrderIntent, RiskDenied, Side, TradeUpdate

# Denials that asking again soon cannot cure: spend, exposure and size caps.
CAP_REASONS = frozenset({"DAILY_CAP", "MARKET_EXPOSURE", "TOTAL_EXPOSURE", "PER_TRADE_CAP"})
# Terminal trade statuses that count as a failure for the pause.
FAILED_STATUSES = frozenset({"failed", "rejected"})
TERMINAL_STATUSES = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})
_MAX_DOUBLINGS = 64  # past this the wait is at max_s anyway; keeps the power finite
NEVER = float("-inf")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CooldownConfig(_Section):
    seconds: float = Field(0.0, ge=0, description="quiet time in a market after a denial; 0 = off")


class BackOffConfig(_Section):
    base_s: float = Field(
        0.0, ge=0, description="no buy in a market this long after a cap denial there; 0 = off"
    )
    factor: float = Field(2.0, ge=1, le=10, description="growth per cap denial in a row")
    max_s: float = Field(600.0, ge=0, description="longest back-off")
    reasons: frozenset[str] = Field(CAP_REASONS, description="denial reasons that back off")

    @model_validator(mode="after")
    def _bounds(self) -> BackOffConfig:
        if self.max_s < self.base_s:
            raise ValueError(f"max_s ({self.max_s:g}) must be >= base_s ({self.base_s:g})")
        return self


class PauseConfig(_Section):
    after: int = Field(0, ge=0, description="denials or failed trades that pause; 0 = off")
    window_s: float = Field(60.0, gt=0, description="within this long")
    pause_s: float = Field(300.0, gt=0, description="how long the market is paused")


class ProtectionsConfig(_Section):
    """A strategy's ``protections:`` block; a key left out keeps the strategy's own default."""

    cooldown: CooldownConfig = CooldownConfig()
    backoff: BackOffConfig = BackOffConfig()
    pause: PauseConfig = PauseConfig()

    @property
    def enabled(self) -> bool:
        return self.cooldown.seconds > 0 or self.backoff.base_s > 0 or self.pause.after > 0


NO_PROTECTIONS = ProtectionsConfig()


def _explicit(model: BaseModel) -> dict[str, Any]:
    """The fields set in ``model`` (recursively), as a nested dict: what YAML actually wrote."""
    out: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        out[name] = _explicit(value) if isinstance(value, BaseModel) else value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve(
    defaults: ProtectionsConfig,
    aliases: Mapping[str, str],
    params: BaseModel,
    configured: ProtectionsConfig | None,
) -> ProtectionsConfig:
    """A strategy's effective protections: its class ``defaults``, then deprecated ``params``
    aliases (param name -> ``section.key``) that are set, then what ``configured`` (YAML) sets.

    Raises ``ValueError`` when a param alias and ``configured`` set the same key, and pydantic's
    ``ValidationError`` (a ``ValueError``) when the result is invalid (``max_s < base_s``).
    """
    data = defaults.model_dump()
    from_params: dict[str, Any] = {}
    for param, path in aliases.items():
        value = getattr(params, param, None)
        if value is not None:
            section, key = path.split(".")
            from_params.setdefault(section, {})[key] = value
    written = _explicit(configured) if configured is not None else {}
    for section, keys in from_params.items():
        for key in keys:
            if key in written.get(section, {}):
                param = next(p for p, a in aliases.items() if a == f"{section}.{key}")
                raise ValueError(
                    f"params.{param} (deprecated) and protections.{section}.{key} both set;"
                    f" keep protections.{section}.{key}"
                )
    data = _merge(_merge(data, from_params), written)
    return ProtectionsConfig.model_validate(data)


# ---- state: pure folds ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketGuard:
    """What the protections remember about one market for one strategy."""

    denied_at: float = NEVER  # the last denial of ours (cooldown)
    cap_denials: int = 0  # cap denials in a row (back-off)
    no_buy_until: float = NEVER
    strikes: tuple[float, ...] = ()  # denial / failure times inside the pause window
    paused_until: float = NEVER


Book = Mapping[str, MarketGuard]
EMPTY_BOOK: Book = {}
_FRESH = MarketGuard()


def _strike(g: MarketGuard, ts: float, p: PauseConfig) -> MarketGuard:
    if p.after <= 0:
        return g
    strikes = (*(t for t in g.strikes if ts - t < p.window_s), ts)
    if len(strikes) >= p.after:
        return replace(g, strikes=(), paused_until=ts + p.pause_s)
    return replace(g, strikes=strikes)


def _denied(g: MarketGuard, ev: RiskDenied, cfg: ProtectionsConfig) -> MarketGuard:
    if cfg.cooldown.seconds > 0:
        g = replace(g, denied_at=ev.ts)
    b = cfg.backoff
    if b.base_s > 0 and ev.reason in b.reasons:
        n = g.cap_denials + 1
        wait = b.base_s * b.factor ** min(n - 1, _MAX_DOUBLINGS)
        g = replace(g, cap_denials=n, no_buy_until=ev.ts + min(wait, b.max_s))
    return _strike(g, ev.ts, cfg.pause)


def fold(
    book: Book, event: Event, strategy: str, cfg: ProtectionsConfig, ours: bool = False
) -> Book:
    """Pure: ``book`` after ``event`` (``book`` itself when nothing changes).

    A ``RiskDenied`` counts when it is ``strategy``'s; a completed ``TradeUpdate`` in a market
    resets its back-off; a failed one counts towards the pause when ``ours`` (the strategy's
    intent: a trade update does not name its strategy, the caller knows).
    """
    if isinstance(event, RiskDenied):
        if event.strategy != strategy:
            return book
        old = book.get(event.market_id, _FRESH)
        new = _denied(old, event, cfg)
        return book if new is old else {**book, event.market_id: new}
    if isinstance(event, TradeUpdate):
        g = book.get(event.market_id)
        if event.status == "completed":
            if g is None or (g.cap_denials == 0 and g.no_buy_until == NEVER):
                return book
            return {**book, event.market_id: replace(g, cap_denials=0, no_buy_until=NEVER)}
        if ours and event.status in FAILED_STATUSES and cfg.pause.after > 0:
            return {**book, event.market_id: _strike(g or _FRESH, event.ts, cfg.pause)}
    return book


def admits(g: MarketGuard | None, intent: OrderIntent, cfg: ProtectionsConfig, now: float) -> bool:
    """Pure: may ``intent`` go at ``now`` given its market's guard?"""
    if g is None:
        return True
    if now < g.paused_until:
        return False
    cooldown = cfg.cooldown.seconds
    if cooldown > 0 and now - g.denied_at < cooldown:
        return False
    return intent.side is not Side.BUY or now >= g.no_buy_until


# ---- the holder the engine keeps per strategy -----------------------------------------------


class Protections:
    """One strategy's protections: its config, its book, and the intents it has in the air.

    The engine calls :meth:`observe` for every ``RiskDenied`` and ``TradeUpdate`` (before any
    strategy sees it), :meth:`admit` on what the strategy returned, and :meth:`track` on each
    intent it lets through (only needed, and only kept, when the pause counts failed trades).
    """

    __slots__ = ("_ours", "book", "config", "strategy", "suppressed")

    def __init__(self, strategy: str, config: ProtectionsConfig) -> None:
        self.strategy = strategy
        self.config = config
        self.book: Book = EMPTY_BOOK
        self.suppressed = 0  # intents dropped while a protection held their market
        self._ours: set[str] = set()

    @property
    def tracks(self) -> bool:
        return self.config.pause.after > 0

    def track(self, intents: Iterable[OrderIntent]) -> None:
        """Remember stamped intents, so their failed trades count towards the pause."""
        self._ours.update(i.intent_id for i in intents)

    def observe(self, event: Event) -> None:
        ours = False
        if isinstance(event, TradeUpdate | RiskDenied) and self._ours:
            ours = event.intent_id in self._ours
            if ours and (isinstance(event, RiskDenied) or event.status in TERMINAL_STATUSES):
                self._ours.discard(event.intent_id)
        self.book = fold(self.book, event, self.strategy, self.config, ours)

    def admit(self, intents: Sequence[OrderIntent], now: float) -> list[OrderIntent]:
        """The intents no protection holds back at ``now``."""
        book = self.book
        if not book:
            return list(intents)
        out = [i for i in intents if admits(book.get(i.market_id), i, self.config, now)]
        self.suppressed += len(intents) - len(out)
        return out

    def guard(self, market_id: str) -> MarketGuard | None:
        return self.book.get(market_id)
