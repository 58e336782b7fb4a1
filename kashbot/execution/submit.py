"""Sending one approved intent: persist, send, and take the venue's answer.

Order of operations (crash-only; each step is on disk before the next):

1. persist the intent, its Idempotency-Key and its ledger reservation;
2. ``create_trade`` with that key and ``clientRequestId = intent_id``;
3. 201/202 → commit the reservation, persist the trade, hand it to the follower;
4. a definite refusal → release the reservation and let the gate react (halt, reduce, deny);
5. outcome unknown → the reconciler settles it before anything else (never a second order).

The intent is not sent (released, denied with the gate's reason) while trading is halted, once
it is older than ``max_intent_age_s``, or when the pool already crossed its ``limit_probability``.
"""

from __future__ import annotations

import structlog

from kashbot.client.errors import (
    KashError,
    KashResponseError,
    OutcomeUnknownError,
    RequestDeadlineExceeded,
)
from kashbot.client.models import Trade, TradeCreated
from kashbot.events import Side, TradingState
from kashbot.execution.follow import TradeFollower
from kashbot.execution.reconcile import Reconciler
from kashbot.execution.settings import ExecutionContext
from kashbot.execution.trades import is_terminal, limit_breach, trade_metadata, trade_record
from kashbot.money import usdc_str
from kashbot.risk.gate import Approval, Reason
from kashbot.store.store import ACCEPTED, APPROVED, DONE, IntentRecord

log = structlog.get_logger("kashbot.execution")


def hold_reason(ctx: ExecutionContext, approval: Approval) -> tuple[Reason, str] | None:
    """Why this intent must not be sent (or re-sent) now, as (reason code, detail)."""
    if ctx.gate.state is TradingState.HALTED:
        return Reason.HALTED, ctx.gate.state_reason
    i = approval.intent
    max_age = ctx.settings.max_intent_age_s
    if max_age is not None:
        age = ctx.clock.now() - (i.created_ts or approval.approved_at)
        if age > max_age:
            return Reason.STALE_INTENT, f"{age:.1f} s old > max {max_age:g} s"
    if ctx.pool_view is not None and i.limit_probability is not None:
        view = ctx.pool_view(i.market_id)
        why = None if view is None else limit_breach(i, *view)
        if why is not None:
            return Reason.LIMIT_BREACHED, why
    return None


async def send(ctx: ExecutionContext, approval: Approval) -> TradeCreated:
    """POST the intent; the venue sends nothing once it is older than ``max_intent_age_s``
    (the request budget's wait happens inside the client, after ``hold_reason``)."""
    i = approval.intent
    not_after = None
    if ctx.settings.max_intent_age_s is not None:
        not_after = (i.created_ts or approval.approved_at) + ctx.settings.max_intent_age_s
    return await ctx.venue.create_trade(
        i.market_id,
        i.outcome,
        "buy" if i.side is Side.BUY else "sell",
        usdc_str(i.amount),
        client_request_id=i.intent_id,
        metadata=trade_metadata(i),
        idempotency_key=approval.idempotency_key,
        not_after=not_after,
    )


class Submitter:
    """Sends approved intents and settles what the venue answered (accepted or not created)."""

    def __init__(self, ctx: ExecutionContext, follower: TradeFollower) -> None:
        self.ctx = ctx
        self.follower = follower
        self.reconciler = Reconciler(ctx, self)

    async def execute(self, approval: Approval) -> str | None:
        """Send one approved intent; returns the trade id, or None if no trade exists (yet).

        Raises ``PermissionError`` (nothing persisted, nothing sent) for an approval this
        executor's gate did not mint, or one it already settled or released: a sealed approval
        from another gate would spend headroom this gate never reserved.
        """
        ctx, gate = self.ctx, self.ctx.gate
        if not gate.is_issued(approval):
            raise PermissionError(
                f"approval {approval.reservation_id} was not issued by this gate"
                " or is already settled"
            )
        i = approval.intent
        rec = IntentRecord(
            intent=i,
            idempotency_key=approval.idempotency_key,
            reservation_id=approval.reservation_id,
            daily_draw=approval.daily_draw,
            exposure=approval.exposure,
            status=APPROVED,
            updated_ts=ctx.clock.now(),
        )
        try:
            await ctx.store.save_intent(rec, gate.reservation(approval))
        except BaseException:
            gate.release(approval)
            raise
        log.info("order_sending", **i.log_fields())
        hold = self.hold_reason(approval)
        if hold is not None:
            await self.drop(approval, *hold)
            return None
        try:
            created = await self.send(approval)
        except (OutcomeUnknownError, KashResponseError) as exc:
            # the POST may have created the trade (lost answer, or a 2xx we cannot read)
            log.warning("order_outcome_unknown", intent_id=i.intent_id, error=str(exc))
            return await self.reconciler.start(approval)
        except RequestDeadlineExceeded as exc:
            # went stale waiting for the request budget; never sent, so the same as our refusal
            await self.drop(approval, Reason.STALE_INTENT, str(exc))
            return None
        except KashError as exc:
            await self.refused(approval, exc)
            return None
        return await self.accepted(approval, created)

    def hold_reason(self, approval: Approval) -> tuple[Reason, str] | None:
        return hold_reason(self.ctx, approval)

    async def send(self, approval: Approval) -> TradeCreated:
        return await send(self.ctx, approval)

    async def drop(self, approval: Approval, code: Reason, detail: str) -> None:
        """Not sent, or proven never created, for a reason of our own: release and deny.

        The denial goes through the gate, like its own: one log line, one ``RiskDenied``, and
        the gate's ``recent_denials`` (the status view) list it.
        """
        await self._release_unsent(approval, f"{code}: {detail}")
        self.ctx.gate.deny(approval.intent, code, detail)

    async def _release_unsent(self, approval: Approval, detail: str) -> None:
        """No trade exists for the intent: free its reservation and stop reconciling it."""
        self.ctx.gate.release(approval)
        await self.ctx.store.record_refused(
            approval.intent.intent_id, approval.reservation_id, self.ctx.clock.now(), detail
        )
        self.reconciler.forget(approval.intent.intent_id)

    async def refused(self, approval: Approval, exc: KashError) -> None:
        """The venue did not create the trade: release, record, and let the gate react."""
        i = approval.intent
        code = exc.code or type(exc).__name__
        await self._release_unsent(approval, f"{code}: {exc.detail or ''}")
        reason = self.ctx.gate.refused(i, exc)
        if i.side is Side.SELL and reason is Reason.VENUE_INSUFFICIENT_BALANCE:
            await self.follower.sync_position(i)  # we hold less than we thought: learn how much

    async def accepted(self, approval: Approval, created: TradeCreated | Trade) -> str:
        """The venue has the trade (201/202, or found by reconciling): commit and follow it."""
        ctx = self.ctx
        trade = created.trade if isinstance(created, TradeCreated) else created
        token = (
            created.confirmation.token
            if isinstance(created, TradeCreated) and created.confirmation is not None
            else None
        )
        i = approval.intent
        now = ctx.clock.now()
        entry = ctx.gate.commit(approval, now)
        self.reconciler.forget(i.intent_id)
        terminal = is_terminal(trade.status)
        await ctx.store.record_accepted(
            trade_record(trade.id, i, trade.status, trade.tokens_out, trade.error_code, now),
            entry,
            now,
            intent_status=DONE if terminal else ACCEPTED,
        )
        log.info(
            "order_accepted",
            intent_id=i.intent_id,
            trade_id=trade.id,
            status=trade.status,
            amount=i.amount,
            amount_usdc=usdc_str(i.amount),
            http_status=getattr(created, "status_code", None),
        )
        await self.follower.track(trade, i, approval.reservation_id, token, approval.auto_confirm)
        return trade.id
