"""When is a fair value too old to trade on? Pure ages plus a small tracker for the gate.

A value's time is when the source last vouched for it: the receipt time ``ts``, or the row's own
``source_ts`` when that is earlier (a model that wrote a row an hour ago and has not written
since is an hour old, however often the file is re-read). A source that re-confirms an unchanged
value (a live websocket's book that did not move) re-emits it with ``source_ts=None``.

The gate refuses buys in a stale market (``Reason.FAIR_VALUE_STALE``); sells always pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kashbot.events import FairValueUpdate


def vouched_at(update: FairValueUpdate) -> float:
    """The time the source last vouched for ``update`` (see the module doc)."""
    if update.source_ts is None:
        return update.ts
    return min(update.ts, update.source_ts)


def stale_markets(
    now: float,
    last_update_by_market: Mapping[str, float],
    max_age: float | Mapping[str, float],
) -> frozenset[str]:
    """Markets whose last update is more than ``max_age`` (one value, or per market) old."""
    out = set()
    for market, t in last_update_by_market.items():
        limit = max_age if isinstance(max_age, int | float) else max_age.get(market)
        if limit is not None and now - t > limit:
            out.add(market)
    return frozenset(out)


class StalenessTracker:
    """Per market, the last vouched time of each source and that source's ``max_age_s``.

    A market is fresh while any of its sources is; an expected market (:meth:`expect`) with no
    value yet is stale. :meth:`transitions` reports what changed since its last call, so the
    daemon logs once per change and pushes the set to the gate.
    """

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, tuple[float, float]]] = {}
        self._expected: set[str] = set()
        self._reported: frozenset[str] = frozenset()

    def expect(self, markets: Iterable[str]) -> None:
        self._expected.update(markets)

    def observe(self, update: FairValueUpdate, max_age_s: float) -> None:
        by_source = self._seen.setdefault(update.market_id, {})
        t = vouched_at(update)
        prev = by_source.get(update.source)
        if prev is None or t >= prev[0]:
            by_source[update.source] = (t, max_age_s)

    def is_fresh(self, market_id: str, source: str, now: float) -> bool:
        entry = self._seen.get(market_id, {}).get(source)
        return entry is not None and now - entry[0] <= entry[1]

    def stale(self, now: float) -> frozenset[str]:
        out = {m for m in self._expected if m not in self._seen}
        for market, by_source in self._seen.items():
            if not any(now - t <= limit for t, limit in by_source.values()):
                out.add(market)
        return frozenset(out)

    def ages(self, now: float) -> dict[str, float | None]:
        """Seconds since the freshest source vouched, per market (None: never), for status."""
        out: dict[str, float | None] = {m: None for m in self._expected}
        for market, by_source in self._seen.items():
            out[market] = now - max(t for t, _ in by_source.values())
        return out

    def transitions(self, now: float) -> tuple[frozenset[str], frozenset[str]]:
        """(newly stale, newly fresh) since the previous call."""
        current = self.stale(now)
        became_stale = current - self._reported
        became_fresh = self._reported - current
        self._reported = current
        return became_stale, became_fresh
