"""The fair-value source plugin API: a params model and an async ``run(emit)``.

A source turns some outside view of the truth (an operator's model file, an HTTP endpoint, a
deeper venue's order book) into :class:`~kashbot.events.FairValueUpdate` events. It never trades
and never sees the engine: it calls ``emit`` and the :class:`~kashbot.fairvalue.hub.FairValueHub`
validates nothing twice, combines several sources per market and tracks staleness.

Writing one: subclass :class:`FairValueSource`, give it a ``Params`` model (a subclass of
:class:`SourceParams`; unknown keys are refused) and implement ``run``. ``run`` may raise: the
hub's supervisor logs it and restarts the source with backoff. Rows that fail validation go
through :meth:`FairValueSource.accept`, which logs one line and drops them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Generic, Literal, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field

from kashbot.clock import Clock
from kashbot.events import FairValueUpdate
from kashbot.fairvalue.mapping import BadRow, RawRow
from kashbot.fairvalue.validate import Normalise, RowError, to_wad_chances
from kashbot.money import Wad, decimal_to_wad

log = structlog.get_logger("kashbot.fairvalue")

Emit = Callable[[FairValueUpdate], None]


class SourceParams(BaseModel):
    """Params every source has; subclasses add their own. Frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_age_s: float = Field(300.0, gt=0, description="older than this, a fair value is stale")
    normalise: Normalise = Field(
        "strict",
        description="strict: chances must sum to 1 within sum_tolerance; proportional: any "
        "positive sum is scaled to 1 (an order book's midpoints rarely sum to 1)",
    )
    sum_tolerance: Decimal = Field(Decimal("0.01"), ge=0, le=Decimal("0.5"))


P = TypeVar("P", bound=SourceParams)


class FairValueSource(Generic[P]):
    """Base class: set ``name`` and ``Params``; implement ``run``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[SourceParams]] = SourceParams
    kind: ClassVar[Literal["source", "derived"]] = "source"

    def __init__(
        self,
        params: P,
        *,
        clock: Clock,
        source_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.params: P = params
        self.clock = clock
        self.source_id = source_id or self.name or type(self).__name__
        self.rng = rng or random.Random()
        self.refused = 0  # rows refused by validation (for tests and the status view)

    async def run(self, emit: Emit) -> None:
        """Emit updates until cancelled; raising means "restart me" (the hub backs off)."""
        raise NotImplementedError

    def markets(self) -> frozenset[str]:
        """Markets this source promises a value for: stale until their first one arrives."""
        return frozenset()

    def observe(self, update: FairValueUpdate) -> None:
        """Every update the hub forwards from *other* sources (derived sources override)."""
        return None

    def accept_row(self, row: RawRow | BadRow) -> FairValueUpdate | None:
        """A mapped row as a validated update (None: refused, with one log line)."""
        if isinstance(row, BadRow):
            self.refused += 1
            log.warning(
                "fair_value_row_refused", source=self.source_id, row=row.where, reason=row.reason
            )
            return None
        return self.accept(
            row.market_id,
            row.chances,
            row=row.where,
            source_ts=row.source_ts,
            confidence=row.confidence,
        )

    def accept(
        self,
        market_id: str,
        chances: Sequence[Decimal],
        *,
        row: str,
        source_ts: float | None = None,
        confidence: Decimal | None = None,
    ) -> FairValueUpdate | None:
        """A validated update, or None after one log line naming the source and the row."""
        try:
            probs = to_wad_chances(chances, self.params.normalise, self.params.sum_tolerance)
            conf = _confidence(confidence)
        except RowError as exc:
            self.refused += 1
            log.warning("fair_value_row_refused", source=self.source_id, row=row, reason=str(exc))
            return None
        if not market_id:
            self.refused += 1
            log.warning(
                "fair_value_row_refused", source=self.source_id, row=row, reason="no market"
            )
            return None
        return FairValueUpdate(
            self.clock.now(), market_id, probs, self.source_id, source_ts=source_ts, confidence=conf
        )


def _confidence(value: Decimal | None) -> Wad | None:
    if value is None:
        return None
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        raise RowError(f"confidence {value} is not in [0, 1]")
    return decimal_to_wad(value)


AnySource = FairValueSource[Any]
