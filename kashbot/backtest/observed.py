"""The "as observed" replay of a recording: what the recorded run saw, in the order it saw it.

A ``venue`` replay (the default) re-derives every price from the venue's pools, so a different
strategy moves what it later sees: the what-if backtest. An ``observed`` replay instead feeds the
engine the recorded observations themselves — snapshots, price changes (with the pools the
poller reconstructed from quotes), trades (ours too, as the stream reported them), quotes, fair
values, staleness alarms — exactly as recorded and in journal order, which is the order the
recorded engine handled them. The in-process venue only *executes* our intents: others' recorded
trades are applied to its pools in order, so our fills are computed on the pool the recorded run
traded against. That is what makes a paper run and the backtest of its recording comparable
intent for intent (issue 5, acceptance 2).

Our own lifecycle is not replayed (recorded ``TradeUpdate``/``RiskDenied``/``PositionSync`` are
outputs the run must produce again), but its *timing* is anchored to the recording: while the
backtest emits the same intents as the recording, the n-th one executes where the recorded
n-th trade's fill appears in the recorded flow and its webhook arrives where the recorded run
handled it. Wall-clock latency jitters by milliseconds; a constant latency would put our fill
before or after a neighbouring trade by chance. Once an intent differs, there is nothing to
anchor to and the constant latency applies from there on.

Everything here is pure (journal in, plan out); :mod:`kashbot.backtest.observed_replay`
executes the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kashbot.backtest.recording import Recordable, StrategiesStopped
from kashbot.events import (
    DataFresh,
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PredictionSeen,
    PriceChange,
    QuoteSeen,
    Side,
    StaleData,
    TradeUpdate,
)
from kashbot.money import Atomic, Wad

# Observations a recorded run's sources produced; everything else in a journal is an output.
OBSERVED_TYPES: tuple[type[Event], ...] = (
    MarketSnapshot,
    PriceChange,
    PredictionSeen,
    QuoteSeen,
    FairValueUpdate,
    StaleData,
    DataFresh,
)
TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})
OWN_TRADE_WINDOW_S = 60.0
# Recorded times that tie (one poll's QuoteSeen and PriceChange) are spread this far apart, so
# "between journal lines i-1 and i" is always a non-empty time interval an execution can land in.
MIN_GAP_S = 1e-5

IntentKey = tuple[str, int, str, Atomic, Wad | None, bool]


def intent_key(i: OrderIntent) -> IntentKey:
    """What an intent asks for; ids and creation times differ between runs by construction."""
    return (i.market_id, i.outcome, i.side.value, i.amount, i.limit_probability, i.closing)


def _fills(tu: TradeUpdate, p: PredictionSeen) -> bool:
    """Whether stream row ``p`` can be the fill ``tu`` reported."""
    if p.market_id != tu.market_id or p.outcome != tu.outcome or p.side is not tu.side:
        return False
    if tu.side is Side.BUY:
        return p.usdc == tu.amount and (tu.tokens is None or p.tokens == tu.tokens)
    # a REST sell pays at least the amount asked, at most ~2 % more (tokens are rounded up)
    return tu.amount <= p.usdc <= tu.amount + tu.amount // 50 + 1


def match_own_predictions(events: Sequence[Recordable]) -> dict[int, int]:
    """Journal index of a completed ``TradeUpdate`` of ours -> index of its ``PredictionSeen``.

    §7.2 rows carry no trader identity, so the fill is found by what it moved: same market,
    outcome and side, buys by USDC in and tokens out, sells by USDC out. When the journal holds
    the intent, the fill is the first such row after it (the venue executes in order; a later
    sale of ours with the same amount must not take an earlier one's row); otherwise the
    nearest row within a minute.
    """
    fills = [
        (j, e)
        for j, e in enumerate(events)
        if isinstance(e, TradeUpdate) and e.status == "completed"
    ]
    if not fills:  # a journal without fills of ours (most backtests' inputs): one pass
        return {}
    intent_line = {e.intent_id: i for i, e in enumerate(events) if isinstance(e, OrderIntent)}
    preds = [(i, e) for i, e in enumerate(events) if isinstance(e, PredictionSeen)]
    taken: set[int] = set()
    out: dict[int, int] = {}
    for j, tu in fills:
        after = intent_line.get(tu.intent_id)
        best: tuple[float, int] | None = None
        for i, p in preds:
            if i in taken or abs(p.ts - tu.ts) > OWN_TRADE_WINDOW_S or not _fills(tu, p):
                continue
            if after is not None:
                if i > after:
                    best = (0.0, i)
                    break
                continue
            if best is None or abs(p.ts - tu.ts) < best[0]:
                best = (abs(p.ts - tu.ts), i)
        if best is not None:
            taken.add(best[1])
            out[j] = best[1]
    return out


@dataclass(frozen=True, slots=True)
class RecordedTrade:
    """One recorded intent and where its trade showed up in the journal."""

    intent: OrderIntent
    index: int  # journal line of the intent
    execute_before: int | None  # our fill lands between lines execute_before-1 and execute_before
    notify_at: int | None  # the recorded run handled the terminal update here
    fill: PredictionSeen | None  # the recorded fill (as the stream reported it), if completed


@dataclass(slots=True)
class ObservedPlan:
    events: list[Recordable]
    times: list[float]  # the clock at each journal line: recorded ts, strictly increasing
    observe: list[bool]  # fed to the engine
    flow: list[bool]  # others' trades: applied to the venue's pools
    recorded: list[RecordedTrade] = field(default_factory=list)
    strategies_stop_at: int | None = None  # the recorded run stopped its strategies here

    def due_time(self, line: int) -> float:
        """A moment strictly between journal lines ``line - 1`` and ``line``."""
        if line <= 0:
            return self.times[0] - MIN_GAP_S / 2
        return self.times[line - 1] + (self.times[line] - self.times[line - 1]) / 2


def build_plan(events: Sequence[Recordable]) -> ObservedPlan:
    """Classify every journal line and anchor every recorded intent to its trade."""
    evs = list(events)
    own = match_own_predictions(evs)
    own_lines = set(own.values())
    times: list[float] = []
    observe: list[bool] = []
    flow: list[bool] = []
    seen_preds: set[str] = set()
    last = float("-inf")
    for i, e in enumerate(evs):
        ts = e.ts if isinstance(e, Event) else e.created_ts
        last = max(ts, last + MIN_GAP_S)
        times.append(last)
        is_obs = isinstance(e, OBSERVED_TYPES)
        observe.append(is_obs)
        is_flow = False
        if isinstance(e, PredictionSeen) and i not in own_lines:
            is_flow = e.prediction_id not in seen_preds  # stream and poller may both report it
            seen_preds.add(e.prediction_id)
        flow.append(is_flow)
    terminal_at: dict[str, int] = {}
    for i, e in enumerate(evs):
        if isinstance(e, TradeUpdate) and e.status in TERMINAL and e.intent_id:
            terminal_at.setdefault(e.intent_id, i)
    recorded: list[RecordedTrade] = []
    for i, e in enumerate(evs):
        if not isinstance(e, OrderIntent):
            continue
        notify = terminal_at.get(e.intent_id)
        fill: PredictionSeen | None = None
        execute = notify
        if notify is not None and notify in own:
            line = own[notify]
            execute = min(line, notify)  # the webhook may beat the stream's report of the fill
            found = evs[line]
            assert isinstance(found, PredictionSeen)
            fill = found
        recorded.append(RecordedTrade(e, i, execute, notify, fill))
    stop = next((i for i, e in enumerate(evs) if isinstance(e, StrategiesStopped)), None)
    return ObservedPlan(evs, times, observe, flow, recorded, stop)


__all__ = [
    "OBSERVED_TYPES",
    "IntentKey",
    "ObservedPlan",
    "RecordedTrade",
    "build_plan",
    "intent_key",
    "match_own_predictions",
]
