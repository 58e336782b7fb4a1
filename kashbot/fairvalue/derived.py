"""``derived``: one Kash market's fair value from other markets' (for consistency trades).

Each rule names a ``target`` market and the market it is derived ``from``; the target's outcome
``i`` gets the sum of the source market's outcomes in ``groups[i]``. ``kind: complement`` is the
binary shorthand ``groups: [[1], [0]]`` (p_yes(A) = 1 - p_yes(B), for "A wins" vs "B wins" in a
two-horse race listed twice); ``same`` is ``[[0], [1], ...]``. Groups must use every source
outcome at most once; a source value with fewer outcomes than a group needs is refused.

A derived source has no connection of its own: the hub hands it every combined value it forwards
(``observe``), and it emits the targets. The target's value keeps the source's times and
confidence, so it is stale exactly when what it was derived from is.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kashbot.events import FairValueUpdate
from kashbot.fairvalue.base import Emit, FairValueSource, SourceParams
from kashbot.money import WAD

log = structlog.get_logger("kashbot.fairvalue")


class DeriveRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    target: str
    from_: str = Field(alias="from")
    kind: Literal["complement", "same", "groups"] = "complement"
    groups: list[list[int]] | None = None

    @model_validator(mode="after")
    def _groups(self) -> DeriveRule:
        if self.kind == "groups":
            if not self.groups or len(self.groups) < 2:
                raise ValueError(
                    "kind groups needs groups: one list of outcomes per target outcome"
                )
            used = [i for g in self.groups for i in g]
            if len(used) != len(set(used)) or any(i < 0 for i in used):
                raise ValueError("groups must use each source outcome at most once")
        elif self.groups is not None:
            raise ValueError(f"groups is only for kind groups, not {self.kind}")
        if self.target == self.from_:
            raise ValueError("a market cannot be derived from itself")
        return self


class DerivedParams(SourceParams):
    rules: list[DeriveRule] = Field(min_length=1)


def derive(rule: DeriveRule, probs: tuple[int, ...]) -> tuple[int, ...] | None:
    """The target's chances (WAD) from the source's, or None if the shapes do not fit."""
    if rule.kind == "complement":
        groups = [[1], [0]]
        if len(probs) != 2:
            return None
    elif rule.kind == "same":
        groups = [[i] for i in range(len(probs))]
    else:
        assert rule.groups is not None
        groups = rule.groups
    if any(i >= len(probs) for g in groups for i in g):
        return None
    out = [sum(probs[i] for i in g) for g in groups]
    total = sum(out)
    if total <= 0:
        return None
    scaled = [x * WAD // total for x in out]  # a coarsening that drops outcomes rescales
    scaled[-1] += WAD - sum(scaled)
    return tuple(scaled)


class DerivedSource(FairValueSource[DerivedParams]):
    name = "derived"
    Params = DerivedParams
    kind = "derived"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._emit: Emit | None = None

    def markets(self) -> frozenset[str]:
        return frozenset(r.target for r in self.params.rules)

    async def run(self, emit: Emit) -> None:
        self._emit = emit
        try:
            await asyncio.Event().wait()  # it only reacts to ``observe``
        finally:
            self._emit = None

    def observe(self, update: FairValueUpdate) -> None:
        if self._emit is None:
            return
        for rule in self.params.rules:
            if rule.from_ != update.market_id:
                continue
            probs = derive(rule, update.probabilities)
            if probs is None:
                self.refused += 1
                log.warning(
                    "fair_value_row_refused",
                    source=self.source_id,
                    row=f"{rule.target} from {rule.from_}",
                    reason=f"{len(update.probabilities)} outcomes do not fit {rule.kind}",
                )
                continue
            self._emit(
                replace(update, market_id=rule.target, probabilities=probs, source=self.source_id)
            )
