"""Our fills, kept so a daemon's memory does not grow with its uptime: exact totals, a bounded
window of the newest fills, and the per-market sums strategies read.

The engine used to keep every fill in a list (about 140 B each, read by the status page, the
book metrics, the run summary and three strategies). What those readers need is kept here
instead: counts and volume (all fills ever), each market's signed cash and last buy, and each
market's buys of the last :data:`BUY_HORIZON_S` seconds (a daily budget looks back one day).
``len()``, iteration and indexing see only the newest :data:`RECENT_FILLS` fills.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import overload

from kashbot.events import Side
from kashbot.money import Atomic
from kashbot.valuation import Fill

RECENT_FILLS = 1_000  # fills kept in the window (the totals count every fill)
BUY_HORIZON_S = 2 * 86_400.0  # buys kept per market for ``bought_since`` (a daily budget: 1 day)


class FillLog(Sequence[Fill]):
    """Every fill counted, the newest :data:`RECENT_FILLS` kept (a sequence, oldest first)."""

    __slots__ = ("_buys", "_cash", "_last_buy", "_recent", "buys", "sells", "total", "volume")

    def __init__(self, window: int = RECENT_FILLS) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._recent: deque[Fill] = deque(maxlen=window)
        self.total = 0  # fills ever appended
        self.buys = 0
        self.sells = 0
        self.volume: Atomic = 0  # USDC paid or received, all fills
        self._cash: dict[str, Atomic] = {}  # market -> sells received minus buys paid
        self._last_buy: dict[str, float] = {}  # market -> ts of the newest buy
        self._buys: dict[str, deque[tuple[float, Atomic]]] = {}  # market -> recent (ts, usdc)

    def append(self, fill: Fill) -> None:
        self._recent.append(fill)
        self.total += 1
        self.volume += fill.usdc
        m = fill.market_id
        if fill.side is Side.BUY:
            self.buys += 1
            self._cash[m] = self._cash.get(m, 0) - fill.usdc
            self._last_buy[m] = fill.ts  # the newest appended, as a scan from the end finds
            window = self._buys.setdefault(m, deque())
            window.append((fill.ts, fill.usdc))
            edge = fill.ts - BUY_HORIZON_S
            while window and window[0][0] < edge:
                window.popleft()
        else:
            self.sells += 1
            self._cash[m] = self._cash.get(m, 0) + fill.usdc

    # ---- per-market reads (exact over every fill) ----------------------------------------------

    def cash(self, market_id: str) -> Atomic:
        """USDC our sales in the market received minus what our buys there paid (all fills)."""
        return self._cash.get(market_id, 0)

    def last_buy_ts(self, market_id: str) -> float | None:
        """When our last appended buy in the market filled (None: never)."""
        return self._last_buy.get(market_id)

    def bought_since(self, market_id: str, since: float) -> Atomic:
        """USDC our buys in the market paid at or after ``since``; exact while ``since`` is
        within :data:`BUY_HORIZON_S` of the market's newest buy (older buys are forgotten)."""
        window = self._buys.get(market_id)
        return sum(u for ts, u in window if ts >= since) if window else 0

    # ---- the window ----------------------------------------------------------------------------

    def newest(self, n: int) -> list[Fill]:
        """The newest ``n`` fills, oldest first (at most the window)."""
        if n <= 0:
            return []
        recent = self._recent
        return list(recent)[-n:] if n < len(recent) else list(recent)

    def __len__(self) -> int:
        return len(self._recent)

    def __iter__(self) -> Iterator[Fill]:
        return iter(self._recent)

    def __reversed__(self) -> Iterator[Fill]:
        return reversed(self._recent)

    @overload
    def __getitem__(self, i: int) -> Fill: ...
    @overload
    def __getitem__(self, i: slice) -> list[Fill]: ...
    def __getitem__(self, i: int | slice) -> Fill | list[Fill]:
        if isinstance(i, slice):
            return list(self._recent)[i]
        return self._recent[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FillLog):
            return list(self._recent) == list(other._recent) and self.total == other.total
        if isinstance(other, list):
            return self.total == len(self._recent) and list(self._recent) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable
