"""Run a backtest: the daemon's engine, strategies, risk gate, executor and store, in sim time.

Wiring (the same classes ``kashbot run`` assembles, see ``kashbot.engine.daemon``)::

    recorded inputs ─┐                                 ┌─ Engine(inline_intents) ─ strategies
    (or sim noise)   ├─▶ sim Venue (pools, keys, caps) ─┤        │ OrderIntent
                     │     │ ticks → PredictionSeen +   │        ▼
                     │     │ PriceChange(pool)          │  OrderRouter → RiskGate → Executor
                     │     │ webhooks → on_trade_update │        │ create_trade
                     │     ▼                            │        ▼
                     └── driver: SimClock jumps to the  └── SimVenueAdapter (TradingVenue)
                         next due moment (recorded event, venue step, engine timer)

No sleeping: the driver takes the earliest of (next recorded event, the venue's next scheduled
step, the clock's next sleeper), moves the ``SimClock`` there and processes it. Everything the
engine sees about markets is derived from the venue, so our own trades move the prices later
events see. With ``data`` the recorded trades of others are re-applied to the pools in order
(``Venue.apply_external_trade``); with ``scenario`` the venue's seeded noise traders make the flow.
Our trades pass through the venue's lifecycle (``latency_s`` from submit to execution) and come
back through its webhook outbox, exactly as in paper trading.

:func:`run_unit` is the picklable unit of work for sweeps: plain data in, plain data out.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import sys
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from rich.progress import Progress

from kashbot import amm
from kashbot.backtest.config import BacktestSettings, split_config
from kashbot.backtest.metrics import (
    Book,
    EquityPoint,
    InventoryPoint,
    RunTotals,
    compute_metrics,
    mark_value,
)
from kashbot.backtest.observed import (
    ObservedPlan,
    RecordedTrade,
    build_plan,
    intent_key,
    match_own_predictions,
)
from kashbot.backtest.recording import Recordable, read_journal
from kashbot.backtest.report import Report, RunArtifacts, write_outputs
from kashbot.backtest.venue_adapter import SimVenueAdapter
from kashbot.client.webhooks import construct_event
from kashbot.clock import SimClock
from kashbot.config import KashbotConfig
from kashbot.engine.engine import Engine
from kashbot.engine.events import (
    DataFresh,
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PredictionSeen,
    PriceChange,
    RiskDenied,
    Side,
    StaleData,
    TradeUpdate,
)
from kashbot.engine.strategy import build_strategy
from kashbot.execution.executor import Executor
from kashbot.execution.router import OrderRouter
from kashbot.money import WAD, Wad
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import Limits
from kashbot.sim.errors import SimError
from kashbot.sim.models import Delivery, Prediction
from kashbot.sim.scenario import Scenario, ScenarioError, load_scenario
from kashbot.sim.venue import MarketTick, Venue
from kashbot.sources.webhook import route_to
from kashbot.store.store import Store
from kashbot.valuation import Fill

log = structlog.get_logger("kashbot.backtest")

RUN_ID = "bt"  # intent ids are "<strategy>-bt-<n>": stable across runs of the same inputs
BACKTEST_KEY = "kash_test_" + "B" * 32  # data mode's synthetic key (never leaves the process)
BACKTEST_USER = "backtest"
WEBHOOK_URL = "http://backtest.invalid/kash/webhook"  # deliveries go to an in-process sink
NEVER = 1e18  # executor poll timer: webhooks are reliable in-process, so never poll
REPLAY_GC_GEN0 = 10_000  # allocations between young collections while replaying (CPython: 700)
DATA_MODE_CASH = Decimal(10_000)
PROGRESS_EVERY = 2_000
_INF = float("inf")


class BacktestError(ValueError):
    """Inputs a backtest cannot run on (no data, unknown tier, nothing to trade)."""


# ---- inputs -------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _input_names(block: Mapping[str, Any]) -> dict[str, Any]:
    """The ``backtest:`` block with its input files by name only.

    A path differs between checkouts of the same inputs (the CLI resolves it), so keeping it
    would make the report's bytes depend on where it ran; the files' content is named by
    ``inputs.data_sha256`` / ``inputs.scenario_sha256``.
    """
    doc = dict(block)
    for key in ("data", "scenario"):
        if doc.get(key) is not None:
            doc[key] = Path(str(doc[key])).name
    return doc


def settings_document(settings: BacktestSettings) -> dict[str, Any]:
    """The settings for ``report.json`` (input files by name)."""
    return _input_names(json.loads(settings.model_dump_json()))


def config_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config mapping as run (input files by name)."""
    doc = dict(config)
    if isinstance(doc.get("backtest"), Mapping):
        doc["backtest"] = _input_names(doc["backtest"])
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def own_trade_predictions(events: Sequence[Recordable]) -> set[int]:
    """Indices of recorded ``PredictionSeen`` rows that were *our* trades (not others' flow)."""
    return set(match_own_predictions(events).values())


def _wad_decimal_str(w: Wad) -> str:
    return str(Decimal(w) / WAD)


def data_scenario(
    events: Sequence[Recordable], settings: BacktestSettings, tier: str, start: float
) -> dict[str, Any]:
    """A venue for a recording: its markets (from the first snapshot of each), one key of ours."""
    markets: dict[str, MarketSnapshot] = {}
    for e in events:
        if isinstance(e, MarketSnapshot) and e.market_id not in markets:
            markets[e.market_id] = e
    if not markets:
        raise BacktestError("the recording has no MarketSnapshot: nothing to build pools from")
    cash = settings.initial_cash_usdc or DATA_MODE_CASH
    market_cfgs = []
    for mid, snap in markets.items():
        n = len(snap.probabilities)
        probs = [_wad_decimal_str(p) for p in snap.probabilities]
        market_cfgs.append(
            {
                "id": mid,
                "title": mid,
                "outcomes": list(snap.labels)
                if len(snap.labels) == n
                else [str(i) for i in range(n)],
                "status": "ACTIVE",
                "liquidity_usdc": str(settings.default_liquidity_usdc),
                "initial_probabilities": probs,
                "freeze_after_s": None
                if snap.freeze_at is None
                else max(snap.freeze_at - start, 0),
                "noise": {"enabled": False},
            }
        )
    return {
        "markets": market_cfgs,
        "users": [{"id": BACKTEST_USER, "balance_usdc": str(cash)}],
        "keys": [
            {
                "name": "backtest",
                "api_key": BACKTEST_KEY,
                "user": BACKTEST_USER,
                "tier": tier,
                "scopes": [
                    "markets:read",
                    "markets:quote",
                    "portfolio:read",
                    "trades:read",
                    "trades:write",
                ],
                "webhook_url": WEBHOOK_URL,
            }
        ],
    }


def meta_scenario(meta: Mapping[str, Any], events: Sequence[Recordable]) -> Scenario | None:
    """The paper run's own scenario (named in the journal header), noise off, if it still loads.

    Its pools are the ones the recorded run started from, exactly; the recorded flow replaces
    the noise traders. None (fall back to pools seeded from the recorded chances) for live
    recordings, a scenario that no longer loads, or one without every recorded market.
    """
    if meta.get("mode") != "paper":
        return None
    ref = meta.get("scenario")
    if ref is not None and not isinstance(ref, str):
        return None
    try:
        sc = load_scenario(ref)
    except ScenarioError as exc:
        log.warning("journal_scenario_unavailable", scenario=ref, error=str(exc))
        return None
    known = {m.id for m in sc.markets}
    if any(
        isinstance(e, Event) and getattr(e, "market_id", None) not in (None, *known) for e in events
    ):
        return None
    quiet = tuple(
        m.model_copy(
            update={"noise": m.noise.model_copy(update={"enabled": False}), "resolve": None}
        )
        for m in sc.markets
    )
    return sc.model_copy(update={"markets": quiet, "faults": ()})


def _tier(cfg: KashbotConfig) -> str:
    return str(cfg.account.tier or cfg.venue.sim.key_tier)


def prepare_scenario(
    scenario: Scenario,
    cfg: KashbotConfig,
    settings: BacktestSettings,
    *,
    time_scale: float = 1.0,
    observed: bool = False,
) -> tuple[Scenario, str]:
    """Our key (the config's tier) with an in-process webhook URL, cash and latency applied.

    Lifecycle seconds are scenario seconds (the venue divides them by ``time_scale``); an
    observed replay puts the whole latency in ``pending`` so that one number places a trade.
    """
    tier = _tier(cfg)
    key = next((k for k in scenario.keys if k.tier == tier and "trades:write" in k.scopes), None)
    if key is None:
        raise BacktestError(f"the scenario has no key of tier {tier!r} with trades:write")
    keys = tuple(
        k.model_copy(update={"webhook_url": WEBHOOK_URL}) if k.name == key.name else k
        for k in scenario.keys
    )
    update: dict[str, Any] = {"keys": keys}
    if settings.initial_cash_usdc is not None:
        update["users"] = tuple(
            u.model_copy(update={"balance_usdc": str(settings.initial_cash_usdc)})
            if u.id == key.user
            else u
            for u in scenario.users
        )
    lc = scenario.lifecycle
    pending = None
    if settings.latency_s is not None:
        pending = settings.latency_s * time_scale
    elif observed:
        pending = lc.pending_s + lc.validating_s + lc.executing_s
    if pending is not None:
        update["lifecycle"] = lc.model_copy(
            update={"pending_s": pending, "validating_s": 0.0, "executing_s": 0.0}
        )
    return scenario.model_copy(update=update), key.api_key


# ---- the run ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tape:
    """What the run produced, gathered as it happens."""

    settings: BacktestSettings
    book: Book
    fills: list[Fill] = field(default_factory=list)
    equity: list[EquityPoint] = field(default_factory=list)
    inventory: list[InventoryPoint] = field(default_factory=list)
    prices: dict[str, list[tuple[float, tuple[Wad, ...]]]] = field(default_factory=dict)
    fair: dict[str, list[tuple[float, tuple[Wad, ...]]]] = field(default_factory=dict)
    denials: list[str] = field(default_factory=list)
    intents: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    skipped_external: int = 0

    def on_price(self, ev: PriceChange) -> None:
        series = self.prices.setdefault(ev.market_id, [])
        if not series or ev.ts - series[-1][0] >= self.settings.sample_interval_s:
            series.append((ev.ts, ev.probabilities))

    def on_fair(self, ev: FairValueUpdate) -> None:
        self.fair.setdefault(ev.market_id, []).append((ev.ts, ev.probabilities))

    def on_denied(self, ev: RiskDenied) -> None:
        self.denials.append(ev.reason)

    def on_trade(self, ev: TradeUpdate) -> None:
        if ev.status in ("failed", "rejected", "cancelled", "expired"):
            self.failed += 1

    def on_intent(self, intent: OrderIntent) -> None:
        self.intents.append(
            {
                "ts": intent.created_ts,
                "intent_id": intent.intent_id,
                "strategy": intent.strategy,
                "market_id": intent.market_id,
                "outcome": intent.outcome,
                "side": intent.side.value,
                "amount": str(intent.amount),
                "limit_probability": None
                if intent.limit_probability is None
                else str(intent.limit_probability),
                "closing": intent.closing,
                "reason": intent.reason,
            }
        )


class _Driver:
    def __init__(
        self,
        cfg: KashbotConfig,
        settings: BacktestSettings,
        scenario: Scenario,
        api_key: str,
        seed: int,
        start: float,
        recorded: Sequence[Event],
        recorded_pools: Mapping[str, amm.Pool],
        progress: bool,
        *,
        time_scale: float = 1.0,
        plan: ObservedPlan | None = None,
    ) -> None:
        self.cfg = cfg
        self.settings = settings
        self.clock = SimClock(start=start)
        self.venue = Venue(
            scenario,
            clock=self.clock,
            seed=seed,
            time_scale=time_scale,
            webhook_sink=self._on_delivery,
        )
        for mid, pool in recorded_pools.items():
            self.venue.markets[mid].pool = pool
        self.venue.listeners.append(self._on_tick)
        self.adapter = SimVenueAdapter(
            self.venue, api_key, enforce_rate_limit=settings.enforce_rate_limit
        )
        key = self.venue.authenticate(api_key)
        self.user_id = key.user_id
        self._hook_secret = key.webhook_secret or ""
        self.recorded = recorded
        self.start = start
        self.progress = progress
        self._pending: deque[tuple[str, Any]] = deque()
        self._last_pool = {mid: m.pool for mid, m in self.venue.markets.items()}
        self.events_fed = 0
        cash = self.venue.users[self.user_id].balance
        self.tape = _Tape(settings, Book(cash=cash))
        self.initial_cash = cash
        # observed replay (None: venue replay)
        self.plan = plan
        self._line = -1  # journal line being replayed
        self._next_recorded = 0  # the recorded intent the next intent of ours should equal
        self._diverged_at: int | None = None  # our intent count when they stopped matching
        self._ours = 0
        self._anchor: dict[str, RecordedTrade] = {}  # our intent id -> its recorded twin
        self._held: dict[int, list[Delivery]] = {}  # journal line -> webhooks to deliver there
        self.anchored_trades = 0
        self.flow_mismatches = 0
        self.fill_mismatches = 0
        if plan is not None:
            self.adapter.latency_for = self._latency_for

    # venue callbacks (synchronous; the driver feeds the engine afterwards, in order)

    def _on_tick(self, tick: MarketTick) -> None:
        before = self._last_pool[tick.market_id]
        after = self.venue.markets[tick.market_id].pool
        self._last_pool[tick.market_id] = after
        self._pending.append(("tick", (tick.prediction, before, after)))

    def _on_delivery(self, d: Delivery) -> int:
        self._pending.append(("hook", d))
        return 200

    # observed replay: our intents against the recorded ones, and where their trades land

    def _match_intent(self, intent: OrderIntent) -> None:
        assert self.plan is not None
        self._ours += 1
        rec = self.plan.recorded
        k = self._next_recorded
        if (
            self._diverged_at is None
            and k < len(rec)
            and intent_key(intent) == intent_key(rec[k].intent)
        ):
            self._anchor[intent.intent_id] = rec[k]
            self._next_recorded += 1
        elif self._diverged_at is None:
            self._diverged_at = self._ours - 1
            log.info("observed_replay_diverged", intent=self._ours - 1, intent_id=intent.intent_id)

    def _latency_for(self, client_request_id: str | None) -> float | None:
        """Execute our trade where its recorded twin's fill sits in the flow (else: constant)."""
        assert self.plan is not None
        rt = self._anchor.get(client_request_id or "")
        if rt is None or rt.execute_before is None or rt.execute_before <= self._line:
            return None
        latency = self.plan.due_time(rt.execute_before) - self.clock.now()
        if latency <= 0:
            return None
        self.anchored_trades += 1
        return latency

    def _notify_line(self, d: Delivery) -> int | None:
        """The journal line where the recorded run heard about this trade, if still ahead."""
        if self.plan is None:
            return None
        trade = self.venue.trades.get(json.loads(d.body)["data"]["tradeId"])
        rt = self._anchor.get(trade.client_request_id or "") if trade is not None else None
        if rt is None or rt.notify_at is None or rt.notify_at <= self._line:
            return None
        return rt.notify_at

    async def _deliver(self, d: Delivery) -> None:
        """The paper daemon's webhook path minus HTTP: verify, parse, route to the router."""
        event = construct_event(
            self._hook_secret, d.headers["X-Kash-Signature"], d.body, now_ms=self.clock.now_ms()
        )
        await route_to(self.router.on_trade_update, event)
        await self.engine.drain()

    def _check_fill(self, pred: Prediction) -> None:
        """Observed replay: our fill must equal the recorded run's (same pool, same maths)."""
        trade = self.venue.trades.get(pred.trade_id or "")
        rt = self._anchor.get(trade.client_request_id or "") if trade is not None else None
        if rt is None or rt.fill is None:
            return
        mine = _prediction_event(pred)
        if (mine.usdc, mine.tokens, mine.probability_after) != (
            rt.fill.usdc,
            rt.fill.tokens,
            rt.fill.probability_after,
        ):
            self.fill_mismatches += 1

    # assembly

    async def setup(self) -> None:
        cfg = self.cfg
        self.store = await Store.open(":memory:", sync=True)  # no thread hop: 2.5x faster
        self.engine = Engine(
            self.clock,
            run_id=RUN_ID,
            inline_intents=True,
            max_inflight=cfg.engine.max_inflight_intents,
        )
        limits = Limits.from_config(cfg.risk, _tier(cfg))
        self.gate = RiskGate(
            limits,
            clock=self.clock,
            emit=self.engine.emit,
            max_consecutive_failures=cfg.risk.max_consecutive_failures,
        )
        executor = Executor(
            self.adapter,
            self.gate,
            self.store,
            clock=self.clock,
            emit=self.engine.emit,
            poll_after_s=NEVER,
            poll_interval_s=NEVER,
            max_follow_s=NEVER,
        )
        self.router = OrderRouter(
            self.gate,
            self.adapter,
            self.store,
            emit=self.engine.emit,
            clock=self.clock,
            executor=executor,
            adopt_venue_spend=False,
        )
        self.engine.attach_router(self.router)
        bus = self.engine.bus
        bus.subscribe(PriceChange, self.tape.on_price)
        bus.subscribe(FairValueUpdate, self.tape.on_fair)
        bus.subscribe(RiskDenied, self.tape.on_denied)
        bus.subscribe(TradeUpdate, self.tape.on_trade)
        self.engine.intent_listeners.append(self.tape.on_intent)
        if self.plan is not None:
            self.engine.intent_listeners.append(self._match_intent)
        self.engine.attach_risk(self.gate)  # as the daemon: staleness, fills, position syncs
        await self.router.recover()
        markets = list(self.venue.markets) if cfg.markets == "all" else list(cfg.markets)
        if not cfg.strategies:
            raise BacktestError("the config has no strategies: nothing to backtest")
        for s in cfg.strategies:
            strategy = build_strategy(
                s.name, s.params, strategy_id=s.id, markets=s.markets or markets
            )
            self.engine.add_strategy(strategy, timers=s.timers)
            fair = getattr(strategy.params, "fair_for", None)
            for mid in markets:
                value = fair(mid) if callable(fair) else None
                if value:
                    self.tape.fair.setdefault(mid, []).append((self.start, tuple(value)))

    # the loop

    async def _feed(self, event: Event) -> None:
        self.events_fed += 1
        await self.engine.feed(event)

    async def _flush(self) -> None:
        """Hand the engine everything the venue produced, in the order it happened."""
        pending = self._pending
        while pending:
            kind, item = pending.popleft()
            if kind == "tick":
                pred, before, after = item
                if self.plan is None:  # venue replay: what the engine sees comes from the pools
                    await self._feed(_prediction_event(pred))
                    await self._feed(
                        PriceChange(pred.ts, pred.market_id, pred.probabilities, after)
                    )
                if pred.source == "user" and pred.trade_id is not None:
                    self._book_fill(pred, before)
                    if self.plan is not None:
                        self._check_fill(pred)
            else:
                line = self._notify_line(item)
                if line is None:
                    await self._deliver(item)
                else:
                    self._held.setdefault(line, []).append(item)

    def _book_fill(self, pred: Prediction, before: amm.Pool) -> None:
        trade = self.venue.trades[pred.trade_id or ""]
        if trade.user_id != self.user_id:
            return
        fees = self.venue.fees
        if pred.side == "buy":
            usdc, tokens = pred.usdc_in or 0, pred.tokens_out or 0
            fee = amm.fee_of(usdc, fees.protocol_bps)
            side = Side.BUY
        else:
            usdc, tokens = pred.usdc_out or 0, pred.tokens_in or 0
            sold = amm.sell(before, pred.outcome, tokens, fees)
            fee = sold.amm_fee + sold.protocol_fee
            side = Side.SELL
        fill = Fill(
            ts=pred.ts,
            trade_id=trade.id,
            intent_id=trade.client_request_id or "",
            market_id=pred.market_id,
            outcome=pred.outcome,
            side=side,
            usdc=usdc,
            tokens=tokens,
            fee=fee,
            prob_before=amm.probability(before, pred.outcome),
            prob_after=pred.probability,
            reason=trade.metadata.get("kb_strategy", ""),
        )
        self.tape.book.apply(fill)
        self.tape.fills.append(fill)
        pos = self.tape.book.positions[(fill.market_id, fill.outcome)]
        self.tape.inventory.append(
            InventoryPoint(fill.ts, fill.market_id, fill.outcome, pos.tokens)
        )
        self._mark(fill.ts)

    def _mark(self, ts: float) -> None:
        pools = {mid: m.pool for mid, m in self.venue.markets.items()}
        book = self.tape.book
        value = mark_value(book.positions, pools, self.venue.fees)
        self.tape.equity.append(EquityPoint(ts, book.cash, value, book.cash + value))

    async def _advance(self, t: float) -> None:
        """Move time to ``t``: marks on the way, engine timers, then the venue's due steps."""
        while self._next_mark <= t:
            self._mark(self._next_mark)
            self._next_mark += self.settings.mark_interval_s
        if self.clock.advance_to(t):
            for _ in range(8):  # woken timer tasks run to their next await
                await asyncio.sleep(0)
            await self.engine.drain()
        self.venue.advance(t)
        await self._flush()

    async def _apply_recorded(self, ev: Event) -> None:
        if isinstance(ev, PredictionSeen):
            amount = ev.usdc if ev.side is Side.BUY else ev.tokens
            try:
                self.venue.apply_external_trade(ev.market_id, ev.outcome, ev.side.value, amount)
            except SimError:
                self.tape.skipped_external += 1  # e.g. our trades left too little supply
            await self._flush()
        elif isinstance(ev, MarketSnapshot):
            m = self.venue.markets.get(ev.market_id)
            if m is not None and ev.status != "ACTIVE" and m.tradeable(self.clock.now()):
                self.venue.freeze_market(ev.market_id)
            pool = m.pool if m is not None else None
            probs = amm.probabilities(pool) if pool is not None else ev.probabilities
            await self._feed(
                MarketSnapshot(ev.ts, ev.market_id, ev.status, probs, pool, ev.freeze_at, ev.labels)
            )
        elif isinstance(ev, FairValueUpdate | StaleData | DataFresh):
            await self._feed(ev)
        # PriceChange and QuoteSeen are re-derived from the venue's pools; not replayed.

    async def run(self, end: float) -> None:
        self._next_mark = self.start
        await self._advance(self.start)
        for mid, m in self.venue.markets.items():  # what a stream subscription starts with
            await self._feed(
                MarketSnapshot(
                    self.start,
                    mid,
                    m.status,
                    amm.probabilities(m.pool),
                    m.pool,
                    m.freeze_at,
                    tuple(m.labels),
                )
            )
        await self.engine.start()
        truth = self.cfg.sources.sim_truth
        truth_every = truth.interval_s if truth.enabled and not self.recorded else None
        next_truth = self.start if truth_every is not None else _INF
        recorded = self.recorded
        n = len(recorded)
        i = 0
        show = self.progress
        with Progress(disable=not show, transient=True) as bar:
            task = bar.add_task("backtest", total=n if n else end - self.start)
            steps = 0
            while True:
                t_rec = recorded[i].ts if i < n else _INF
                t_ven = self.venue.next_due()
                t_clk = self.clock.next_deadline()
                t = min(
                    t_rec,
                    next_truth,
                    t_ven if t_ven is not None else _INF,
                    t_clk if t_clk is not None else _INF,
                )
                if t > end:
                    break
                t = max(t, self.clock.now())
                await self._advance(t)
                if next_truth <= t and truth_every is not None:
                    for mid in self.venue.markets:
                        await self._feed(
                            FairValueUpdate(t, mid, self.venue.truth(mid), "sim_truth")
                        )
                    next_truth += truth_every
                while i < n and recorded[i].ts <= t:
                    await self._apply_recorded(recorded[i])
                    i += 1
                steps += 1
                if show and steps % PROGRESS_EVERY == 0:
                    bar.update(task, completed=i if n else t - self.start)
        await self._advance(end)

    async def _advance_through(self, t: float) -> None:
        """Everything due up to ``t`` (engine timers, venue steps), each at its own time."""
        while True:
            t_ven = self.venue.next_due()
            t_clk = self.clock.next_deadline()
            nxt = min(t_ven if t_ven is not None else _INF, t_clk if t_clk is not None else _INF)
            if nxt >= t:
                break
            await self._advance(max(nxt, self.clock.now()))
        await self._advance(t)

    async def run_observed(self, end: float) -> None:
        """Replay the journal line by line; see :mod:`kashbot.backtest.observed`."""
        plan = self.plan
        assert plan is not None
        self._next_mark = self.start
        await self._advance(self.start)
        await self.engine.start()
        for line, ev in enumerate(plan.events):
            await self._advance_through(plan.times[line])
            self._line = line
            for d in self._held.pop(line, []):
                await self._deliver(d)
            if line == plan.strategies_stop_at:
                # as the recorded daemon: no new intents; trade updates are still followed
                await self.engine.shutdown(0.0)
            if plan.flow[line]:
                assert isinstance(ev, PredictionSeen)
                amount = ev.usdc if ev.side is Side.BUY else ev.tokens
                try:
                    pred = self.venue.apply_external_trade(
                        ev.market_id, ev.outcome, ev.side.value, amount
                    )
                except SimError:
                    self.tape.skipped_external += 1
                else:
                    if pred.probability != ev.probability_after:
                        self.flow_mismatches += 1  # the pools are not the recorded run's
                await self._flush()
            if plan.observe[line]:
                assert isinstance(ev, Event)
                if isinstance(ev, MarketSnapshot):
                    m = self.venue.markets.get(ev.market_id)
                    if m is not None and ev.status != "ACTIVE" and m.tradeable(self.clock.now()):
                        self.venue.freeze_market(ev.market_id)
                await self._feed(ev)
        self._line = len(plan.events)
        for line in sorted(self._held):
            for d in self._held.pop(line):
                await self._deliver(d)
        await self._advance_through(end)

    def observed_metrics(self) -> dict[str, Any]:
        assert self.plan is not None
        return {
            "recorded_intents": len(self.plan.recorded),
            "matched_intents": self._next_recorded,
            "first_divergence": self._diverged_at,
            "anchored_trades": self.anchored_trades,
            "flow_price_mismatches": self.flow_mismatches,
            "own_fill_mismatches": self.fill_mismatches,
        }

    async def close(self) -> None:
        await self.engine.supervisor.stop()  # the timer task, if any
        await self.router.close()
        await self.store.close()


@contextmanager
def replay_gc(gen0: int = REPLAY_GC_GEN0) -> Iterator[None]:
    """Less cyclic GC during the replay loop; the process's settings come back afterwards.

    The loop allocates many short-lived events and dataclasses and few cycles, so CPython's
    default (a young collection every 700 net allocations) spent 10-20 % of a backtest scanning.
    ``gc.freeze()`` moves everything set up so far (journal events, venue, engine) out of the
    collector's reach; ``gc.unfreeze()`` hands it back, so a sweep running many backtests in one
    process does not keep their garbage forever.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(gen0, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _prediction_event(p: Prediction) -> PredictionSeen:
    if p.side == "buy":
        usdc, tokens = p.usdc_in or 0, p.tokens_out or 0
    else:
        usdc, tokens = p.usdc_out or 0, p.tokens_in or 0
    return PredictionSeen(
        p.ts, p.market_id, p.id, p.outcome, Side(p.side), usdc, tokens, p.probability
    )


# ---- entry points -------------------------------------------------------------------------------


async def run_backtest_async(
    config: Mapping[str, Any],
    *,
    data: str | Path | Sequence[Recordable] | None = None,
    scenario: str | Path | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> Report:
    """See :func:`run_backtest`."""
    cfg, settings = split_config(config)
    data = data if data is not None else settings.data
    scenario = scenario if scenario is not None else settings.scenario
    if (data is None) == (scenario is None):
        raise BacktestError("give exactly one of data (a journal) or scenario (a sim scenario)")
    inputs: dict[str, Any] = {"seed": seed, "params": dict(params or {})}
    inputs["config_sha256"] = config_digest(config)
    recorded: list[Event] = []
    pools: dict[str, amm.Pool] = {}
    time_scale = 1.0
    plan: ObservedPlan | None = None
    if data is not None:
        meta: dict[str, Any] = {}
        if isinstance(data, str | Path):
            path = Path(data)
            header, events = read_journal(path)
            meta = header.meta
            inputs.update(data=path.name, data_sha256=_sha256(path), data_meta=header.meta)
        else:  # already decoded (a sweep or a benchmark decodes once)
            events = list(data)
            inputs.update(data="<in memory>", data_events=len(events))
        if not any(isinstance(e, Event) for e in events):
            raise BacktestError("the recording has no events")
        start = min(e.ts for e in events if isinstance(e, Event))
        from_meta = meta_scenario(meta, events)
        if from_meta is not None:  # the paper run's own pools, exactly
            sc = from_meta
            time_scale = float(meta.get("time_scale") or 1.0)
        else:
            sc = load_scenario(data_scenario(events, settings, _tier(cfg), start))
        inputs["venue_from"] = "journal scenario" if from_meta is not None else "snapshots"
        observed = settings.replay == "observed"
        if observed:
            plan = build_plan(events)
            start = plan.times[0]
        mine = own_trade_predictions(events)
        seen_ids: set[str] = set()
        for idx, e in enumerate(events):
            if (
                from_meta is None
                and isinstance(e, MarketSnapshot)
                and e.pool is not None
                and e.market_id not in pools
            ):
                pools[e.market_id] = e.pool
            if isinstance(e, PredictionSeen):
                if idx in mine or e.prediction_id in seen_ids:
                    continue  # ours (re-made by the backtest) or seen by two sources
                seen_ids.add(e.prediction_id)
            if isinstance(
                e, PredictionSeen | MarketSnapshot | FairValueUpdate | StaleData | DataFresh
            ):
                recorded.append(e)
        recorded.sort(key=lambda e: e.ts)  # stable: equal times keep recording order
        sc, api_key = prepare_scenario(sc, cfg, settings, time_scale=time_scale, observed=observed)
        end = recorded[-1].ts + settings.settle_s if recorded else start
        if plan is not None:
            recorded = []
            end = plan.times[-1] + settings.settle_s
    else:
        assert scenario is not None
        base = load_scenario(scenario)
        inputs.update(
            scenario=Path(scenario).name,
            scenario_sha256=_sha256(Path(scenario)),
            scenario_seed=base.seed,
        )
        sc, api_key = prepare_scenario(base, cfg, settings)
        from kashbot.sim.ids import parse_iso

        start = parse_iso(sc.start_time)
        end = start + settings.duration_s
    show = sys.stdout.isatty() if progress is None else progress
    driver = _Driver(
        cfg,
        settings,
        sc,
        api_key,
        seed,
        start,
        recorded,
        pools,
        show,
        time_scale=time_scale,
        plan=plan,
    )
    await driver.setup()
    try:
        with replay_gc():
            if plan is not None:
                await driver.run_observed(end)
            else:
                await driver.run(end)
        tape = driver.tape
        pools_now = {mid: m.pool for mid, m in driver.venue.markets.items()}
        final_mark = mark_value(tape.book.positions, pools_now, driver.venue.fees)
        totals = RunTotals(
            initial_cash=driver.initial_cash,
            book=tape.book,
            fills=tape.fills,
            equity=tape.equity,
            inventory=tape.inventory,
            denials=tape.denials,
            requests_used=driver.adapter.requests_used,
            request_budget=driver.adapter.budget_over(end - start),
            failed_trades=tape.failed,
            events=driver.events_fed,
            start_ts=start,
            end_ts=end,
            final_mark=final_mark,
        )
        metrics = compute_metrics(totals)
        metrics["external_trades_skipped"] = tape.skipped_external
        metrics["intents"] = len(tape.intents)
        metrics["rate_limited_requests"] = driver.adapter.rate_limited
        metrics["requests_by_route"] = dict(sorted(driver.adapter.requests.items()))
        if plan is not None:
            metrics["observed_replay"] = driver.observed_metrics()
        inputs["settings"] = settings_document(settings)
        art = RunArtifacts(
            inputs=inputs,
            metrics=metrics,
            fills=tape.fills,
            equity=tape.equity,
            inventory=tape.inventory,
            prices=tape.prices,
            fair=tape.fair,
            intents=tape.intents,
        )
    finally:
        await driver.close()
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        write_outputs(out, art, plots=settings.plots)
    return Report(metrics=metrics, inputs=inputs, out_dir=out, artifacts=art)


def run_backtest(
    config: Mapping[str, Any],
    *,
    data: str | Path | Sequence[Recordable] | None = None,
    scenario: str | Path | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> Report:
    """Backtest ``config`` (a config mapping, see :mod:`kashbot.backtest.config`) on a journal
    (``data``: a file, or its already decoded events) or a sim scenario (``scenario``); writes
    the outputs to ``out_dir`` if given."""
    return asyncio.run(
        run_backtest_async(
            config,
            data=data,
            scenario=scenario,
            seed=seed,
            out_dir=out_dir,
            params=params,
            progress=progress,
        )
    )


def run_unit(config: dict[str, Any], params: dict[str, Any], seed: int) -> dict[str, Any]:
    """The sweep's unit of work: plain, picklable data in and out (Ray/Dask can run it too)."""
    from kashbot.backtest.sweep import apply_params

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    report = run_backtest(apply_params(config, params), seed=seed, params=params, progress=False)
    return report.metrics


__all__ = [
    "BacktestError",
    "Report",
    "data_scenario",
    "own_trade_predictions",
    "run_backtest",
    "run_backtest_async",
    "run_unit",
]
