"""The in-process Kash venue: markets, pools, keys, limits, trades, webhooks and faults.

No I/O. Time comes from an injected :class:`~kashbot.clock.Clock`; scheduled work (trade
lifecycle steps, confirmation expiry, noise trades, market freeze/resolution, webhook attempts)
sits in a heap and runs, in time order and at its *scheduled* time, when :meth:`Venue.advance`
is called. Public methods first advance to ``clock.now()``, so a caller never sees stale state.
Given the same scenario, seed and sequence of calls at the same clock times, the trade history
(ids, amounts, hashes, timestamps) is identical.

All pool maths is :mod:`kashbot.amm`; a quote and the execution of the same trade on the same
pool call the same function with the same fees, so they agree to the last atomic unit.

``time_scale`` divides simulated durations (lifecycle latencies, webhook retry delays, noise
inter-arrival times and the truth's clock) so a server run can go faster than real time; rate
windows, confirmation windows, idempotency TTL and rotation periods stay on the clock.
"""

from __future__ import annotations

import bisect
import heapq
import ipaddress
import itertools
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kashbot import amm
from kashbot.clock import Clock, SimClock
from kashbot.money import WAD, Atomic, Wad, decimal_to_wad, usdc_str, usdc_to_atomic
from kashbot.sim.errors import SimError
from kashbot.sim.faults import FaultRegistry
from kashbot.sim.ids import IdFactory, iso, parse_iso, rng_for
from kashbot.sim.limits import DAY_S, LimitDecision, SlidingWindow, TokenBucket
from kashbot.sim.models import (
    IN_FLIGHT,
    TERMINAL,
    Delivery,
    KeyState,
    MarketState,
    Position,
    Prediction,
    QuoteResult,
    Redemption,
    TraceEvent,
    TradeRecord,
    TradeSubmission,
    UserState,
    WebhookEvent,
)
from kashbot.sim.noise import draw_order, logits_from, probs_from, step_truth
from kashbot.sim.scenario import FaultSpec, KeyConfig, MarketConfig, Scenario, load_scenario
from kashbot.sim.webhooks import USER_AGENT, failure_code, outcome_of, signature_header

KEY_FORMAT = re.compile(r"^kash_(live|test)_[A-Za-z0-9]{32}$")
IDEM_RE = re.compile(r"^[A-Za-z0-9_\-:.]+$")
CRID_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")
META_KEY_RE = re.compile(r"^[a-zA-Z0-9_\-.]{1,64}$")
FIRST_BLOCK = 30_000_000


@dataclass(frozen=True, slots=True)
class MarketTick:
    """Pushed to listeners (the stream) after every executed trade on a market."""

    market_id: str
    prediction: Prediction


@dataclass(slots=True)
class _IdemEntry:
    fingerprint: str
    trade_id: str
    created_at: float
    status_code: int


def _fingerprint(
    market_id: str, outcome: int, side: str, amount: Atomic, metadata: dict[str, str]
) -> str:
    ident = {
        "marketId": market_id,
        "outcomeIndex": outcome,
        "side": side,
        "amount": usdc_str(amount),
        "metadata": metadata,
    }
    return json.dumps(ident, sort_keys=True, separators=(",", ":"))


def validate_metadata(metadata: object) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise SimError("VALIDATION_FAILED", "metadata must be an object", issues=["metadata"])
    if len(metadata) > 10:
        raise SimError("VALIDATION_FAILED", "metadata has more than 10 keys")
    out: dict[str, str] = {}
    for k, v in metadata.items():
        if not isinstance(k, str) or not META_KEY_RE.match(k):
            raise SimError("VALIDATION_FAILED", f"metadata key {k!r} is invalid")
        if not isinstance(v, str) or len(v) > 500:
            raise SimError("VALIDATION_FAILED", f"metadata.{k} must be a string of <=500 chars")
        out[k] = v
    return out


class Venue:
    """The whole simulated Kash. See the module docstring for the time model."""

    def __init__(
        self,
        scenario: Scenario | str | Path | dict[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        seed: int | None = None,
        time_scale: float = 1.0,
        webhook_sink: Callable[[Delivery], int | None] | None = None,
    ) -> None:
        self.scenario = load_scenario(scenario)
        sc = self.scenario
        self.seed = sc.seed if seed is None else seed
        self.clock: Clock = clock if clock is not None else SimClock(parse_iso(sc.start_time))
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self.webhook_sink = webhook_sink
        self.fees = amm.Fees(sc.fees.protocol_bps, sc.fees.amm_sell_bps)
        self.quote_fees = (
            self.fees if sc.api.quote_includes_protocol_fee else amm.Fees(0, sc.fees.amm_sell_bps)
        )
        self.ids = IdFactory(self.seed)
        self._rng_life = rng_for(self.seed, "lifecycle")
        self._rng_hook = rng_for(self.seed, "webhooks")
        self.faults = FaultRegistry(self.seed)
        self.start = self.clock.now()
        self._seq = itertools.count(1)
        self._heap: list[tuple[float, int, str, str]] = []
        self.on_schedule: Callable[[float], None] | None = None
        self.listeners: list[Callable[[MarketTick], None]] = []
        self.markets: dict[str, MarketState] = {}
        self.users: dict[str, UserState] = {}
        self.keys: dict[str, KeyState] = {}
        self._by_api_key: dict[str, KeyState] = {}
        self.trades: dict[str, TradeRecord] = {}
        self._by_correlation: dict[str, str] = {}
        self._crids: dict[tuple[str, str], str] = {}
        self._idem: dict[tuple[str, str], _IdemEntry] = {}
        self.positions: dict[tuple[str, str, int], Position] = {}
        self.events: dict[str, WebhookEvent] = {}
        self._outbox: dict[str, list[str]] = {}
        # per key, by seq: every event that may be pending/retrying (a superset, pruned lazily),
        # so a delivery step looks at the queue rather than the whole outbox
        self._queued: dict[str, list[WebhookEvent]] = {}
        self._last_event: dict[str, str] = {}  # trade id -> its newest webhook event
        self.redemptions: dict[str, Redemption] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=sc.api.request_log_size)
        self._reads: dict[str, SlidingWindow] = {}
        self._writes: dict[str, TokenBucket] = {}
        self._noise_rng: dict[str, Any] = {}
        self._block = FIRST_BLOCK
        self._advancing = False
        for u in sc.users:
            self.users[u.id] = UserState(
                id=u.id,
                balance=usdc_to_atomic(u.balance_usdc),
                smart_account="0x" + self.ids.hex("account", 20),
                smart_account_provisioned=u.smart_account_provisioned,
                delegation_enabled=u.delegation_enabled,
            )
        for k in sc.keys:
            self._add_key(k)
        for m in sc.markets:
            self._add_market(m)
        for f in sc.faults:
            self.faults.arm(f, self.start)

    # ------------------------------------------------------------------ setup

    def _add_key(self, k: KeyConfig) -> None:
        sc = self.scenario
        tier = sc.tier_limits(k.tier)
        caps = tier.model_copy(update=k.caps.model_dump(exclude_none=True))
        threshold = caps.high_value_trade_threshold_usdc
        key = KeyState(
            id=self.ids.uuid("key"),
            name=k.name,
            api_key=k.api_key,
            user_id=k.user,
            tier=k.tier,
            scopes=frozenset(k.scopes),
            requests_per_minute=caps.requests_per_minute,
            per_trade_cap=usdc_to_atomic(caps.per_trade_limit_usdc),
            daily_cap=usdc_to_atomic(caps.daily_spend_limit_usdc),
            threshold=usdc_to_atomic(threshold) if threshold is not None else None,
            confirm_window_s=k.confirm_window_s or sc.api.confirm_window_s,
            webhook_url=k.webhook_url,
            webhook_secret=k.webhook_secret,
            ip_allowlist=tuple(ipaddress.ip_network(n, strict=False) for n in k.ip_allowlist),
            revoked=k.revoked,
            expires_at=self.start + k.expires_after_s if k.expires_after_s is not None else None,
        )
        if key.webhook_url and not key.webhook_secret:
            key.webhook_secret = "whsec_" + self.ids.token("whsec")
        self.keys[key.id] = key
        self._by_api_key[key.api_key] = key
        self._outbox[key.id] = []
        self._queued[key.id] = []

    def _add_market(self, m: MarketConfig) -> None:
        n = len(m.outcomes)
        init = (
            tuple(decimal_to_wad(p) for p in m.initial_probabilities)
            if m.initial_probabilities
            else None
        )
        if init is not None:
            init = (*init[:-1], WAD - sum(init[:-1]))
        pool = amm.seed_pool(usdc_to_atomic(m.liquidity_usdc), init, n)
        truth = (
            tuple(decimal_to_wad(p) for p in m.true_probabilities)
            if m.true_probabilities
            else amm.probabilities(pool)
        )
        market = MarketState(
            id=m.id,
            title=m.title,
            description=m.description,
            labels=m.outcomes,
            status=m.status,
            pool=pool,
            contract_address=m.contract_address or "0x" + self.ids.hex("contract", 20),
            created_at=self.start,
            freeze_at=self.start + m.freeze_after_s if m.freeze_after_s is not None else None,
            expires_at=self.start + m.expires_after_s if m.expires_after_s is not None else None,
            true_logits=logits_from(truth),
            truth_at=self.start,
            noise_holdings=[0] * n,
        )
        self.markets[m.id] = market
        self._noise_rng[m.id] = rng_for(self.seed, "noise:" + m.id)
        if m.resolve is not None:
            self._schedule(self.start + m.resolve.after_s, "resolve", m.id)
        if m.status == "ACTIVE" and m.noise.enabled and m.noise.trades_per_minute > 0:
            self._schedule_noise(market, self.start)

    def _market_cfg(self, market_id: str) -> MarketConfig:
        return next(m for m in self.scenario.markets if m.id == market_id)

    # ------------------------------------------------------------------ scheduling

    def _scaled(self, seconds: float) -> float:
        return seconds / self.time_scale

    def _schedule(self, t: float, kind: str, ref: str) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, ref))
        if self.on_schedule is not None:
            self.on_schedule(t)

    def _schedule_noise(self, market: MarketState, after: float) -> None:
        cfg = self._market_cfg(market.id).noise
        rate = cfg.trades_per_minute / 60.0 * self.time_scale
        self._schedule(after + self._noise_rng[market.id].expovariate(rate), "noise", market.id)

    def next_due(self) -> float | None:
        """When the next scheduled step is due (None when nothing is scheduled)."""
        return self._heap[0][0] if self._heap else None

    def advance(self, now: float | None = None) -> int:
        """Run every scheduled step due at or before ``now`` (default ``clock.now()``).

        Steps run at their own scheduled time, so the result does not depend on how often or
        how late ``advance`` is called. Returns how many steps ran.
        """
        if self._advancing:
            return 0
        now = self.clock.now() if now is None else now
        ran = 0
        self._advancing = True
        try:
            while self._heap and self._heap[0][0] <= now:
                t, _, kind, ref = heapq.heappop(self._heap)
                self._run(kind, ref, t)
                ran += 1
        finally:
            self._advancing = False
        return ran

    def _run(self, kind: str, ref: str, t: float) -> None:
        if kind == "trade":
            self._step_trade(self.trades[ref], t)
        elif kind == "expire":
            self._expire_confirmation(self.trades[ref], t)
        elif kind == "noise":
            self._noise_trade(self.markets[ref], t)
        elif kind == "resolve":
            cfg = self._market_cfg(ref).resolve
            if cfg is not None and self.markets[ref].status != "RESOLVED":
                self.resolve_market(ref, cfg.winners, at=t)
        elif kind == "redemption":
            self._complete_redemption(self.redemptions[ref], t)
        elif kind == "webhook" and self.webhook_sink is not None:
            self._deliver_to_sink(t)

    def _sync(self) -> float:
        now = self.clock.now()
        self.advance(now)
        return now

    # ------------------------------------------------------------------ auth & limits

    def authenticate(self, api_key: str | None, remote: str | None = None) -> KeyState:
        """Resolve ``X-API-Key`` to a key, raising the documented 401/403 codes."""
        now = self.clock.now()
        if not api_key:
            raise SimError("API_KEY_MISSING", "X-API-Key header is required")
        if not KEY_FORMAT.match(api_key):
            raise SimError("API_KEY_MALFORMED", "X-API-Key is not kash_(live|test)_<32 base62>")
        key = self._by_api_key.get(api_key)
        if key is None:
            raise SimError("API_KEY_INVALID", "unknown API key for this environment")
        if key.revoked:
            key.auth_failures.append(now)
            raise SimError("API_KEY_REVOKED", "this API key has been revoked")
        if key.expires_at is not None and now >= key.expires_at:
            key.auth_failures.append(now)
            raise SimError("API_KEY_EXPIRED", "this API key has expired")
        if key.ip_allowlist and remote is not None:
            try:
                addr = ipaddress.ip_address(remote)
            except ValueError:
                addr = None
            if addr is None or not any(addr in net for net in key.ip_allowlist):
                key.auth_failures.append(now)
                raise SimError("IP_NOT_ALLOWED", "source IP is not in this key's allowlist")
        return key

    def key_for(self, api_key: str | KeyState) -> KeyState:
        if isinstance(api_key, KeyState):
            return api_key
        return self.authenticate(api_key)

    @staticmethod
    def require_scope(key: KeyState, *scopes: str) -> None:
        if not any(s in key.scopes for s in scopes):
            raise SimError("INSUFFICIENT_SCOPE", f"this key lacks scope {' or '.join(scopes)}")

    def _user_rpm(self, user_id: str) -> int:
        return max(k.requests_per_minute for k in self.keys.values() if k.user_id == user_id)

    def rate_check(self, key: KeyState, *, write: bool) -> LimitDecision:
        """Count one request against the user's quota (sliding window or token bucket)."""
        now = self.clock.now()
        if write:
            bucket = self._writes.get(key.user_id)
            if bucket is None:
                bucket = self._writes[key.user_id] = TokenBucket(self._user_rpm(key.user_id))
            decision = bucket.hit(now)
        else:
            window = self._reads.get(key.user_id)
            if window is None:
                window = self._reads[key.user_id] = SlidingWindow(self._user_rpm(key.user_id))
            decision = window.hit(now)
        if not decision.allowed:
            key.rate_rejections.append(now)
        return decision

    def log_request(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)

    def find_key(self, ref: str) -> KeyState:
        """A key by id, scenario name or a unique prefix (>= 12 chars) of its api_key."""
        for key in self.keys.values():
            if ref in (key.id, key.name):
                return key
        if len(ref) >= 12:
            found = [k for k in self.keys.values() if k.api_key.startswith(ref)]
            if len(found) == 1:
                return found[0]
        raise SimError("RESOURCE_NOT_FOUND", f"no key matches {ref[:14]!r}")

    # ------------------------------------------------------------------ markets & quotes

    def market(self, market_id: str) -> MarketState:
        self._sync()
        m = self.markets.get(market_id)
        if m is None:
            raise SimError("MARKET_NOT_FOUND", f"market {market_id} not found")
        return m

    def list_markets(self, status: str | None = None) -> list[MarketState]:
        self._sync()
        ms = list(self.markets.values())
        if status:
            ms = [m for m in ms if m.status == status.upper()]
        return ms

    def predictions(self, market_id: str) -> list[Prediction]:
        """Newest first, as §7.2 lists them."""
        return list(reversed(self.market(market_id).predictions))

    def truth(self, market_id: str) -> tuple[Wad, ...]:
        """The hidden true probabilities (ground truth; never on the public API)."""
        return probs_from(self.market(market_id).true_logits)

    def _not_tradeable(self, m: MarketState, why: str) -> SimError:
        return SimError(
            "MARKET_NOT_TRADEABLE",
            f"market {m.id} is {why}",
            status=self.scenario.api.market_not_tradeable_status,
        )

    def quote(self, market_id: str, outcome: int, action: str, amount: int) -> QuoteResult:
        """§7.3: buy ``amount`` USDC atomic, or sell ``amount`` WAD tokens, on the current pool."""
        m = self.market(market_id)
        if not 0 <= outcome < m.pool.outcome_count:
            raise SimError(
                "OUTCOME_INDEX_INVALID", f"outcomeIndex must be < {m.pool.outcome_count}"
            )
        if action not in ("buy", "sell"):
            raise SimError("VALIDATION_FAILED", "action must be buy or sell", issues=["action"])
        if amount <= 0:
            raise SimError("VALIDATION_FAILED", "amount must be a positive integer")
        if m.status != "ACTIVE":
            raise self._not_tradeable(m, m.status)
        try:
            if action == "buy":
                b = amm.buy(m.pool, outcome, amount, self.quote_fees)
                return self._quote_result(
                    m, outcome, "buy", amount, b.pool, b.protocol_fee, 0, tokens_out=b.tokens_out
                )
            s = amm.sell(m.pool, outcome, amount, self.quote_fees)
        except amm.AmmError as exc:
            raise SimError("VALIDATION_FAILED", str(exc), issues=["amount"]) from None
        return self._quote_result(
            m,
            outcome,
            "sell",
            amount,
            s.pool,
            s.protocol_fee,
            s.amm_fee,
            usdc_out=s.payout,
            gross=s.gross_release,
        )

    def _quote_result(
        self,
        m: MarketState,
        outcome: int,
        action: str,
        amount: int,
        after: amm.Pool,
        pfee: Atomic,
        afee: Atomic,
        *,
        tokens_out: Wad | None = None,
        usdc_out: Atomic | None = None,
        gross: Wad | None = None,
    ) -> QuoteResult:
        return QuoteResult(
            market_id=m.id,
            outcome=outcome,
            action="buy" if action == "buy" else "sell",
            amount_in=amount,
            tokens_out=tokens_out,
            usdc_out=usdc_out,
            gross_release=gross,
            reserve_after=after.reserve,
            c_after=amm.coefficient(after),
            p_after=amm.normalized_prices(after),
            q_after=amm.probabilities(after),
            protocol_fee=pfee,
            amm_fee=afee,
        )

    # ------------------------------------------------------------------ trades

    def submit_trade(
        self,
        api_key: str | KeyState,
        market_id: str,
        outcome: int,
        side: str,
        amount_atomic: Atomic,
        idempotency_key: str | None = None,
        client_request_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> TradeSubmission:
        """POST /v1/trades. ``amount_atomic``: USDC to spend (buy) or to receive (sell)."""
        now = self._sync()
        key = self.key_for(api_key)
        self.require_scope(key, "trades:write")
        api = self.scenario.api
        if idempotency_key is not None:
            if len(idempotency_key) > 255:
                raise SimError("IDEMPOTENCY_KEY_TOO_LONG", "Idempotency-Key exceeds 255 chars")
            if not IDEM_RE.match(idempotency_key):
                raise SimError(
                    "IDEMPOTENCY_KEY_FORMAT_INVALID",
                    "Idempotency-Key has chars outside [A-Za-z0-9_-:.]",
                )
        if side not in ("buy", "sell"):
            raise SimError("VALIDATION_FAILED", "side must be buy or sell", issues=["side"])
        if client_request_id is not None and not CRID_RE.match(client_request_id):
            raise SimError("VALIDATION_FAILED", "clientRequestId must be 1-128 [A-Za-z0-9_-:.]")
        meta = validate_metadata(metadata)
        m = self.markets.get(market_id)
        if m is None:
            raise SimError("MARKET_NOT_FOUND", f"market {market_id} not found")
        if not 0 <= outcome < m.pool.outcome_count:
            raise SimError(
                "OUTCOME_INDEX_INVALID", f"outcomeIndex must be < {m.pool.outcome_count}"
            )
        if amount_atomic < usdc_to_atomic(api.min_trade_usdc):
            raise SimError("VALIDATION_FAILED", f"amount is below the minimum {api.min_trade_usdc}")
        if amount_atomic > usdc_to_atomic(api.max_usdc_per_trade):
            raise SimError("AMOUNT_TOO_LARGE", "amount exceeds the platform per-trade maximum")
        fp = _fingerprint(market_id, outcome, side, amount_atomic, meta)

        if idempotency_key is not None:
            entry = self._idem.get((key.id, idempotency_key))
            if entry is not None:
                if now - entry.created_at >= api.idempotency_ttl_s:
                    if api.idempotency_after_ttl == "gone":
                        raise SimError(
                            "IDEMPOTENCY_KEY_EXPIRED", "Idempotency-Key is older than 24 h"
                        )
                    del self._idem[(key.id, idempotency_key)]
                elif entry.fingerprint != fp:
                    raise SimError(
                        "IDEMPOTENCY_KEY_CONFLICT", "Idempotency-Key was used with a different body"
                    )
                else:
                    return self._replay(
                        self.trades[entry.trade_id], entry.status_code, idempotency_key
                    )
        if client_request_id is not None:
            tid = self._crids.get((key.user_id, client_request_id))
            if tid is not None:
                t = self.trades[tid]
                if _fingerprint(t.market_id, t.outcome, t.side, t.amount, t.metadata) != fp:
                    raise SimError(
                        api.client_request_id_conflict_code,
                        "clientRequestId was used with a different body",
                    )
                return self._replay(t, 201, idempotency_key)

        user = self.users[key.user_id]
        if not m.tradeable(now):
            raise self._not_tradeable(m, "frozen" if m.status == "ACTIVE" else m.status)
        if not user.smart_account_provisioned:
            raise SimError("SMART_ACCOUNT_NOT_PROVISIONED", "smart account is not provisioned yet")
        if not user.delegation_enabled:
            raise SimError("WALLET_DELEGATION_NOT_ENABLED", "wallet delegation is not enabled")
        if amount_atomic > key.per_trade_cap:
            raise SimError(
                "SPENDING_LIMIT_EXCEEDED",
                f"amount exceeds the per-trade cap of {usdc_str(key.per_trade_cap)} USDC",
                cap="per_trade",
            )
        held_tokens = 0
        if side == "buy":
            if key.volume.used(now) + amount_atomic > key.daily_cap:
                raise SimError(
                    "SPENDING_LIMIT_EXCEEDED",
                    f"amount exceeds the rolling-24h cap of {usdc_str(key.daily_cap)} USDC",
                    cap="daily_volume",
                )
            if user.balance - user.held < amount_atomic:
                raise SimError("INSUFFICIENT_BALANCE", "smart-account USDC balance is below amount")
        else:
            pos = self.positions.get((user.id, market_id, outcome))
            available = pos.shares - pos.held if pos else 0
            try:
                held_tokens = amm.tokens_for_payout(m.pool, outcome, amount_atomic, self.fees)
            except amm.AmmError:
                held_tokens = available + 1
            if pos is None or held_tokens > available:
                raise SimError(
                    "INSUFFICIENT_BALANCE", "position too small to receive that amount from a sell"
                )

        tid = self.ids.uuid("trade")
        trade = TradeRecord(
            id=tid,
            seq=next(self._seq),
            key_id=key.id,
            user_id=user.id,
            market_id=market_id,
            outcome=outcome,
            side="buy" if side == "buy" else "sell",
            amount=amount_atomic,
            status="pending",
            correlation_id=self.ids.uuid("correlation"),
            client_request_id=client_request_id,
            metadata=meta,
            created_at=now,
            updated_at=now,
        )
        fault = self.faults.take(
            {"trade_fail", "trade_reject"}, now, key_names=(key.name, key.id, key.prefix)
        )
        if fault is not None:
            status = "failed" if fault.spec.kind == "trade_fail" else "rejected"
            default = "EXECUTION_REVERTED" if status == "failed" else "trade_rejected_by_risk"
            trade.forced_outcome = (status, fault.spec.error_code or default)
        self.trades[tid] = trade
        self._by_correlation[trade.correlation_id] = tid
        if side == "buy":
            user.held += amount_atomic
            trade.held_usdc = amount_atomic
            key.volume.add(now, tid, amount_atomic)
        else:
            pos = self.positions[(user.id, market_id, outcome)]
            pos.held += held_tokens
            trade.held_tokens = held_tokens
        if client_request_id is not None:
            self._crids[(user.id, client_request_id)] = tid
        self._trace(trade, "com.kash.trade.requested.v1", now)
        code = 201
        if key.threshold is not None and amount_atomic >= key.threshold:
            code = 202
            trade.gated = True
            trade.status = "pending_confirmation"
            trade.token = self.ids.token("confirm")
            trade.token_expires_at = now + key.confirm_window_s
            self._schedule(trade.token_expires_at, "expire", tid)
            self._trace(trade, "com.kash.trade.confirmation_required.v1", now)
            self._emit(trade, "trade.confirmation-required", now)
        else:
            self._schedule(now + self._scaled(self.scenario.lifecycle.pending_s), "trade", tid)
        if idempotency_key is not None:
            self._idem[(key.id, idempotency_key)] = _IdemEntry(fp, tid, now, code)
        return TradeSubmission(
            trade,
            code,
            False,
            idempotency_key,
            trade.token if code == 202 else None,
            trade.token_expires_at if code == 202 else None,
        )

    def _replay(self, trade: TradeRecord, code: int, idem: str | None) -> TradeSubmission:
        if trade.status == "pending_confirmation":
            return TradeSubmission(trade, 202, True, idem, trade.token, trade.token_expires_at)
        return TradeSubmission(trade, 200 if trade.gated else code, True, idem, None, None)

    def confirm_trade(self, api_key: str | KeyState, trade_id: str, token: str) -> TradeRecord:
        now = self._sync()
        key = self.key_for(api_key)
        self.require_scope(key, "trades:write")
        t = self.trades.get(trade_id)
        if t is None or t.user_id != key.user_id:
            raise SimError("RESOURCE_NOT_FOUND", f"trade {trade_id} not found")
        if t.gated and t.token_used:
            if token == t.token:
                raise SimError(
                    "CONFIRMATION_TOKEN_USED", "this confirmation token was already used"
                )
            raise SimError("CONFIRMATION_TOKEN_INVALID", "token does not match this trade")
        if t.status == "pending_confirmation":
            if token != t.token:
                raise SimError("CONFIRMATION_TOKEN_INVALID", "token does not match this trade")
            if t.token_expires_at is not None and now >= t.token_expires_at:
                self._expire_confirmation(t, now)
                raise SimError("CONFIRMATION_EXPIRED", "confirmation window has passed; re-create")
            t.token_used = True
            self._set_status(t, "pending", now, "com.kash.trade.confirmed.v1")
            self._schedule(now + self._scaled(self.scenario.lifecycle.pending_s), "trade", t.id)
            return t
        if t.error_code == "CONFIRMATION_EXPIRED":
            raise SimError("CONFIRMATION_EXPIRED", "confirmation window has passed; re-create")
        raise SimError("TRADE_NOT_AWAITING_CONFIRMATION", f"trade is {t.status}")

    def get_trade(self, api_key: str | KeyState, trade_id: str) -> TradeRecord:
        self._sync()
        key = self.key_for(api_key)
        t = self.trades.get(trade_id)
        if t is None or t.user_id != key.user_id:
            raise SimError("RESOURCE_NOT_FOUND", f"trade {trade_id} not found")
        return t

    def list_trades(
        self,
        api_key: str | KeyState,
        statuses: set[str] | None = None,
        market_id: str | None = None,
    ) -> list[TradeRecord]:
        """The user's trades, newest first."""
        self._sync()
        key = self.key_for(api_key)
        out = [
            t
            for t in self.trades.values()
            if t.user_id == key.user_id
            and (not statuses or t.status in statuses)
            and (market_id is None or t.market_id == market_id)
        ]
        out.reverse()
        return out

    def trace(self, api_key: str | KeyState, correlation_id: str) -> TradeRecord:
        key = self.key_for(api_key)
        tid = self._by_correlation.get(correlation_id)
        t = self.trades.get(tid) if tid else None
        if t is None or t.user_id != key.user_id:
            raise SimError("RESOURCE_NOT_FOUND", f"trace {correlation_id} not found")
        return t

    # lifecycle ---------------------------------------------------------

    def _trace(self, t: TradeRecord, type_: str, at: float, **data: object) -> None:
        base: dict[str, object] = {
            "tradeId": t.id,
            "marketId": t.market_id,
            "outcomeIndex": t.outcome,
            "side": t.side,
            "amount": usdc_str(t.amount),
        }
        base.update(data)
        t.trace.append(TraceEvent(type_, at, len(t.trace) + 1, base))

    def _set_status(self, t: TradeRecord, status: str, at: float, trace_type: str) -> None:
        t.status = status
        t.updated_at = at
        t.version += 1
        self._trace(t, trace_type, at)

    def _step_trade(self, t: TradeRecord, at: float) -> None:
        lc = self.scenario.lifecycle
        if t.status == "pending":
            self._set_status(t, "validating", at, "com.kash.trade.validating.v1")
            self._schedule(at + self._scaled(lc.validating_s), "trade", t.id)
        elif t.status == "validating":
            forced = t.forced_outcome
            if (forced and forced[0] == "rejected") or (
                forced is None and lc.reject_rate > 0 and self._rng_life.random() < lc.reject_rate
            ):
                code = forced[1] if forced else "risk_check_failed"
                self._finish(t, "rejected", at, code, "rejected by the risk engine")
                return
            self._set_status(t, "executing", at, "com.kash.trade.executing.v1")
            self._schedule(at + self._scaled(lc.executing_s), "trade", t.id)
        elif t.status == "executing":
            forced = t.forced_outcome
            if (forced and forced[0] == "failed") or (
                forced is None and lc.fail_rate > 0 and self._rng_life.random() < lc.fail_rate
            ):
                code = forced[1] if forced else "EXECUTION_REVERTED"
                self._finish(t, "failed", at, code, "on-chain execution reverted")
                return
            self._execute(t, at)

    def _release(self, t: TradeRecord, refund_volume: bool) -> None:
        user = self.users[t.user_id]
        user.held -= t.held_usdc
        t.held_usdc = 0
        if t.held_tokens:
            self.positions[(t.user_id, t.market_id, t.outcome)].held -= t.held_tokens
            t.held_tokens = 0
        if refund_volume and t.side == "buy":
            self.keys[t.key_id].volume.refund(t.id)

    def _finish(self, t: TradeRecord, status: str, at: float, code: str, message: str) -> None:
        self._release(t, refund_volume=True)
        t.error_code = code
        t.error_message = message
        event = {"failed": "com.kash.trade.failed.v1", "rejected": "com.kash.trade.rejected.v1"}
        self._set_status(t, status, at, event.get(status, "com.kash.trade.cancelled.v1"))
        if status in ("failed", "rejected"):
            self._emit(t, f"trade.{status}", at)

    def _expire_confirmation(self, t: TradeRecord, at: float) -> None:
        if t.status != "pending_confirmation":
            return
        status = self.scenario.api.expired_confirmation_status
        self._finish(t, status, at, "CONFIRMATION_EXPIRED", "confirmation window expired")

    def _position(self, user_id: str, market_id: str, outcome: int) -> Position:
        k = (user_id, market_id, outcome)
        pos = self.positions.get(k)
        if pos is None:
            pos = self.positions[k] = Position(user_id, market_id, outcome)
        return pos

    def _execute(self, t: TradeRecord, at: float) -> None:
        m = self.markets[t.market_id]
        user = self.users[t.user_id]
        self._release(t, refund_volume=False)
        if not m.tradeable(at):
            self._release(t, refund_volume=True)
            self._finish(t, "failed", at, "MARKET_NOT_TRADEABLE", "market stopped trading")
            return
        pos = self._position(t.user_id, t.market_id, t.outcome)
        if t.side == "buy":
            if user.balance < t.amount:
                self._finish(t, "failed", at, "INSUFFICIENT_BALANCE", "balance fell below amount")
                return
            b = amm.buy(m.pool, t.outcome, t.amount, self.fees)
            user.balance -= t.amount
            pos.shares += b.tokens_out
            pos.cost_basis += t.amount
            t.tokens_out = b.tokens_out
            pred = self._record(
                m,
                t.outcome,
                "buy",
                b.pool,
                at,
                "user",
                t.id,
                usdc_in=t.amount,
                tokens_out=b.tokens_out,
            )
        else:
            try:
                tokens = amm.tokens_for_payout(m.pool, t.outcome, t.amount, self.fees)
            except amm.AmmError:
                tokens = None
            if tokens is None or tokens > pos.shares - pos.held:
                self.keys[t.key_id].volume.refund(t.id)
                self._finish(
                    t,
                    "failed",
                    at,
                    "INSUFFICIENT_BALANCE",
                    "position too small for that payout at execution",
                )
                return
            s = amm.sell(m.pool, t.outcome, tokens, self.fees)
            user.balance += s.payout
            pos.cost_basis -= pos.cost_basis * tokens // pos.shares
            pos.shares -= tokens
            t.tokens_in = tokens
            t.payout = s.payout
            pred = self._record(
                m, t.outcome, "sell", s.pool, at, "user", t.id, usdc_out=s.payout, tokens_in=tokens
            )
        pos.trade_count += 1
        pos.first_trade_at = pos.first_trade_at or at
        pos.last_trade_at = at
        t.tx_hash = pred.tx_hash
        self._set_status(t, "completed", at, "com.kash.trade.executed.v1")
        t.trace[-1].data.update({"txHash": t.tx_hash, "tokensOut": str(t.tokens_out or 0)})
        self._emit(t, "trade.completed", at)

    def _record(
        self,
        m: MarketState,
        outcome: int,
        side: str,
        after: amm.Pool,
        at: float,
        source: str,
        trade_id: str | None,
        *,
        usdc_in: Atomic | None = None,
        usdc_out: Atomic | None = None,
        tokens_in: Wad | None = None,
        tokens_out: Wad | None = None,
    ) -> Prediction:
        m.pool = after
        m.version += 1
        self._block += 1
        probs = amm.probabilities(after)
        pred = Prediction(
            id="pred_" + self.ids.hex("prediction", 12),
            seq=next(self._seq),
            market_id=m.id,
            outcome=outcome,
            side="buy" if side == "buy" else "sell",
            usdc_in=usdc_in,
            usdc_out=usdc_out,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            price=amm.marginal_price(after, outcome),
            probability=probs[outcome],
            probabilities=probs,
            ts=at,
            block_number=self._block,
            tx_hash="0x" + self.ids.hex("tx", 32),
            log_index=0,
            source=source,
            trade_id=trade_id,
        )
        m.predictions.append(pred)
        tick = MarketTick(m.id, pred)
        for listener in list(self.listeners):
            listener(tick)
        return pred

    # ------------------------------------------------------------------ market activity

    def _noise_trade(self, m: MarketState, at: float) -> None:
        if not m.tradeable(at):
            return
        cfg = self._market_cfg(m.id).noise
        rng = self._noise_rng[m.id]
        step_truth(m.true_logits, (at - m.truth_at) * self.time_scale, cfg, rng)
        m.truth_at = at
        order = draw_order(m.pool, probs_from(m.true_logits), m.noise_holdings, cfg, self.fees, rng)
        if order is not None:
            if order.side == "buy":
                b = amm.buy(m.pool, order.outcome, order.amount, self.fees)
                m.noise_holdings[order.outcome] += b.tokens_out
                self._record(
                    m,
                    order.outcome,
                    "buy",
                    b.pool,
                    at,
                    "noise",
                    None,
                    usdc_in=order.amount,
                    tokens_out=b.tokens_out,
                )
            else:
                s = amm.sell(m.pool, order.outcome, order.amount, self.fees)
                m.noise_holdings[order.outcome] -= order.amount
                self._record(
                    m,
                    order.outcome,
                    "sell",
                    s.pool,
                    at,
                    "noise",
                    None,
                    usdc_out=s.payout,
                    tokens_in=order.amount,
                )
        self._schedule_noise(m, at)

    def apply_external_trade(
        self, market_id: str, outcome: int, side: str, amount: int
    ) -> Prediction:
        """Replay someone else's recorded trade: ``amount`` is USDC atomic for a buy and WAD
        tokens for a sell (what §7.2 rows carry). Bypasses keys, caps and lifecycle."""
        now = self._sync()
        m = self.markets.get(market_id)
        if m is None:
            raise SimError("MARKET_NOT_FOUND", f"market {market_id} not found")
        try:
            if side == "buy":
                b = amm.buy(m.pool, outcome, amount, self.fees)
                return self._record(
                    m,
                    outcome,
                    "buy",
                    b.pool,
                    now,
                    "external",
                    None,
                    usdc_in=amount,
                    tokens_out=b.tokens_out,
                )
            s = amm.sell(m.pool, outcome, amount, self.fees)
        except amm.AmmError as exc:
            raise SimError("VALIDATION_FAILED", str(exc)) from None
        return self._record(
            m, outcome, "sell", s.pool, now, "external", None, usdc_out=s.payout, tokens_in=amount
        )

    def freeze_market(self, market_id: str) -> MarketState:
        m = self.market(market_id)
        m.freeze_at = self.clock.now()
        m.version += 1
        return m

    def resolve_market(
        self, market_id: str, winners: tuple[int, ...] | list[int], *, at: float | None = None
    ) -> MarketState:
        m = self.markets.get(market_id)
        if m is None:
            raise SimError("MARKET_NOT_FOUND", f"market {market_id} not found")
        if not winners or any(not 0 <= w < m.pool.outcome_count for w in winners):
            raise SimError("VALIDATION_FAILED", "winners must be valid outcome indices")
        m.status = "RESOLVED"
        m.resolved_at = self.clock.now() if at is None else at
        m.winners = tuple(winners)
        m.resolved_pool = m.pool
        m.version += 1
        return m

    # ------------------------------------------------------------------ portfolio

    def user_positions(
        self, api_key: str | KeyState, market_id: str | None = None
    ) -> list[Position]:
        self._sync()
        key = self.key_for(api_key)
        return [
            p
            for (u, mid, _), p in self.positions.items()
            if u == key.user_id and p.shares > 0 and (market_id is None or mid == market_id)
        ]

    def balance(self, api_key: str | KeyState) -> Atomic:
        return self.users[self.key_for(api_key).user_id].balance

    def create_redemption(
        self, api_key: str | KeyState, market_id: str, outcome: int
    ) -> tuple[Redemption, bool]:
        """POST /v1/redemptions -> (redemption, replay). Payout follows §13 on the resolved pool."""
        now = self._sync()
        key = self.key_for(api_key)
        self.require_scope(key, self.scenario.api.redemption_scope)
        m = self.markets.get(market_id)
        if m is None:
            raise SimError("MARKET_NOT_FOUND", f"market {market_id} not found")
        if not 0 <= outcome < m.pool.outcome_count:
            raise SimError(
                "OUTCOME_INDEX_INVALID", f"outcomeIndex must be < {m.pool.outcome_count}"
            )
        for r in self.redemptions.values():
            if (r.user_id, r.market_id, r.outcome) == (key.user_id, market_id, outcome):
                return r, True
        if m.status != "RESOLVED" or m.resolved_pool is None:
            raise self._not_tradeable(m, "not resolved yet")
        pos = self.positions.get((key.user_id, market_id, outcome))
        if pos is None or pos.shares - pos.held <= 0:
            raise SimError("RESOURCE_NOT_FOUND", "no redeemable position for that outcome")
        shares = pos.shares
        payout = amm.redemption(m.resolved_pool, m.winners, shares) if outcome in m.winners else 0
        pos.shares = 0
        pos.cost_basis = 0
        r = Redemption(
            id=self.ids.uuid("redemption"),
            seq=next(self._seq),
            user_id=key.user_id,
            key_id=key.id,
            market_id=market_id,
            outcome=outcome,
            kind="resolved",
            shares=shares,
            payout=payout,
            status="pending",
            created_at=now,
            updated_at=now,
        )
        self.redemptions[r.id] = r
        self._schedule(now + self._scaled(self.scenario.lifecycle.redemption_s), "redemption", r.id)
        return r, False

    def _complete_redemption(self, r: Redemption, at: float) -> None:
        self.users[r.user_id].balance += r.payout
        r.status = "completed"
        r.updated_at = at

    # ------------------------------------------------------------------ webhooks

    def _trade_data(self, t: TradeRecord) -> dict[str, Any]:
        data: dict[str, Any] = {
            "tradeId": t.id,
            "marketId": t.market_id,
            "outcomeIndex": t.outcome,
            "amount": usdc_str(t.amount),
            "side": t.side,
            "status": t.status,
            "metadata": dict(t.metadata),
        }
        if t.status == "pending_confirmation" and t.token_expires_at is not None:
            data["confirmationExpiresAt"] = iso(t.token_expires_at)
        if t.status == "completed":
            data["txHash"] = t.tx_hash
            data["tokensOut"] = str(t.tokens_out) if t.tokens_out is not None else None
            if t.tokens_in is not None:
                data["tokensIn"] = str(t.tokens_in)
        if t.status in ("failed", "rejected"):
            data["errorCode"] = t.error_code
            data["errorMessage"] = t.error_message
        return data

    def _emit(self, t: TradeRecord, type_: str, at: float) -> None:
        key = self.keys[t.key_id]
        eid = "evt_" + self.ids.hex("event", 16)
        version = self.scenario.api.default_version
        envelope = {
            "id": eid,
            "type": type_,
            "apiVersion": version,
            "createdAt": iso(at),
            "data": self._trade_data(t),
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        ev = WebhookEvent(
            id=eid,
            seq=next(self._seq),
            key_id=key.id,
            type=type_,
            trade_id=t.id,
            created_at=at,
            body=body,
            api_version=version,
        )
        if key.webhook_url:
            ev.status = "pending"
            ev.next_attempt_at = at
            ev.outbox_emitted_at = at
            self._queued[key.id].append(ev)  # the newest seq: the list stays sorted
            self._schedule(at, "webhook", eid)
        else:
            ev.status = "none"
        self.events[eid] = ev
        self._outbox[key.id].append(eid)
        self._last_event[t.id] = eid

    def _requeue(self, ev: WebhookEvent) -> None:
        """``ev`` is pending/retrying again: make sure the delivery queue sees it."""
        queued = self._queued[ev.key_id]
        if not any(e is ev for e in queued):
            bisect.insort(queued, ev, key=lambda e: e.seq)

    def webhook_delivery_summary(self, t: TradeRecord) -> dict[str, Any] | None:
        key = self.keys[t.key_id]
        if not key.webhook_url:
            return None
        eid = self._last_event.get(t.id)
        if eid is None:
            return {
                "status": "none",
                "attempts": 0,
                "lastAttemptedAt": None,
                "lastStatusCode": None,
                "lastFailureCode": None,
                "terminalFailureAt": None,
            }
        ev = self.events[eid]
        return {
            "status": ev.status,
            "attempts": ev.attempts,
            "lastAttemptedAt": iso(ev.last_attempted_at) if ev.last_attempted_at else None,
            "lastStatusCode": ev.last_status_code,
            "lastFailureCode": ev.last_failure_code,
            "terminalFailureAt": iso(ev.terminal_failure_at) if ev.terminal_failure_at else None,
        }

    def _secrets(self, key: KeyState, now: float) -> list[str]:
        assert key.webhook_secret is not None
        secrets = [key.webhook_secret]
        if (
            self.scenario.webhooks.dual_sign_during_rotation
            and key.previous_secret
            and key.previous_retained_until is not None
            and now < key.previous_retained_until
        ):
            secrets.append(key.previous_secret)
        return secrets

    def _delivery(self, key: KeyState, ev: WebhookEvent, now: float, duplicate: bool) -> Delivery:
        assert key.webhook_url is not None
        t_ms = int(now * 1000)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Kash-Signature": signature_header(self._secrets(key, now), ev.body, t_ms),
            "X-Kash-Event-Id": ev.id,
            "X-Kash-Api-Version": ev.api_version,
            "User-Agent": USER_AGENT,
        }
        return Delivery(ev.id, key.id, key.webhook_url, ev.body, headers, duplicate)

    def due_deliveries(self, now: float | None = None) -> list[Delivery]:
        """Next HTTP attempt per key: FIFO, one in flight per key; marks them in flight.

        Faults bite here: ``webhook_reorder`` sends the second queued event before the head,
        ``webhook_duplicate`` asks the deliverer to send the same attempt twice.
        """
        now = self.clock.now() if now is None else now
        out: list[Delivery] = []
        for key in self.keys.values():
            if not key.webhook_url or not key.webhook_secret:
                continue
            queued = self._queued[key.id]
            queue = [ev for ev in queued if ev.status in ("pending", "retrying")]
            if len(queue) != len(queued):
                queued[:] = queue
            if not queue or any(ev.in_flight for ev in queue):
                continue
            names = (key.name, key.id, key.prefix)
            head = queue[0]
            if (
                len(queue) > 1
                and (queue[1].next_attempt_at or 0) <= now
                and self.faults.take({"webhook_reorder"}, now, key_names=names)
            ):
                head = queue[1]
            if head.next_attempt_at is None or head.next_attempt_at > now:
                continue
            dup = self.faults.take({"webhook_duplicate"}, now, key_names=names) is not None
            head.in_flight = True
            out.append(self._delivery(key, head, now, dup))
        return out

    def webhook_outage(self, key_id: str, now: float) -> bool:
        """Whether the receiver of ``key_id`` is 'down' now (fault ``webhook_outage``)."""
        key = self.keys[key_id]
        names = (key.name, key.id, key.prefix)
        return self.faults.take({"webhook_outage"}, now, key_names=names) is not None

    def record_delivery(
        self,
        event_id: str,
        status: int | None,
        *,
        now: float | None = None,
        timed_out: bool = False,
        error: str | None = None,
    ) -> WebhookEvent:
        """Book one attempt's outcome and schedule the next per §9 (scaled, seeded jitter)."""
        now = self.clock.now() if now is None else now
        ev = self.events[event_id]
        ev.in_flight = False
        ev.attempts += 1
        ev.run_attempts += 1
        ev.last_attempted_at = now
        ev.last_status_code = status
        cfg = self.scenario.webhooks
        result = outcome_of(status)
        if result == "delivered":
            ev.status = "delivered"
            ev.last_delivered_at = now
            ev.next_attempt_at = None
            ev.last_failure_code = None
        else:
            ev.last_failure_code = failure_code(status, timed_out)
            ev.last_error_message = error
            if result == "terminal" or ev.run_attempts >= len(cfg.retry_delays_s):
                ev.status = "failed"
                ev.terminal_failure_at = now
                ev.next_attempt_at = None
            else:
                base = cfg.retry_delays_s[ev.run_attempts] * cfg.retry_time_factor
                jitter = 1 + cfg.jitter * (2 * self._rng_hook.random() - 1)
                ev.status = "retrying"
                self._requeue(ev)
                ev.next_attempt_at = now + self._scaled(base * jitter)
                self._schedule(ev.next_attempt_at, "webhook", ev.id)
        # the next queued event of this key may be due right away
        self._schedule(now, "webhook", ev.id)
        return ev

    def _deliver_to_sink(self, at: float) -> None:
        assert self.webhook_sink is not None
        for d in self.due_deliveries(at):
            status = None if self.webhook_outage(d.key_id, at) else self.webhook_sink(d)
            if d.duplicate and status is not None:
                self.webhook_sink(d)
            self.record_delivery(d.event_id, status, now=at)

    def list_events(
        self, api_key: str | KeyState, statuses: set[str] | None = None, since: float | None = None
    ) -> list[WebhookEvent]:
        self._sync()
        key = self.key_for(api_key)
        evs = [
            self.events[e]
            for e in self._outbox[key.id]
            if (not statuses or self.events[e].status in statuses)
            and (since is None or self.events[e].created_at >= since)
        ]
        evs.reverse()
        return evs

    def redeliver(self, api_key: str | KeyState, event_id: str) -> WebhookEvent:
        now = self._sync()
        key = self.key_for(api_key)
        ev = self.events.get(event_id)
        if ev is None or ev.key_id != key.id:
            raise SimError("RESOURCE_NOT_FOUND", f"event {event_id} not found")
        if ev.replay_count >= self.scenario.webhooks.max_redeliveries:
            raise SimError(
                "WEBHOOK_REPLAY_LIMIT_REACHED", "an event can be replayed at most 5 times"
            )
        ev.replay_count += 1
        if key.webhook_url:
            ev.status = "pending"
            self._requeue(ev)
            ev.run_attempts = 0
            ev.terminal_failure_at = None
            ev.next_attempt_at = now
            self._schedule(now, "webhook", ev.id)
        return ev

    def rotate_webhook_secret(self, api_key: str | KeyState) -> tuple[str, float, float]:
        """-> (new secret, rotatedAt, previousRetainedUntil)."""
        now = self._sync()
        key = self.key_for(api_key)
        cfg = self.scenario.webhooks
        if not key.webhook_url or not key.webhook_secret:
            raise SimError("VALIDATION_FAILED", "this key has no webhook URL and secret to rotate")
        if key.rotated_at is not None and now - key.rotated_at < cfg.rotation_cooldown_s:
            wait = int(key.rotated_at + cfg.rotation_cooldown_s - now) + 1
            raise SimError(
                "WEBHOOK_SECRET_ROTATION_COOLDOWN", "rotated less than 60 s ago", retry_after=wait
            )
        key.previous_secret = key.webhook_secret
        key.previous_retained_until = now + cfg.rotation_overlap_s
        key.webhook_secret = "whsec_" + self.ids.token("whsec")
        key.rotated_at = now
        return key.webhook_secret, now, key.previous_retained_until

    def set_webhook(self, ref: str, url: str | None, secret: str | None = None) -> KeyState:
        """Admin: register (or clear) a key's webhook URL; mints a secret when none is given."""
        key = self.find_key(ref)
        key.webhook_url = url
        if url and secret:
            key.webhook_secret = secret
        elif url and not key.webhook_secret:
            key.webhook_secret = "whsec_" + self.ids.token("whsec")
        now = self.clock.now()
        for eid in self._outbox[key.id]:  # queued-but-undeliverable events become deliverable
            ev = self.events[eid]
            if url and ev.status == "none":
                continue  # events emitted while no URL was set stay 'none' (Kash never sent them)
            if not url and ev.status in ("pending", "retrying"):
                ev.status = "none"
        self._schedule(now, "webhook", "")
        return key

    # ------------------------------------------------------------------ telemetry & truth

    def usage(self, api_key: str | KeyState) -> dict[str, Any]:
        now = self._sync()
        key = self.key_for(api_key)

        def window(days: int, latency: bool) -> dict[str, Any]:
            ts = [
                t
                for t in self.trades.values()
                if t.key_id == key.id and t.created_at >= now - days * DAY_S
            ]
            done = [t for t in ts if t.status == "completed"]
            failed = [t for t in ts if t.status in ("failed", "rejected")]
            finished = len(done) + len(failed)
            out: dict[str, Any] = {
                "total": len(ts),
                "completed": len(done),
                "failed": len(failed),
                "successRate": len(done) / finished if finished else None,
            }
            if latency:
                lat = sorted((t.updated_at - t.created_at) * 1000 for t in done)
                out["latencyMs"] = {
                    "p50": lat[len(lat) // 2] if lat else None,
                    "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
                }
            return out

        evs = [
            self.events[e]
            for e in self._outbox[key.id]
            if self.events[e].created_at >= now - 7 * DAY_S
        ]
        delivered = sum(1 for e in evs if e.status == "delivered")
        failed = sum(1 for e in evs if e.status == "failed")
        return {
            "apiKeyId": key.id,
            "generatedAt": iso(now),
            "trades": {"24h": window(1, True), "7d": window(7, False), "30d": window(30, False)},
            "webhooks": {
                "7d": {
                    "emitted": len(evs),
                    "delivered": delivered,
                    "failed": failed,
                    "successRate": delivered / (delivered + failed) if delivered + failed else None,
                }
            },
            "auth": {
                "24h": {
                    "failures": sum(1 for x in key.auth_failures if x >= now - DAY_S),
                    "rateLimitRejections": sum(1 for x in key.rate_rejections if x >= now - DAY_S),
                }
            },
        }

    def arm_fault(self, spec: FaultSpec | dict[str, Any]) -> str:
        if isinstance(spec, dict):
            spec = FaultSpec.model_validate(spec)
        return self.faults.arm(spec, self.clock.now()).id

    def trade_history(self) -> list[tuple[Any, ...]]:
        """Every executed trade on every market, in execution order (determinism checks)."""
        preds = sorted(
            (p for m in self.markets.values() for p in m.predictions), key=lambda p: p.seq
        )
        return [
            (
                p.id,
                p.market_id,
                p.outcome,
                p.side,
                p.usdc_in,
                p.usdc_out,
                p.tokens_in,
                p.tokens_out,
                p.ts,
                p.tx_hash,
                p.source,
                p.trade_id,
            )
            for p in preds
        ]

    def in_flight(self) -> list[TradeRecord]:
        return [t for t in self.trades.values() if t.status in IN_FLIGHT]

    @staticmethod
    def is_terminal(t: TradeRecord) -> bool:
        return t.status in TERMINAL
