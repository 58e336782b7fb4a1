"""Trades (§6): submission with its checks, caps, idempotency and confirmation gate, then
pending → validating → executing → completed | failed | rejected on the step heap.
"""

from __future__ import annotations

from kashbot import amm
from kashbot.money import Atomic, usdc_str
from kashbot.sim.errors import SimError
from kashbot.sim.models import (
    IdempotencyEntry,
    KeyState,
    Position,
    TraceEvent,
    TradeRecord,
    TradeSubmission,
)
from kashbot.sim.trade_checks import (
    TradeRequest,
    TradeRequestFields,
    check_request,
    fingerprint,
)
from kashbot.sim.trade_retention import TradeRetention

# The message of a trade a lifecycle step ends (by the scenario's rate or a fault).
_END_MESSAGES = {
    "rejected": "rejected by the risk engine",
    "failed": "on-chain execution reverted",
}


class TradeLifecycle(TradeRetention):
    """Holds USDC or tokens at submission, executes on the pool, emits the trade's webhooks."""

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
        pending_s: float | None = None,
    ) -> TradeSubmission:
        """POST /v1/trades. ``amount_atomic``: USDC to spend (buy) or to receive (sell).
        ``pending_s``: this trade's pending time in scenario seconds (a backtest's order
        latency), instead of ``scenario.lifecycle.pending_s``.

        Kash's order: request checks, replays (Idempotency-Key, then clientRequestId), account
        and cap checks, then the trade is opened (funds held) and gated or scheduled.
        """
        now = self._sync()
        key = self.key_for(api_key)
        self.require_scope(key, "trades:write")
        req = check_request(
            self.scenario.api,
            self.markets,
            TradeRequestFields(
                market_id, outcome, side, amount_atomic, idempotency_key, client_request_id
            ),
            metadata,
        )
        replay = self._replay_of(key, req, idempotency_key, now)
        if replay is not None:
            return replay
        held_tokens = self._check_account(key, req, now)
        trade = self._open_trade(key, req, held_tokens, now)
        code = self._gate_or_schedule(key, trade, now, pending_s)
        if idempotency_key is not None:
            entry = IdempotencyEntry(req.fp, trade.id, now, code)
            self._idem_recorded((key.id, idempotency_key), entry)
        return TradeSubmission(
            trade,
            code,
            False,
            idempotency_key,
            trade.token if code == 202 else None,
            trade.token_expires_at if code == 202 else None,
        )

    def _replay_of(
        self, key: KeyState, req: TradeRequest, idempotency_key: str | None, now: float
    ) -> TradeSubmission | None:
        """The earlier answer for a repeated Idempotency-Key or clientRequestId, else None."""
        api = self.scenario.api
        if idempotency_key is not None:
            entry = self._idem.get((key.id, idempotency_key))
            if entry is not None:
                if now - entry.created_at >= api.idempotency_ttl_s:
                    if api.idempotency_after_ttl == "gone":
                        raise SimError(
                            "IDEMPOTENCY_KEY_EXPIRED", "Idempotency-Key is older than 24 h"
                        )
                    del self._idem[(key.id, idempotency_key)]
                elif entry.fingerprint != req.fp:
                    raise SimError(
                        "IDEMPOTENCY_KEY_CONFLICT", "Idempotency-Key was used with a different body"
                    )
                else:
                    return self._replay(
                        self.trades[entry.trade_id], entry.status_code, idempotency_key
                    )
        if req.client_request_id is not None:
            tid = self._crids.get((key.user_id, req.client_request_id))
            if tid is not None:
                t = self.trades[tid]
                if fingerprint(t.market_id, t.outcome, t.side, t.amount, t.metadata) != req.fp:
                    raise SimError(
                        api.client_request_id_conflict_code,
                        "clientRequestId was used with a different body",
                    )
                return self._replay(t, 201, idempotency_key)
        return None

    def _check_account(self, key: KeyState, req: TradeRequest, now: float) -> int:
        """Market open, account ready, caps and funds (409s); the tokens a sell would hold."""
        m = self.markets[req.market_id]
        user = self.users[key.user_id]
        amount = req.amount
        if not m.tradeable(now):
            why = m.resolution_state or ("frozen" if m.status == "ACTIVE" else m.status)
            raise self._not_tradeable(m, why)
        if not user.smart_account_provisioned:
            raise SimError("SMART_ACCOUNT_NOT_PROVISIONED", "smart account is not provisioned yet")
        if not user.delegation_enabled:
            raise SimError("WALLET_DELEGATION_NOT_ENABLED", "wallet delegation is not enabled")
        if amount > key.per_trade_cap:
            raise SimError(
                "SPENDING_LIMIT_EXCEEDED",
                f"amount exceeds the per-trade cap of {usdc_str(key.per_trade_cap)} USDC",
                cap="per_trade",
            )
        if req.side == "buy":
            if key.volume.used(now) + amount > key.daily_cap:
                raise SimError(
                    "SPENDING_LIMIT_EXCEEDED",
                    f"amount exceeds the rolling-24h cap of {usdc_str(key.daily_cap)} USDC",
                    cap="daily_volume",
                )
            if user.balance - user.held < amount:
                raise SimError("INSUFFICIENT_BALANCE", "smart-account USDC balance is below amount")
            return 0
        pos = self.positions.get((user.id, req.market_id, req.outcome))
        available = pos.shares - pos.held if pos else 0
        try:
            held_tokens = amm.tokens_for_payout(m.pool, req.outcome, amount, m.fees)
        except amm.AmmError:
            held_tokens = available + 1
        if pos is None or held_tokens > available:
            raise SimError(
                "INSUFFICIENT_BALANCE", "position too small to receive that amount from a sell"
            )
        return held_tokens

    def _open_trade(
        self, key: KeyState, req: TradeRequest, held_tokens: int, now: float
    ) -> TradeRecord:
        """Create the pending trade, apply an armed trade fault, hold its USDC or tokens."""
        user = self.users[key.user_id]
        tid = self.ids.uuid("trade")
        trade = TradeRecord(
            id=tid,
            seq=next(self._seq),
            key_id=key.id,
            user_id=user.id,
            market_id=req.market_id,
            outcome=req.outcome,
            side="buy" if req.side == "buy" else "sell",
            amount=req.amount,
            status="pending",
            correlation_id=self.ids.uuid("correlation"),
            client_request_id=req.client_request_id,
            metadata=req.meta,
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
        if req.side == "buy":
            user.held += req.amount
            trade.held_usdc = req.amount
            key.volume.add(now, tid, req.amount)
        else:
            pos = self.positions[(user.id, req.market_id, req.outcome)]
            pos.held += held_tokens
            trade.held_tokens = held_tokens
        if req.client_request_id is not None:
            self._crids[(user.id, req.client_request_id)] = tid
        self._trace(trade, "com.kash.trade.requested.v1", now)
        return trade

    def _gate_or_schedule(
        self, key: KeyState, trade: TradeRecord, now: float, pending_s: float | None
    ) -> int:
        """202 behind the confirmation gate at or above the key's threshold, else 201."""
        if key.threshold is not None and trade.amount >= key.threshold:
            trade.gated = True
            trade.status = "pending_confirmation"
            trade.token = self.ids.token("confirm")
            trade.token_expires_at = now + key.confirm_window_s
            self._schedule(trade.token_expires_at, "expire", trade.id)
            self._trace(trade, "com.kash.trade.confirmation_required.v1", now)
            self._emit(trade, "trade.confirmation-required", now)
            return 202
        if pending_s is None:
            pending_s = self.scenario.lifecycle.pending_s
        self._schedule(now + self._scaled(pending_s), "trade", trade.id)
        return 201

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
        self._ended_at(t, at)

    def _step_trade(self, t: TradeRecord, at: float) -> None:
        lc = self.scenario.lifecycle
        if t.status == "pending":
            self._advance(t, at, "validating", lc.validating_s)
        elif t.status == "validating":
            if not self._ended(t, at, "rejected", lc.reject_rate, "risk_check_failed"):
                self._advance(t, at, "executing", lc.executing_s)
        elif t.status == "executing" and not self._ended(
            t, at, "failed", lc.fail_rate, "EXECUTION_REVERTED"
        ):
            self._execute(t, at)

    def _advance(self, t: TradeRecord, at: float, status: str, stay_s: float) -> None:
        """Enter the next step and schedule the one after it ``stay_s`` (scenario seconds) on."""
        self._set_status(t, status, at, f"com.kash.trade.{status}.v1")
        self._schedule(at + self._scaled(stay_s), "trade", t.id)

    def _ended(self, t: TradeRecord, at: float, status: str, rate: float, code: str) -> bool:
        """Does this step end the trade in ``status`` (``rejected`` or ``failed``)?

        A fault's forced outcome decides alone (no draw); otherwise one draw at ``rate``.
        """
        forced = t.forced_outcome
        if forced is not None:
            if forced[0] != status:
                return False
            code = forced[1]
        elif not (rate > 0 and self._rng_life.random() < rate):
            return False
        self._finish(t, status, at, code, _END_MESSAGES[status])
        return True

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
            b = amm.buy(m.pool, t.outcome, t.amount, m.fees)
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
                tokens = amm.tokens_for_payout(m.pool, t.outcome, t.amount, m.fees)
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
            s = amm.sell(m.pool, t.outcome, tokens, m.fees)
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
