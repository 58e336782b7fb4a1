"""REST poller: markets, predictions and quotes per market, within the request budget.

Kash pushes nothing about markets (kash-api §12), so polling is the market-data source against
the real API. Budget rules, because the quota is shared per *user* with order traffic:

* every request goes through the client, whose ``RequestBudget`` (one token bucket per user) and
  ETag cache apply; a 304 costs a request but no parsing, and an unchanged market emits nothing;
* paced by the budget (``budget_paced=True``, the daemon's wiring): the poller sends as fast as
  its jobs are due and lets the client's ``RequestBudget`` pace every request on its bucket (a
  read waits exactly until the bucket has room for it and the reserve it keeps for writes, and
  never while a write waits). Under sustained demand the poller then uses the whole configured
  share with no gap longer than the bucket's refill of one request, and order traffic still goes
  first. It does not stop at ``reserve_fraction``: the bucket already keeps every window under
  the server's limit, so stopping there only left the share unused (a fixed wait of up to 60 s);
* without a budget (``budget_paced=False``) it reads the server's last ``X-RateLimit-Remaining``
  and stretches its intervals as it falls (:func:`poll_stretch`); at or below
  ``reserve_fraction`` of the limit it stops until the window resets, leaving that headroom to
  orders;
* jobs due at the same time run markets first, then predictions, then quotes (cheapest to skip);
* a 429/503 with ``Retry-After`` pauses the whole poller for that long.

Market discovery (``markets: all`` or a chain selection): a ``discover`` job lists the venue's
ACTIVE markets every ``discover_interval`` (through the same budget; the ETag cache makes an
unchanged list a 304), starts polling the new ones the selection takes and tells
``on_new_markets``. A market whose ``retire`` says so (settled, nothing left to redeem) is
dropped. Every poll error goes to ``on_error`` (the risk gate halts on a wrong API version pin).

A quote is also how the pool is seen: :func:`kashbot.sources.convert.pool_from_buy_quote`.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field

from kashbot import amm
from kashbot.client.errors import KashError
from kashbot.client.models import Market, Page, Prediction, Quote
from kashbot.client.ratelimit import RateLimitState
from kashbot.clock import Clock
from kashbot.events import Event, PriceChange
from kashbot.money import usdc_to_atomic
from kashbot.sources.convert import (
    market_snapshot,
    pool_from_buy_quote,
    prediction_seen,
    quote_seen,
)
from kashbot.sources.watchdog import StalenessWatchdog
from kashbot.units import UsdcDecimal

log = structlog.get_logger("kashbot.poller")

Emit = Callable[[Event], None]
JobKind = Literal["discover", "markets", "predictions", "quotes"]
_PRIORITY: dict[JobKind, int] = {"discover": 0, "markets": 1, "predictions": 2, "quotes": 3}
PER_MARKET: tuple[JobKind, ...] = ("markets", "predictions", "quotes")
MAX_STRETCH = 8.0


class PollClient(Protocol):
    """The read-only subset of ``KashClient`` the poller uses."""

    @property
    def rate_limit(self) -> RateLimitState | None: ...

    async def get_market(self, market_id: str) -> Market: ...

    async def list_markets(
        self, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[Market]: ...

    async def list_predictions(
        self, market_id: str, *, limit: int | None = None
    ) -> Page[Prediction]: ...

    async def get_quote(
        self, market_id: str, outcome_index: int, action: Literal["buy", "sell"], amount: int
    ) -> Quote: ...


def poll_stretch(
    state: RateLimitState | None, reserve_fraction: float, now: float
) -> tuple[float, float | None]:
    """(interval multiplier, pause-until) from the server's last rate-limit headers.

    Full speed while the quota is plentiful; intervals grow as ``Remaining`` approaches the
    reserve (x1 at a full window up to x8 near the reserve); at or under it, pause until the
    window resets (or 60 s if the server did not say when).
    """
    if state is None:
        return 1.0, None
    if state.retry_after_s is not None and state.status in (429, 503):
        return MAX_STRETCH, state.observed_at + state.retry_after_s
    if not state.limit or state.remaining is None:
        return 1.0, None
    frac = state.remaining / state.limit
    if frac <= reserve_fraction:
        reset = state.reset_epoch_s
        return MAX_STRETCH, reset if reset is not None and reset > now else now + 60.0
    headroom = (frac - reserve_fraction) / (1.0 - reserve_fraction)
    return min(MAX_STRETCH, 1.0 / max(headroom, 1.0 / MAX_STRETCH)), None


@dataclass(order=True, slots=True)
class _Job:
    due: float
    priority: int
    kind: JobKind
    market_id: str


def quotable(market: Market, now: float) -> bool:
    """Can the venue quote this market: ACTIVE (or status unknown) and not past ``freezeAt``."""
    if market.status not in (None, "ACTIVE"):
        return False
    return market.freeze_at is None or now < market.freeze_at.timestamp()


class PollerConfig(BaseModel):
    """``sources.poller``: the one place the poller's settings and their defaults are written
    (the daemon passes the section to :class:`PollerSource` as it is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    markets_interval_s: float = Field(10.0, gt=0)
    predictions_interval_s: float = Field(5.0, ge=0, description="0 disables")
    quotes_interval_s: float = Field(15.0, ge=0, description="0 disables")
    quote_amount_usdc: UsdcDecimal = Field(Decimal(1), gt=0)
    reserve_fraction: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="without a request budget only: share of X-RateLimit-Remaining kept for orders",
    )
    stale_after_s: float = Field(60.0, gt=0)
    discover_interval_s: float = Field(
        60.0,
        ge=0,
        description="markets: all / {chains}: list ACTIVE markets this often for new ones (0: off)",
    )


class PollerSource:
    """Polls per ``cfg`` (default: the config's defaults); discovery runs only with ``selects``."""

    name = "poller"

    def __init__(
        self,
        client: PollClient,
        markets: Sequence[str] | Callable[[], Sequence[str]],
        clock: Clock,
        cfg: PollerConfig | None = None,
        *,
        fees: amm.Fees = amm.DEFAULT_FEES,
        selects: Callable[[Market], bool] | None = None,
        on_new_markets: Callable[[list[str]], None] | None = None,
        retire: Callable[[str], bool] | None = None,
        on_error: Callable[[KashError], None] | None = None,
        budget_paced: bool = False,
    ) -> None:
        cfg = cfg or PollerConfig()
        self.client = client
        self.budget_paced = budget_paced
        self._markets = markets
        self.clock = clock
        self.intervals: dict[JobKind, float] = {
            "discover": cfg.discover_interval_s if selects is not None else 0.0,
            "markets": cfg.markets_interval_s,
            "predictions": cfg.predictions_interval_s,
            "quotes": cfg.quotes_interval_s,
        }
        self.quote_amount = usdc_to_atomic(cfg.quote_amount_usdc)
        self.reserve_fraction = cfg.reserve_fraction
        self.stale_after = cfg.stale_after_s
        self.fees = fees
        self.requests = 0
        self.errors = 0
        self.paused_s = 0.0
        self._last_market: dict[str, Market] = {}
        self._head: dict[str, str | None] = {}  # market -> newest prediction id seen
        self._jobs: list[_Job] = []
        self.selects = selects
        self.on_new_markets = on_new_markets
        self.retire = retire
        self.on_error = on_error
        self.discovered: list[str] = []  # markets found while running
        self.retired: set[str] = set()
        self._watchdog: StalenessWatchdog | None = None

    def markets(self) -> list[str]:
        given = list(self._markets() if callable(self._markets) else self._markets)
        return [m for m in dict.fromkeys([*given, *self.discovered]) if m not in self.retired]

    def _schedule(self, kind: JobKind, market_id: str, due: float) -> None:
        if self.intervals[kind] > 0:
            heapq.heappush(self._jobs, _Job(due, _PRIORITY[kind], kind, market_id))

    async def run(self, emit: Emit) -> None:
        watchdog = self._watchdog = StalenessWatchdog(self.name, self.stale_after, emit)
        now = self.clock.now()
        markets = self.markets()
        watchdog.watch(markets, now)
        self._jobs = []
        for m in markets:
            for kind in PER_MARKET:
                self._schedule(kind, m, now)
        self._schedule("discover", "", now + self.intervals["discover"])
        while self._jobs:
            job = heapq.heappop(self._jobs)
            now = self.clock.now()
            if job.due > now:
                await self.clock.sleep(job.due - now)
            stretch, pause_until = self._stretch()
            if pause_until is not None and pause_until > self.clock.now():
                wait = pause_until - self.clock.now()
                log.info("poller_yielding_budget", wait_s=round(wait, 2))
                self.paused_s += wait
                await self.clock.sleep(wait)
            if job.market_id in self.retired:
                continue
            ok = await self._run_job(job, emit, watchdog)
            watchdog.check(self.clock.now())
            if job.kind == "markets" and self.retire is not None and self.retire(job.market_id):
                self._retire(job.market_id)
                continue
            interval = self.intervals[job.kind] * stretch * (1 if ok else 2)
            self._schedule(job.kind, job.market_id, self.clock.now() + interval)

    def _stretch(self) -> tuple[float, float | None]:
        """Interval multiplier and pause-until: from the headers, or only a server's
        ``Retry-After`` when the budget paces (its bucket, not ``Remaining``, sets the rate)."""
        stretch, pause_until = poll_stretch(
            self.client.rate_limit, self.reserve_fraction, self.clock.now()
        )
        if not self.budget_paced:
            return stretch, pause_until
        state = self.client.rate_limit
        if state is not None and state.retry_after_s is not None and state.status in (429, 503):
            return 1.0, pause_until
        return 1.0, None

    async def _run_job(self, job: _Job, emit: Emit, watchdog: StalenessWatchdog) -> bool:
        handlers: dict[JobKind, Callable[[str, Emit, StalenessWatchdog], Awaitable[None]]] = {
            "discover": self._discover,
            "markets": self._poll_market,
            "predictions": self._poll_predictions,
            "quotes": self._poll_quote,
        }
        self.requests += 1
        try:
            await handlers[job.kind](job.market_id, emit, watchdog)
        except KashError as exc:
            self.errors += 1
            log.warning(
                "poll_failed",
                kind=job.kind,
                market_id=job.market_id,
                code=exc.code,
                status=exc.status,
                error_type=type(exc).__name__,
                error=str(exc),  # code, status, the venue's message, request id; never the key
            )
            if self.on_error is not None:
                self.on_error(exc)
            return False
        return True

    async def _discover(self, _: str, emit: Emit, watchdog: StalenessWatchdog) -> None:
        """List the ACTIVE markets; poll the ones the selection takes that are new to us."""
        assert self.selects is not None
        known = set(self.markets()) | self.retired
        found: list[Market] = []
        cursor: str | None = None
        while True:
            page = await self.client.list_markets(status="ACTIVE", cursor=cursor)
            found.extend(m for m in page.data if m.id not in known and self.selects(m))
            cursor = page.cursor
            if not page.has_more or cursor is None:
                break
        if not found:
            return
        now = self.clock.now()
        new = [m.id for m in found]
        self.discovered.extend(new)
        watchdog.watch(new, now)
        for m in found:
            self._last_market[m.id] = m
            emit(market_snapshot(m, now))
            for kind in PER_MARKET:
                self._schedule(kind, m.id, now)
        log.info("markets_discovered", count=len(new), ids=new)
        if self.on_new_markets is not None:
            self.on_new_markets(new)

    def _retire(self, market_id: str) -> None:
        """Stop polling a settled market (its jobs are dropped as they come due)."""
        self.retired.add(market_id)
        if self._watchdog is not None:
            self._watchdog.forget(market_id)
        log.info("market_retired", market_id=market_id)

    async def _poll_market(self, market_id: str, emit: Emit, watchdog: StalenessWatchdog) -> None:
        market = await self.client.get_market(market_id)
        now = self.clock.now()
        watchdog.touch(market_id, now)
        if self._last_market.get(market_id) == market:
            return  # 304 or unchanged: nothing new to say
        self._last_market[market_id] = market
        emit(market_snapshot(market, now))

    async def _poll_predictions(
        self, market_id: str, emit: Emit, watchdog: StalenessWatchdog
    ) -> None:
        page = await self.client.list_predictions(market_id, limit=50)
        now = self.clock.now()
        watchdog.touch(market_id, now)
        if not page.data:
            self._head.setdefault(market_id, None)
            return
        first_poll = market_id not in self._head
        head = self._head.get(market_id)
        new: list[Prediction] = []
        for p in page.data:  # newest first; stop at the last one we saw
            if p.id == head:
                break
            new.append(p)
        self._head[market_id] = page.data[0].id
        if first_poll:
            return  # history is already in the market's state; only new trades are events
        for p in reversed(new):
            emit(prediction_seen(p, now))

    async def _poll_quote(self, market_id: str, emit: Emit, watchdog: StalenessWatchdog) -> None:
        last = self._last_market.get(market_id)
        if last is not None and not quotable(last, self.clock.now()):
            return  # a frozen or settled pool answers 409 and cannot move: save the request
        quote = await self.client.get_quote(market_id, 0, "buy", self.quote_amount)
        now = self.clock.now()
        watchdog.touch(market_id, now)
        emit(quote_seen(market_id, quote, self.quote_amount, now))
        pool = pool_from_buy_quote(quote, self.fees)
        if pool is not None:
            emit(PriceChange(now, market_id, amm.probabilities(pool), pool))
