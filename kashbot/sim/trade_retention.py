"""How long the venue remembers finished trades, their webhook events and Idempotency-Keys.

A long-running venue (the paper daemon's in-process simulator) would otherwise keep every
trade it ever saw. A trade is forgotten ``api.trade_retention_s`` after it reached a terminal
status, never sooner than the idempotency window (``api.idempotency_ttl_s``), so
``GET /v1/trades/{id}`` answers for recent trades and every replay inside the window still
finds its trade. Webhook events are forgotten by age once no delivery is pending, and
Idempotency-Keys one retention after their first use (a reuse after that is a new request).
Each table is aged from the front of a queue in time order: O(1) amortised per call.
"""

from __future__ import annotations

from kashbot.sim.models import TERMINAL, IdempotencyEntry, TradeRecord
from kashbot.sim.webhook_outbox import WebhookOutbox

_UNDELIVERED = frozenset({"pending", "retrying"})


class TradeRetention(WebhookOutbox):
    """Ages the ended-trade and used-key queues (``VenueState``) on every API call."""

    @property
    def retention_s(self) -> float:
        api = self.scenario.api
        return max(api.trade_retention_s, api.idempotency_ttl_s)

    def _ended_at(self, t: TradeRecord, at: float) -> None:
        """``t`` just reached ``t.status``; queue it for forgetting if that is terminal."""
        if t.status in TERMINAL:
            self._ended_trades.append((at, t.id))

    def _idem_recorded(self, k: tuple[str, str], entry: IdempotencyEntry) -> None:
        self._idem[k] = entry
        self._idem_used.append((k, entry))

    def _forget_old(self, now: float) -> None:
        """Drop what is older than the retention (called from ``_sync``)."""
        horizon = now - self.retention_s
        ended = self._ended_trades
        while ended and ended[0][0] < horizon:
            self._forget_trade(ended.popleft()[1])
        used = self._idem_used
        while used and used[0][1].created_at < horizon:
            k, entry = used.popleft()
            if self._idem.get(k) is entry:  # not re-used since ("reuse" after the TTL)
                del self._idem[k]
        for key_id, outbox in self._outbox.items():
            self._forget_events(key_id, outbox, horizon)

    def _forget_trade(self, trade_id: str) -> None:
        t = self.trades.pop(trade_id, None)
        if t is None:
            return
        if self._by_correlation.get(t.correlation_id) == trade_id:
            del self._by_correlation[t.correlation_id]
        if t.client_request_id is not None:
            crid = (t.user_id, t.client_request_id)
            if self._crids.get(crid) == trade_id:
                del self._crids[crid]
        self._last_event.pop(trade_id, None)

    def _forget_events(self, key_id: str, outbox: list[str], horizon: float) -> None:
        """Drop the key's oldest events past the horizon, stopping at one still undelivered."""
        n = 0
        for eid in outbox:
            ev = self.events.get(eid)
            if ev is not None and (ev.created_at >= horizon or ev.status in _UNDELIVERED):
                break
            n += 1
        if n:
            for eid in outbox[:n]:
                self.events.pop(eid, None)
            del outbox[:n]
