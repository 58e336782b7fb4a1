"""The webhook outbox (§9): events per key, FIFO delivery with one attempt in flight,
retries on the documented schedule, redelivery, secret rotation.

Each key keeps a delivery queue (its events that may be pending or retrying, by seq) next to
the full outbox, so a delivery step costs the queue's length, not the outbox's.
"""

from __future__ import annotations

import bisect
import json
from typing import Any

from kashbot.money import usdc_str
from kashbot.sim.errors import SimError
from kashbot.sim.ids import iso
from kashbot.sim.market_lifecycle import MarketLifecycle
from kashbot.sim.models import (
    Delivery,
    KeyState,
    TradeRecord,
    WebhookEvent,
)
from kashbot.sim.webhooks import USER_AGENT, failure_code, outcome_of, signature_header


class WebhookOutbox(MarketLifecycle):
    """Emits trade events and hands due attempts to a deliverer (HTTP) or an in-process sink."""

    def _trade_data(self, t: TradeRecord) -> dict[str, Any]:
        data: dict[str, Any] = {
            "tradeId": t.id,
            "marketId": t.market_id,
            "outcomeIndex": t.outcome,
            "amount": usdc_str(t.amount),
            "side": t.side,
            "status": t.status,
            "metadata": dict(t.metadata),
            # on every trade webhook whatever the key pins: a push negotiates no version
            "chainRef": self.markets[t.market_id].chain,
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
        ev = self.events.get(eid) if eid is not None else None
        if ev is None:  # none emitted yet, or forgotten (kashbot.sim.trade_retention)
            return {
                "status": "none",
                "attempts": 0,
                "lastAttemptedAt": None,
                "lastStatusCode": None,
                "lastFailureCode": None,
                "terminalFailureAt": None,
            }
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

    def _delivery(
        self, key: KeyState, ev: WebhookEvent, now: float, duplicate: bool, signed: bool = True
    ) -> Delivery:
        assert key.webhook_url is not None
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Kash-Event-Id": ev.id,
            "X-Kash-Api-Version": ev.api_version,
            "User-Agent": USER_AGENT,
        }
        if signed:
            t_ms = int(now * 1000)
            headers["X-Kash-Signature"] = signature_header(self._secrets(key, now), ev.body, t_ms)
        return Delivery(ev.id, key.id, key.webhook_url, ev.body, headers, duplicate)

    def due_deliveries(self, now: float | None = None, *, signed: bool = True) -> list[Delivery]:
        """Next HTTP attempt per key: FIFO, one in flight per key; marks them in flight.

        Faults bite here: ``webhook_reorder`` sends the second queued event before the head,
        ``webhook_duplicate`` asks the deliverer to send the same attempt twice. ``signed=False``:
        no ``X-Kash-Signature`` (an in-process sink that verifies nothing, see ``sink_signed``).
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
            out.append(self._delivery(key, head, now, dup, signed))
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
        for d in self.due_deliveries(at, signed=self.sink_signed):
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
