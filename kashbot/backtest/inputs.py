"""What a backtest runs on: the venue scenario (a sim scenario, or one built from a recording),
our key in it, the events to replay (:func:`journal_inputs`, :func:`scenario_inputs`, and an
external fair-value file merged in by :func:`add_fair_values`), and how the inputs are named in
``report.json`` (by file name and SHA-256)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from kashbot import amm
from kashbot.backtest.config import BacktestSettings
from kashbot.backtest.observed import ObservedPlan, build_plan, match_own_predictions
from kashbot.backtest.recording import Recordable, read_journal
from kashbot.backtest.report import MarketNames
from kashbot.config import KashbotConfig
from kashbot.events import (
    DataFresh,
    Event,
    FairValueUpdate,
    MarketSnapshot,
    PredictionSeen,
    StaleData,
)
from kashbot.fairvalue import load_fair_value_file
from kashbot.money import WAD, Wad
from kashbot.sim.ids import parse_iso
from kashbot.sim.scenario import Scenario, ScenarioError, load_scenario

log = structlog.get_logger("kashbot.backtest")

BACKTEST_KEY = "kash_test_" + "B" * 32  # data mode's synthetic key (never leaves the process)
BACKTEST_USER = "backtest"
WEBHOOK_URL = "http://backtest.invalid/kash/webhook"  # deliveries go to an in-process sink
DATA_MODE_CASH = Decimal(10_000)


class BacktestError(ValueError):
    """Inputs a backtest cannot run on (no data, unknown tier, nothing to trade)."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _input_names(block: Mapping[str, Any]) -> dict[str, Any]:
    """The ``backtest:`` block with its input files by name only.

    A path differs between checkouts of the same inputs (the CLI resolves it), so keeping it
    would make the report's bytes depend on where it ran; the files' content is named by
    ``inputs.data_sha256`` / ``inputs.scenario_sha256`` / ``inputs.fair_values_sha256``.
    """
    doc = dict(block)
    for key in ("data", "scenario", "fair_values"):
        if doc.get(key) is not None:
            doc[key] = Path(str(doc[key])).name
    return doc


def market_names(
    scenario: Scenario | None, meta: Mapping[str, Any], events: Iterable[Recordable]
) -> dict[str, MarketNames]:
    """Titles and outcome labels for display: ``scenario``'s (a scenario run), else the journal's
    (its paper scenario's titles, then the snapshots' labels). Unknown markets stay named by id."""
    if scenario is not None:
        return {m.id: MarketNames(m.title, tuple(m.outcomes)) for m in scenario.markets}
    names: dict[str, MarketNames] = {}
    ref = meta.get("scenario")
    if meta.get("mode") == "paper" and (ref is None or isinstance(ref, str)):
        with contextlib.suppress(ScenarioError):  # gone since the recording: ids, then labels
            names = market_names(load_scenario(ref), {}, ())
    for e in events:
        if isinstance(e, MarketSnapshot) and e.market_id not in names:
            names[e.market_id] = MarketNames(e.market_id, e.labels)
    return names


def settings_document(settings: BacktestSettings) -> dict[str, Any]:
    """The settings for ``report.json`` (input files by name; ``fair_values`` only when set, so
    reports of runs without one keep their bytes)."""
    doc = _input_names(json.loads(settings.model_dump_json()))
    if doc.get("fair_values") is None:
        doc.pop("fair_values", None)
    return doc


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


def tier_of(cfg: KashbotConfig) -> str:
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
    tier = tier_of(cfg)
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


# ---- one run's inputs ---------------------------------------------------------------------------


@dataclass(slots=True)
class RunInputs:
    """What one run replays, on which venue, from ``start`` to ``end`` (simulated seconds).

    ``doc`` is the report's ``inputs`` section; ``recorded``: the journal events to replay (a
    venue replay; empty for an observed replay, which follows ``plan``); ``pools``: recorded
    pools that replace the scenario's (a journal without its paper scenario).
    """

    scenario: Scenario
    api_key: str
    start: float
    end: float
    doc: dict[str, Any]
    names: dict[str, MarketNames]
    recorded: list[Event] = field(default_factory=list)
    pools: dict[str, amm.Pool] = field(default_factory=dict)
    plan: ObservedPlan | None = None
    time_scale: float = 1.0
    sim_truth: bool = True  # False: an external fair-value file replaces the simulator's truth


_REPLAYED = (PredictionSeen, MarketSnapshot, FairValueUpdate, StaleData, DataFresh)
_TS = operator.attrgetter("ts")


def scenario_inputs(
    scenario: str | Path, cfg: KashbotConfig, settings: BacktestSettings, doc: dict[str, Any]
) -> RunInputs:
    """A sim scenario: its venue, our key, ``settings.duration_s`` from its start time."""
    base = load_scenario(scenario)
    doc.update(
        scenario=Path(scenario).name,
        scenario_sha256=sha256_file(Path(scenario)),
        scenario_seed=base.seed,
    )
    sc, api_key = prepare_scenario(base, cfg, settings)
    start = parse_iso(sc.start_time)
    end = start + settings.duration_s
    return RunInputs(sc, api_key, start, end, doc, market_names(base, {}, ()))


def journal_inputs(
    data: str | Path | Sequence[Recordable],
    cfg: KashbotConfig,
    settings: BacktestSettings,
    doc: dict[str, Any],
) -> RunInputs:
    """A journal (a file, or its already decoded events): the paper run's own venue when the
    header names one that still loads, else one built from the recorded snapshots."""
    meta: dict[str, Any] = {}
    if isinstance(data, str | Path):
        path = Path(data)
        header, events = read_journal(path)
        meta = header.meta
        doc.update(data=path.name, data_sha256=sha256_file(path), data_meta=header.meta)
    else:  # already decoded (a sweep or a benchmark decodes once)
        events = list(data)
        doc.update(data="<in memory>", data_events=len(events))
    if not any(isinstance(e, Event) for e in events):
        raise BacktestError("the recording has no events")
    start = min(e.ts for e in events if isinstance(e, Event))
    time_scale = 1.0
    from_meta = meta_scenario(meta, events)
    if from_meta is not None:  # the paper run's own pools, exactly
        sc = from_meta
        time_scale = float(meta.get("time_scale") or 1.0)
    else:
        sc = load_scenario(data_scenario(events, settings, tier_of(cfg), start))
    doc["venue_from"] = "journal scenario" if from_meta is not None else "snapshots"
    names = market_names(None, meta, events)
    observed = settings.replay == "observed"
    plan = build_plan(events) if observed else None
    if plan is not None:
        start = plan.times[0]
    recorded, pools = _replayed_events(events, pools_from_snapshots=from_meta is None)
    sc, api_key = prepare_scenario(sc, cfg, settings, time_scale=time_scale, observed=observed)
    end = recorded[-1].ts + settings.settle_s if recorded else start
    if plan is not None:
        recorded = []
        end = plan.times[-1] + settings.settle_s
    return RunInputs(sc, api_key, start, end, doc, names, recorded, pools, plan, time_scale)


def _replayed_events(
    events: Sequence[Recordable], *, pools_from_snapshots: bool
) -> tuple[list[Event], dict[str, amm.Pool]]:
    """The market data to replay, in time order (others' predictions once each: ours are
    re-made by the backtest), and each market's first recorded pool."""
    mine = own_trade_predictions(events)
    seen_ids: set[str] = set()
    pools: dict[str, amm.Pool] = {}
    recorded: list[Event] = []
    append = recorded.append
    for idx, e in enumerate(events):
        if type(e) is FairValueUpdate:  # most of a journal: replayed as is
            append(e)
        elif isinstance(e, PredictionSeen):
            if idx in mine or e.prediction_id in seen_ids:
                continue  # ours (re-made by the backtest) or seen by two sources
            seen_ids.add(e.prediction_id)
            append(e)
        elif isinstance(e, _REPLAYED):
            if (
                pools_from_snapshots
                and isinstance(e, MarketSnapshot)
                and e.pool is not None
                and e.market_id not in pools
            ):
                pools[e.market_id] = e.pool
            append(e)
    recorded.sort(key=_TS)  # stable: equal times keep recording order
    return recorded, pools


EXTERNAL_SOURCE = "external"  # the FairValueUpdate.source of an external file's rows


def add_fair_values(run: RunInputs, path: str | Path) -> None:
    """Merge an external fair-value file (CSV/JSONL) into ``run`` by time: "my model against Kash".

    Its rows replace the fair values the run would otherwise have (a scenario's simulated truth:
    off; a journal's recorded ``FairValueUpdate`` events: dropped), so
    the strategies trade on the model alone. Rows for markets the venue does not list are
    counted and skipped; a row whose outcome count differs from its market's is an error, as is
    any bad row (``file:line``). The merge is a stable sort: deterministic.
    """
    if run.plan is not None:
        raise BacktestError(
            "an external fair-value file needs replay: venue (an observed replay feeds exactly"
            " what the recorded run saw)"
        )
    p = Path(path)
    rows = load_fair_value_file(p, source=EXTERNAL_SOURCE)
    outcomes = {m.id: len(m.outcomes) for m in run.scenario.markets}
    used = []
    for u in rows:
        n = outcomes.get(u.market_id)
        if n is None:
            continue
        if n != len(u.probabilities):
            raise BacktestError(
                f"{p.name}: market {u.market_id} has {n} outcomes; a row at ts {u.ts:g}"
                f" gives {len(u.probabilities)} chances"
            )
        used.append(u)
    run.doc.update(
        fair_values=p.name,
        fair_values_sha256=sha256_file(p),
        fair_value_rows=len(rows),
        fair_value_rows_unknown_market=len(rows) - len(used),
    )
    kept = [e for e in run.recorded if not isinstance(e, FairValueUpdate)]
    run.recorded = sorted([*kept, *used], key=lambda e: e.ts)
    run.sim_truth = False
