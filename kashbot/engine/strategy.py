"""The strategy API: a pure decision core behind a thin, synchronous shell.

A strategy is a class with a pydantic ``Params`` model and a pure
``decide(state, event, params, now) -> list[OrderIntent]``. The engine calls ``on_event`` (which
by default just calls ``decide``) with the already-updated :class:`EngineState`; the strategy never
sees the client, never sleeps and never reads a clock, so the same code runs live, on paper and in
a backtest, and can be tested with a table of (state, event) -> intents.

Intents may leave ``intent_id``/``strategy``/``created_ts`` empty: the engine stamps them (ids must
be unique across restarts, which a pure function cannot know).

What must be remembered between events about denials and failures (cooldown, back-off, pause)
is not the strategy's business: the engine applies :mod:`kashbot.engine.protections` around
``decide``, with the class's ``protections`` as defaults and the YAML ``protections:`` on top.

Strategies are loaded by short name from the top-level ``strategies`` package (``fair_value`` ->
``strategies.fair_value``) or by dotted path
(``mypkg.mymod:MyStrategy``, ``mypkg.mymod.MyStrategy``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from kashbot.clock import Clock
from kashbot.engine.protections import NO_PROTECTIONS, ProtectionsConfig, resolve
from kashbot.engine.state import EngineState
from kashbot.events import (
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PriceChange,
    RiskDenied,
    TradeUpdate,
)


class StrategyParams(BaseModel):
    """Base for every strategy's parameters: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=StrategyParams)


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """What the engine hands a strategy: read-only state, the clock, its own identity."""

    state: EngineState
    clock: Clock
    strategy_id: str
    markets: frozenset[str] | None  # None = every market the engine sees


class StrategyLoadError(ValueError):
    """A strategy name or path that does not resolve to a Strategy class."""


class Strategy(Generic[P]):
    """Base class. Subclasses set ``name``, ``Params`` and implement ``decide``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    # Event classes this strategy reacts to (subclasses included); others never reach it.
    handles: ClassVar[tuple[type[Event], ...]] = (
        MarketSnapshot,
        PriceChange,
        FairValueUpdate,
        TradeUpdate,
        RiskDenied,
    )
    # Protections this strategy runs with unless its YAML ``protections:`` says otherwise.
    protections: ClassVar[ProtectionsConfig] = NO_PROTECTIONS
    # Deprecated params that still set a protection: param name -> "section.key".
    protection_aliases: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        params: P,
        *,
        strategy_id: str | None = None,
        markets: Iterable[str] | None = None,
    ) -> None:
        self.params: P = params
        self.strategy_id = strategy_id or self.name or type(self).__name__
        self.markets: frozenset[str] | None = None if markets is None else frozenset(markets)

    @classmethod
    def effective_protections(
        cls, params: StrategyParams, configured: ProtectionsConfig | None = None
    ) -> ProtectionsConfig:
        """Class defaults, then deprecated param aliases, then ``configured`` (raises
        ``ValueError`` on a conflict or an invalid result)."""
        return resolve(cls.protections, cls.protection_aliases, params, configured)

    def on_start(self, ctx: StrategyContext) -> list[OrderIntent]:
        """Called once, after recovery, before any event; may return opening intents."""
        return []

    def on_event(self, event: Event, ctx: StrategyContext) -> list[OrderIntent]:
        return self.decide(ctx.state, event, self.params, ctx.clock.now())

    def decide(self, state: EngineState, event: Event, params: P, now: float) -> list[OrderIntent]:
        """Pure: no I/O, no clock reads, no mutation of ``state``."""
        raise NotImplementedError

    def on_stop(self, ctx: StrategyContext) -> None:
        """Called once when the engine stops; no new intents are accepted after this."""
        return None


AnyStrategy = Strategy[Any]


def _strategy_in_module(module: Any) -> type[AnyStrategy]:
    exported = getattr(module, "STRATEGY", None)
    if inspect.isclass(exported) and issubclass(exported, Strategy):
        return exported
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Strategy)
        and obj is not Strategy
        and obj.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise StrategyLoadError(
            f"module {module.__name__} defines {len(found)} Strategy classes; "
            "set STRATEGY = <class> in it or name the class explicitly"
        )
    return found[0]


def load_strategy_class(spec: str) -> type[AnyStrategy]:
    """Resolve ``fair_value``, ``pkg.mod``, ``pkg.mod:Class`` or ``pkg.mod.Class``."""
    spec = spec.strip()
    if not spec:
        raise StrategyLoadError("empty strategy name")
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        candidates = [(mod_name, attr)]
    elif "." not in spec:
        candidates = [(f"strategies.{spec}", "")]
    else:
        head, _, tail = spec.rpartition(".")
        candidates = [(spec, ""), (head, tail)]
    errors: list[str] = []
    for mod_name, attr in candidates:
        try:
            module = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and mod_name.startswith(exc.name):
                errors.append(f"no module {mod_name!r}")
                continue
            raise
        if not attr:
            return _strategy_in_module(module)
        obj = getattr(module, attr, None)
        if inspect.isclass(obj) and issubclass(obj, Strategy):
            return obj
        errors.append(f"{mod_name} has no Strategy class {attr!r}")
    raise StrategyLoadError(f"cannot load strategy {spec!r}: " + "; ".join(errors))


def build_strategy(
    spec: str,
    params: Mapping[str, Any] | None = None,
    *,
    strategy_id: str | None = None,
    markets: Iterable[str] | None = None,
) -> AnyStrategy:
    """Load a strategy class and validate its params (pydantic errors propagate unchanged)."""
    cls = load_strategy_class(spec)
    model = cls.Params.model_validate(dict(params or {}))
    return cls(model, strategy_id=strategy_id, markets=markets)
