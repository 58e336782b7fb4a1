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

Strategies are loaded (:func:`load_strategy_class`) by short name: a built-in
(``fair_value`` -> ``kashbot.strategies.fair_value``), else an installed distribution's entry
point in the group ``kashbot.strategies``, else a top-level module beside the config; or by
dotted path (``mybots.momentum:Momentum``, ``mybots.momentum.Momentum``, ``mybots.momentum``),
imported from the config file's folder, the working directory or ``sys.path``, with no
``PYTHONPATH`` needed: the module's top level is executed from the first of those folders that
has it, and that folder is then appended to ``sys.path`` (kept, at the end) so the strategy's
later imports of its sibling modules resolve.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.machinery import PathFinder
from importlib.metadata import entry_points
from importlib.util import module_from_spec
from pathlib import Path
from types import ModuleType
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
from kashbot.plugin_classes import class_from, entry_point_class, import_or_reason


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


ENTRY_POINT_GROUP = "kashbot.strategies"
BUILTIN_PACKAGE = "kashbot.strategies"
_IMPORT_LOCK = threading.RLock()


# Folders of the config files strategies were loaded for in this process: a backtest validates
# its file, then builds the run from the mapping (which has no file), possibly in a forked worker.
_CONFIG_DIRS: list[Path] = []


def search_dirs(config_file: str | Path | None = None) -> tuple[Path, ...]:
    """Where user strategies are imported from, ahead of ``sys.path``: ``config_file``'s
    folder, the working directory, then the folders of config files loaded earlier in this
    process (a backtest builds its run from a mapping that no longer names its file)."""
    dirs: list[Path] = []
    if config_file is not None and not str(config_file).startswith("<"):
        here = Path(config_file).resolve().parent
        dirs.append(here)
        if here not in _CONFIG_DIRS:
            _CONFIG_DIRS.append(here)
    dirs.append(Path.cwd().resolve())
    dirs.extend(_CONFIG_DIRS)
    return tuple(dict.fromkeys(dirs))


def _keep_on_path(folder: Path) -> None:
    """Append ``folder`` to ``sys.path`` once and keep it: a strategy's lazy imports of its
    siblings (inside ``decide``, long after loading) still resolve, and at the end of the path
    it never shadows the standard library or an installed distribution for anyone else."""
    entry = str(folder)
    if entry not in sys.path:
        sys.path.append(entry)


def _import_user(mod_name: str, dirs: Sequence[Path]) -> ModuleType | str:
    """Import ``mod_name`` with its top-level module or package taken from the first of
    ``dirs`` that has it (ahead of ``sys.path``), else from ``sys.path``; or why not.

    The top level is executed from its own file (``PathFinder`` on that folder only), so
    ``sys.path`` is never reordered, not even for a moment; its folder is then kept at the end
    of the path for the strategy's later imports. Re-entrant: a strategy module that loads
    another strategy while being imported does not deadlock."""
    top = mod_name.partition(".")[0]
    with _IMPORT_LOCK:
        importlib.invalidate_caches()  # a file written since the last import is seen
        if top not in sys.modules:
            for folder in dirs:
                spec = PathFinder.find_spec(top, [str(folder)])
                if spec is None or spec.loader is None:
                    continue
                _keep_on_path(folder)
                module = module_from_spec(spec)
                sys.modules[top] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(top, None)
                    raise
                break
        return import_or_reason(mod_name)


def _from(mod_name: str, attr: str, dirs: Sequence[Path]) -> type[AnyStrategy] | str:
    module = _import_user(mod_name, dirs)
    return class_from(module, attr, Strategy, "STRATEGY", StrategyLoadError)


def _entry_point(name: str) -> type[AnyStrategy] | str:
    eps = entry_points(group=ENTRY_POINT_GROUP, name=name)
    found = entry_point_class(eps, name, Strategy, StrategyLoadError)
    return found if found is not None else f"no entry point {name!r} in group {ENTRY_POINT_GROUP!r}"


def load_strategy_class(spec: str, *, config_file: str | Path | None = None) -> type[AnyStrategy]:
    """Resolve ``fair_value`` (built-in, then entry point, then a module beside the config),
    ``pkg.mod``, ``pkg.mod:Class`` or ``pkg.mod.Class``.

    Dotted paths are imported from :func:`search_dirs` (``config_file``'s folder, the working
    directory), then ``sys.path``. The error lists every place looked at.
    """
    spec = spec.strip()
    if not spec:
        raise StrategyLoadError("empty strategy name")
    dirs = search_dirs(config_file)
    errors: list[str] = []
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        candidates = [(mod_name, attr)]
    elif "." not in spec:
        got = _from(f"{BUILTIN_PACKAGE}.{spec}", "", ())
        if not isinstance(got, str):
            return got
        errors.append(f"no built-in {BUILTIN_PACKAGE}.{spec}")
        got = _entry_point(spec)
        if not isinstance(got, str):
            return got
        errors.append(got)
        candidates = [(spec, "")]
    else:
        head, _, tail = spec.rpartition(".")
        candidates = [(spec, ""), (head, tail)]
    for mod_name, attr in candidates:
        got = _from(mod_name, attr, dirs)
        if not isinstance(got, str):
            return got
        errors.append(got)
    looked = ", ".join(str(d) for d in dirs)
    raise StrategyLoadError(
        f"cannot load strategy {spec!r}: " + "; ".join(errors) + f" (looked in {looked}, "
        "then sys.path; a dotted path is relative to the config file's folder or the "
        "working directory)"
    )


def build_strategy(
    spec: str,
    params: Mapping[str, Any] | None = None,
    *,
    strategy_id: str | None = None,
    markets: Iterable[str] | None = None,
    config_file: str | Path | None = None,
) -> AnyStrategy:
    """Load a strategy class and validate its params (pydantic errors propagate unchanged)."""
    cls = load_strategy_class(spec, config_file=config_file)
    model = cls.Params.model_validate(dict(params or {}))
    return cls(model, strategy_id=strategy_id, markets=markets)
