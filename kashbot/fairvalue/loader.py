"""Loading sources like strategies: by short name, dotted path or entry point.

``file`` -> the built-in :data:`BUILTINS` entry; ``pkg.mod:Class`` / ``pkg.mod.Class`` / ``pkg.mod``
(a module with one source class, or ``SOURCE = <class>``) -> imported; otherwise an installed
distribution's entry point in the group ``kashbot.fair_values`` with that name.

:func:`build_sources` validates a ``fair_values:`` config section and every source's params; a
problem is reported as ``file:line: key.path: message`` naming the source, when the caller
passes the file and the key-path -> line map its YAML reader made.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kashbot.clock import Clock
from kashbot.fairvalue.base import AnySource, FairValueSource, SourceParams
from kashbot.fairvalue.combine import CombineRule
from kashbot.plugin_classes import class_from, entry_point_class, import_or_reason

ENTRY_POINT_GROUP = "kashbot.fair_values"

BUILTINS: dict[str, str] = {
    "file": "kashbot.fairvalue.file_source:FileSource",
    "http": "kashbot.fairvalue.http_source:HttpSource",
    "websocket": "kashbot.fairvalue.ws_source:WebsocketSource",
    "polymarket": "kashbot.fairvalue.polymarket:PolymarketSource",
    "derived": "kashbot.fairvalue.derived:DerivedSource",
}

KeyPath = tuple[str | int, ...]


class SourceLoadError(ValueError):
    """A source name or path that does not resolve to a FairValueSource class."""


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="built-in short name, dotted path or entry point name")
    id: str | None = Field(None, description="unique id (default: the name)")
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def source_id(self) -> str:
        return self.id or self.name


class FairValuesConfig(BaseModel):
    """The ``fair_values:`` section: sources, and how to combine them per market."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[SourceConfig] = Field(default_factory=list)
    combine: CombineRule = Field(default_factory=CombineRule)
    markets: dict[str, CombineRule] = Field(
        default_factory=dict, description="market id -> its own rule (overrides combine)"
    )
    seed: int | None = Field(None, description="seeds reconnect jitter (None: unseeded)")

    @model_validator(mode="after")
    def _unique_known_ids(self) -> FairValuesConfig:
        ids = [s.source_id for s in self.sources]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"source ids must be unique; give each an id: {dupes}")
        for where, rule in [("combine", self.combine), *self.markets.items()]:
            unknown = sorted(set(rule.sources or ()) - set(ids))
            if unknown:
                raise ValueError(f"{where}: unknown sources {unknown}")
        return self


def _from(mod_name: str, attr: str) -> type[AnySource] | str:
    return class_from(import_or_reason(mod_name), attr, FairValueSource, "SOURCE", SourceLoadError)


def load_source_class(spec: str) -> type[AnySource]:
    """Resolve a built-in name, ``pkg.mod:Class``, ``pkg.mod.Class``, ``pkg.mod`` or an entry
    point name in :data:`ENTRY_POINT_GROUP`."""
    spec = spec.strip()
    if not spec:
        raise SourceLoadError("empty source name")
    if spec in BUILTINS:
        spec = BUILTINS[spec]
    if ":" in spec:
        candidates = [tuple(spec.split(":", 1))]
    elif "." in spec:
        head, _, tail = spec.rpartition(".")
        candidates = [(spec, ""), (head, tail)]
    else:
        eps = entry_points(group=ENTRY_POINT_GROUP, name=spec)
        found = entry_point_class(eps, spec, FairValueSource, SourceLoadError)
        if found is not None:
            return found
        known = ", ".join(sorted(BUILTINS))
        raise SourceLoadError(f"unknown fair-value source {spec!r} (built-in: {known})")
    errors: list[str] = []
    for mod_name, attr in candidates:
        got = _from(mod_name, attr)
        if not isinstance(got, str):
            return got
        errors.append(got)
    raise SourceLoadError(f"cannot load fair-value source {spec!r}: " + "; ".join(errors))


Problem = tuple[int | None, str, str]  # line, dotted key path, message (as config.loader's)


class FairValueConfigError(ValueError):
    """Every problem in a ``fair_values:`` section, one per line: ``file:line: path: message``.

    ``entries`` are the same as (line, key path, message), for a config checker to merge.
    """

    def __init__(self, problems: Sequence[str], entries: Sequence[Problem] = ()) -> None:
        self.problems = list(problems)
        self.entries = list(entries)
        super().__init__("\n".join(self.problems))


def _line(lines: Mapping[KeyPath, int], loc: KeyPath) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Problems:
    def __init__(self, file: str | None, lines: Mapping[KeyPath, int]) -> None:
        self.file, self.lines = file, lines
        self.items: list[str] = []
        self.entries: list[Problem] = []

    def add(self, loc: KeyPath, msg: str) -> None:
        line = _line(self.lines, loc)
        where = "" if self.file is None else f"{self.file}:{line if line is not None else '?'}: "
        self.items.append(f"{where}{_dotted(loc) or '<root>'}: {msg}")
        self.entries.append((line, _dotted(loc), msg))

    def add_validation(self, base: KeyPath, exc: ValidationError, prefix: str = "") -> None:
        for err in exc.errors():
            self.add((*base, *err["loc"]), prefix + err["msg"])


def validate_fair_values(
    data: Mapping[str, Any] | FairValuesConfig,
    *,
    file: str | None = None,
    lines: Mapping[KeyPath, int] | None = None,
    base: KeyPath = ("fair_values",),
) -> tuple[FairValuesConfig, list[tuple[type[AnySource], SourceParams]]]:
    """The section and each source's class and params, or :class:`FairValueConfigError`."""
    problems = _Problems(file, lines or {})
    try:
        cfg = data if isinstance(data, FairValuesConfig) else FairValuesConfig.model_validate(data)
    except ValidationError as exc:
        problems.add_validation(base, exc)
        raise FairValueConfigError(problems.items, problems.entries) from None
    built: list[tuple[type[AnySource], SourceParams]] = []
    for i, sc in enumerate(cfg.sources):
        loc: KeyPath = (*base, "sources", i)
        try:
            cls = load_source_class(sc.name)
            built.append((cls, cls.Params.model_validate(sc.params)))
        except SourceLoadError as exc:
            problems.add((*loc, "name"), f"source {sc.source_id!r}: {exc}")
        except ValidationError as exc:
            problems.add_validation((*loc, "params"), exc, f"source {sc.source_id!r}: ")
    if problems.items:
        raise FairValueConfigError(problems.items, problems.entries)
    return cfg, built


def build_sources(
    data: Mapping[str, Any] | FairValuesConfig,
    clock: Clock,
    *,
    file: str | None = None,
    lines: Mapping[KeyPath, int] | None = None,
    base: KeyPath = ("fair_values",),
) -> tuple[FairValuesConfig, list[AnySource]]:
    """Validate the section and build every source (the hub takes it from there)."""
    cfg, built = validate_fair_values(data, file=file, lines=lines, base=base)
    rng = random.Random(cfg.seed) if cfg.seed is not None else random.Random()
    sources = [
        cls(params, clock=clock, source_id=sc.source_id, rng=random.Random(rng.getrandbits(64)))
        for sc, (cls, params) in zip(cfg.sources, built, strict=True)
    ]
    return cfg, sources
