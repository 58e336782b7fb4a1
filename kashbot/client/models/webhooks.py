"""Webhook management: the event log, manual redelivery, secret rotation (§7 webhooks)."""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr

from kashbot.client.models.wire import KashModel


class WebhookEventDelivery(KashModel):
    attempts: int | None = None
    last_attempted_at: datetime | None = None
    last_delivered_at: datetime | None = None
    last_status_code: int | None = None
    last_failure_code: str | None = None
    last_error_message: str | None = None
    terminal_failure_at: datetime | None = None


class WebhookEventRecord(KashModel):
    id: str  # opaque (docs: evt_<hex>, SDK: uuid)
    event_type: str
    trade_request_id: str | None = None
    emitted_at: datetime | None = None
    outbox_emitted_at: datetime | None = None
    replay_count: int = 0
    status: str | None = None
    delivery: WebhookEventDelivery | None = None


class RedeliveredEvent(KashModel):
    id: str
    event_type: str | None = None
    api_key_id: str | None = None
    trade_request_id: str | None = None
    emitted_at: datetime | None = None
    last_delivered_at: datetime | None = None
    delivery_attempts: int | None = None
    message: str | None = None  # from ``_meta.message``


class WebhookSecret(KashModel):
    secret: SecretStr  # shown once by the server; ``.get_secret_value()`` to store it
    rotated_at: datetime | None = None
    previous_retained_until: datetime | None = None
