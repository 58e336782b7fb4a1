"""Unknown outcomes: a POST that may or may not have created a trade.

Reconcile before anything else: find the trade by ``clientRequestId``, else replay with the
*same* key and body (the venue answers a replay with the original result), so an order is never
submitted twice. The first attempts run right after the lost answer; what stays unknown is
retried by the router's reconcile loop (``reconcile_unknown``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from kashbot.client.errors import KashError, KashResponseError, OutcomeUnknownError
from kashbot.client.models import Trade, TradeCreated
from kashbot.events import OrderIntent
from kashbot.execution.settings import ExecutionContext
from kashbot.retry import Backoff
from kashbot.risk.gate import Approval, Reason

if TYPE_CHECKING:
    from kashbot.execution.submit import Submitter

log = structlog.get_logger("kashbot.execution")


@dataclass(slots=True)
class Unknown:
    """An intent whose POST may or may not have created a trade."""

    approval: Approval
    last_sent: float  # when a POST for it last came back without an answer


@dataclass(frozen=True, slots=True)
class NotCreated:
    """Reconciling proved the venue has no trade for the intent (``code``: the reason)."""

    code: Reason
    detail: str


class Reconciler:
    """The intents whose outcome is unknown, and how each is settled."""

    def __init__(self, ctx: ExecutionContext, submitter: Submitter) -> None:
        self.ctx = ctx
        self.submitter = submitter
        self.unknown: dict[str, Unknown] = {}

    def forget(self, intent_id: str) -> None:
        self.unknown.pop(intent_id, None)

    async def start(self, approval: Approval) -> str | None:
        """A send came back without an answer: register it and reconcile right away."""
        unknown = Unknown(approval, self.ctx.clock.now())
        self.unknown[approval.intent.intent_id] = unknown
        return await self.resolve(unknown, self.ctx.settings.reconcile_attempts, first=True)

    async def reconcile_unknown(self) -> int:
        """One reconcile attempt per intent whose outcome is unknown; how many remain so."""
        for unknown in list(self.unknown.values()):
            if self.unknown.get(unknown.approval.intent.intent_id) is unknown:
                await self.resolve(unknown, 1)
        return len(self.unknown)

    async def resolve(self, unknown: Unknown, attempts: int, *, first: bool = False) -> str | None:
        """Reconcile one unknown intent; the trade id if found, None if gone or still unknown."""
        approval, sub = unknown.approval, self.submitter
        try:
            outcome = await self._reconcile(unknown, attempts)
        except KashError as refusal:
            await sub.refused(approval, refusal)
            return None
        if isinstance(outcome, NotCreated):
            await sub.drop(approval, outcome.code, outcome.detail)
            return None
        if outcome is None:
            if first:
                log.error(
                    "order_outcome_still_unknown",
                    intent_id=approval.intent.intent_id,
                    idempotency_key=approval.idempotency_key,
                )
            self.ctx.work.set()
            return None
        return await sub.accepted(approval, outcome)

    async def _reconcile(
        self, unknown: Unknown, attempts: int
    ) -> TradeCreated | Trade | NotCreated | None:
        """After an unknown outcome: look the trade up, else replay under the same key.

        Raises the venue's error if a replay is definitely refused (then nothing was created);
        an answer given before the venue looked (429, 503) proves nothing and is retried. No
        replay while halted or once the intent is stale or past its limit (it could create
        the trade for the first time): then only a lookup can settle it. None: still unknown.
        """
        ctx, sub = self.ctx, self.submitter
        approval = unknown.approval
        i = approval.intent
        for attempt in range(attempts):
            if attempt:
                await ctx.clock.sleep(Backoff(ctx.settings.reconcile_backoff_s).delay(attempt - 1))
            try:
                found, complete = await self._lookup(i)
            except KashError as exc:
                log.warning("reconcile_lookup_failed", intent_id=i.intent_id, error=str(exc))
                continue
            hold = sub.hold_reason(approval)
            if found is not None and (
                hold is not None or not (found.awaiting_confirmation and approval.auto_confirm)
            ):
                log.info("reconcile_found", intent_id=i.intent_id, trade_id=found.id)
                return found
            quiet = ctx.clock.now() - unknown.last_sent
            if found is None and complete and quiet >= ctx.settings.unknown_settle_s:
                return NotCreated(
                    Reason.OUTCOME_NOT_FOUND,
                    f"no trade with clientRequestId {i.intent_id}"
                    f" {quiet:.0f} s after the last send",
                )
            if hold is not None:
                log.info("reconcile_lookup_only", intent_id=i.intent_id, reason=hold[0])
                continue
            # Not found (or found awaiting a token we never saw): the same key and body either
            # returns the original response or creates the trade once.
            try:
                created = await sub.send(approval)
            except (OutcomeUnknownError, KashResponseError) as exc:
                log.warning("reconcile_replay_unknown", intent_id=i.intent_id, error=str(exc))
                continue
            except KashError as exc:
                if exc.definite_refusal:
                    raise
                log.warning(
                    "reconcile_replay_not_looked_at",
                    intent_id=i.intent_id,
                    code=exc.code,
                    status=exc.status,
                )
                ctx.gate.note_error(exc)
                continue
            finally:
                unknown.last_sent = ctx.clock.now()
            log.info(
                "reconcile_replayed",
                intent_id=i.intent_id,
                trade_id=created.trade.id,
                idempotent_replay=created.idempotent_replay,
            )
            return created
        return None

    async def find_trade(self, intent: OrderIntent) -> Trade | None:
        """Our trade by ``clientRequestId`` (= intent id) in the market's recent trades."""
        return (await self._lookup(intent))[0]

    async def _lookup(self, intent: OrderIntent) -> tuple[Trade | None, bool]:
        """(our trade or None, whether the market's whole trade list was searched)."""
        cursor: str | None = None
        for _ in range(self.ctx.settings.reconcile_pages):
            page = await self.ctx.venue.list_trades(
                market_id=intent.market_id, limit=100, cursor=cursor
            )
            for t in page.data:
                if t.client_request_id == intent.intent_id:
                    return t, True
            if not page.has_more or page.cursor is None:
                return None, True
            cursor = page.cursor
        return None, False
