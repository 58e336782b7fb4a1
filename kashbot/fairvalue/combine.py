"""Several sources per market: pick or blend their latest fresh values (pure).

Rules (per market, from config; the default applies to markets not named):

* ``precedence``: the first source in ``sources`` with a fresh value (a backup feed behind a
  primary);
* ``freshest``: the most recently vouched value (ties go by ``sources`` order);
* ``confidence_weighted``: the mean of every fresh value weighted by its confidence (a value
  without one weighs ``default_confidence``); the result carries the highest confidence used.

Values whose outcome count differs from the first fresh one's are ignored (a mis-mapped feed
must not bend a market's price).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kashbot.events import FairValueUpdate
from kashbot.fairvalue.staleness import vouched_at
from kashbot.money import WAD, Wad, decimal_to_wad

RuleName = Literal["precedence", "freshest", "confidence_weighted"]


class CombineRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: RuleName = "precedence"
    sources: tuple[str, ...] | None = Field(
        None, description="the sources this market listens to, in precedence order (None: all)"
    )
    default_confidence: Decimal = Field(Decimal("0.5"), ge=0, le=1)


def combine(
    market_id: str,
    latest: Mapping[str, FairValueUpdate],
    rule: CombineRule,
    order: Sequence[str],
    now: float,
    max_age_by_source: Mapping[str, float],
) -> FairValueUpdate | None:
    """The market's fair value at ``now`` from each source's latest update (None: none fresh).

    ``order`` is every source's id in config order (used when ``rule.sources`` is None).
    """
    names = rule.sources if rule.sources is not None else tuple(order)
    fresh: list[FairValueUpdate] = []
    for name in names:
        u = latest.get(name)
        limit = max_age_by_source.get(name)
        if u is None or u.market_id != market_id or limit is None:
            continue
        if now - vouched_at(u) <= limit:
            fresh.append(u)
    if not fresh:
        return None
    n = len(fresh[0].probabilities)
    fresh = [u for u in fresh if len(u.probabilities) == n]
    if rule.rule == "precedence":
        return replace(fresh[0], ts=now)
    if rule.rule == "freshest":
        best = max(fresh, key=vouched_at)  # max keeps the first of equals: precedence order
        return replace(best, ts=now)
    return _weighted(market_id, fresh, decimal_to_wad(rule.default_confidence), now)


def _weighted(
    market_id: str, fresh: list[FairValueUpdate], default_w: Wad, now: float
) -> FairValueUpdate:
    weights = [u.confidence if u.confidence is not None else default_w for u in fresh]
    if sum(weights) == 0:
        weights = [1] * len(fresh)
    total_w = sum(weights)
    n = len(fresh[0].probabilities)
    mean = [
        sum(w * u.probabilities[i] for w, u in zip(weights, fresh, strict=True)) // total_w
        for i in range(n)
    ]
    mean[-1] += WAD - sum(mean)
    confs = [u.confidence for u in fresh if u.confidence is not None]
    return FairValueUpdate(
        now,
        market_id,
        tuple(mean),
        "combined:" + "+".join(u.source for u in fresh),
        source_ts=max(vouched_at(u) for u in fresh),
        confidence=max(confs) if confs else None,
    )
