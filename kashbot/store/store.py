"""SQLite persistence on aiosqlite (WAL): intents, trades, positions, spend ledger, seen webhooks.

Crash-only: every method commits before it returns, and callers write *before* the action the
row guards (an intent and its Idempotency-Key are on disk before the POST leaves), so a restart
reloads everything needed to reconcile. WAD token amounts exceed SQLite's int64 and are stored as
decimal text; USDC atomic ints fit and are stored as integers.

``Store.open(path, sync=True)`` runs the same SQL on a plain ``sqlite3`` connection in the
caller's thread (see :mod:`kashbot.store.connection`): for backtests on ``:memory:``, where the
worker thread's hand-offs cost more than the statements. ``per_order=True`` (with ``sync``, for
backtests) also moves the commit: writes join one open transaction that commits when an order
ends (its intent becomes done, refused or abandoned), so an order costs one transaction, not
four. Every call still sees all earlier writes (one connection), and a call that fails undoes
only its own writes (the transaction is rolled back and the earlier writes run again). Only the
durability of an open order's rows moves to its end: nothing for a backtest, wrong for a bot.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from kashbot.risk.ledger import SpendEntry
from kashbot.store.connection import (
    AioConnection,
    Connection,
    LoggedConnection,
    Row,
    SyncConnection,
)
from kashbot.store.records import (
    ABANDONED,
    ACCEPTED,
    APPROVED,
    DONE,
    INTENT_COLS,
    OPEN_INTENT_STATUSES,
    REDEMPTION_COLS,
    REFUSED,
    TRADE_COLS,
    IntentRecord,
    PositionRecord,
    RedemptionRecord,
    StoreError,
    TradeRecord,
    intent_from_row,
    redemption_from_row,
    trade_from_row,
)
from kashbot.store.schema import SCHEMA, SCHEMA_VERSION
from kashbot.store.seen import SeenWindow
from kashbot.store.transactions import ORDER_ENDS, OrderCall, PerOrderTx, Tx

# Re-exported: callers import the records and statuses from here.
__all__ = [
    "ABANDONED",
    "ACCEPTED",
    "APPROVED",
    "DONE",
    "OPEN_INTENT_STATUSES",
    "REFUSED",
    "SCHEMA_VERSION",
    "IntentRecord",
    "PositionRecord",
    "RedemptionRecord",
    "Store",
    "StoreError",
    "TradeRecord",
]


class Store:
    """One SQLite file per bot; open with ``await Store.open(path)`` or ``async with``."""

    def __init__(self, db: Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        # per-order transactions (backtests): the open transaction and its commits
        self.per_order = PerOrderTx(db) if isinstance(db, LoggedConnection) else None
        # webhook dedupe: a journalled in-memory window on the worker-thread connection
        # (kashbot.store.seen); the inline one (backtests) keeps one short transaction per call
        self._seen_batch = None if isinstance(db, SyncConnection) else SeenWindow(db, self._tx)

    def _tx(self) -> Tx | OrderCall:
        return OrderCall(self.per_order) if self.per_order is not None else Tx(self._db, self._lock)

    async def _query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """A read under the lock, so it never sees another task's half-done transaction."""
        async with self._lock:
            return await self._db.fetchall(sql, params)

    @classmethod
    async def open(cls, path: str | Path, *, sync: bool = False, per_order: bool = False) -> Store:
        """``sync=True``: plain ``sqlite3`` in this thread, no worker thread (backtests).

        Every statement then blocks the event loop while it runs, which is free on
        ``:memory:`` and wrong for a live bot writing to disk. ``per_order=True`` (needs
        ``sync``): one transaction per order (module docstring).
        """
        if per_order and not sync:
            raise ValueError("Store.open: per_order=True needs sync=True (backtests only)")
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db: Connection
        if per_order:
            db = LoggedConnection.connect(str(path))
        elif sync:
            db = SyncConnection.connect(str(path))
        else:
            db = await AioConnection.connect(str(path))
        store = cls(db)
        try:
            await store._migrate()
            if store._seen_batch is not None:  # replays a killed process's dedupe journal
                await store._seen_batch.open(str(path))
        except BaseException:
            await db.close()
            raise
        if store.per_order is not None:  # the migration ran outside any order's transaction
            store.per_order.db.writes.clear()
        return store

    async def close(self) -> None:
        if self._seen_batch is not None:
            await self._seen_batch.drain()
        if self.per_order is not None:
            self.per_order.commit()
        await self._db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _migrate(self) -> None:
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=FULL")
        await self._db.executescript(SCHEMA)
        rows = await self._db.fetchall("SELECT value FROM meta WHERE key='schema_version'")
        row = rows[0] if rows else None
        if row is None:
            await self._db.execute(
                "INSERT INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"store schema_version {row[0]} is newer than this kashbot ({SCHEMA_VERSION})"
            )
        elif int(row[0]) < SCHEMA_VERSION:  # every change so far only added tables (above)
            await self._db.execute(
                "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
            )

    async def schema_version(self) -> int:
        rows = await self._query("SELECT value FROM meta WHERE key='schema_version'")
        return int(rows[0][0]) if rows else 0

    # ---- intents (+ their spend reservation, atomically) --------------------------------------

    async def save_intent(self, rec: IntentRecord, spend: SpendEntry | None) -> None:
        """Persist a new approved intent and its ledger reservation in one transaction."""
        i = rec.intent
        async with self._tx():
            await self._db.execute(
                "INSERT INTO intents(intent_id, strategy, market_id, outcome, side, amount,"
                " limit_probability, reason, closing, created_ts, tags, idempotency_key,"
                " reservation_id, daily_draw, exposure, status, trade_id, detail, updated_ts)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    i.intent_id,
                    i.strategy,
                    i.market_id,
                    i.outcome,
                    str(i.side),
                    i.amount,
                    None if i.limit_probability is None else str(i.limit_probability),
                    i.reason,
                    int(i.closing),
                    i.created_ts,
                    json.dumps(i.tags, sort_keys=True),
                    rec.idempotency_key,
                    rec.reservation_id,
                    rec.daily_draw,
                    rec.exposure,
                    rec.status,
                    rec.trade_id,
                    rec.detail,
                    rec.updated_ts,
                ),
            )
            if spend is not None:
                await self._put_spend(spend)

    async def update_intent(
        self,
        intent_id: str,
        status: str,
        now: float,
        *,
        trade_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        async with self._tx():
            await self._update_intent(intent_id, status, now, trade_id, detail)

    async def _update_intent(
        self, intent_id: str, status: str, now: float, trade_id: str | None, detail: str | None
    ) -> None:
        """``update_intent`` inside a caller's transaction (None keeps the stored value)."""
        if self.per_order is not None and status in ORDER_ENDS:
            self.per_order.order_ended = True
        await self._db.execute(
            "UPDATE intents SET status=?, trade_id=COALESCE(?, trade_id),"
            " detail=COALESCE(?, detail), updated_ts=? WHERE intent_id=?",
            (status, trade_id, detail, now, intent_id),
        )

    async def get_intent(self, intent_id: str) -> IntentRecord | None:
        rows = await self._query(
            f"SELECT {INTENT_COLS} FROM intents WHERE intent_id=?", (intent_id,)
        )
        return intent_from_row(rows[0]) if rows else None

    async def open_intents(self) -> list[IntentRecord]:
        marks = ",".join("?" for _ in OPEN_INTENT_STATUSES)
        rows = await self._query(
            f"SELECT {INTENT_COLS} FROM intents WHERE status IN ({marks}) ORDER BY created_ts",
            OPEN_INTENT_STATUSES,
        )
        return [intent_from_row(r) for r in rows]

    async def intent_ids(self) -> list[str]:
        return [str(r[0]) for r in await self._query("SELECT intent_id FROM intents")]

    # ---- trades ------------------------------------------------------------------------------

    async def upsert_trade(self, t: TradeRecord) -> None:
        async with self._tx():
            await self._upsert_trade(t)

    async def _upsert_trade(self, t: TradeRecord) -> None:
        await self._db.execute(
            "INSERT INTO trades(trade_id, intent_id, market_id, outcome, side, amount, status,"
            " terminal, tokens, error_code, updated_ts) VALUES(?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(trade_id) DO UPDATE SET status=excluded.status,"
            " terminal=excluded.terminal, tokens=COALESCE(excluded.tokens, trades.tokens),"
            " error_code=COALESCE(excluded.error_code, trades.error_code),"
            " updated_ts=excluded.updated_ts",
            (
                t.trade_id,
                t.intent_id,
                t.market_id,
                t.outcome,
                str(t.side),
                t.amount,
                t.status,
                int(t.terminal),
                None if t.tokens is None else str(t.tokens),
                t.error_code,
                t.updated_ts,
            ),
        )

    async def record_accepted(
        self, t: TradeRecord, spend: SpendEntry | None, now: float, *, intent_status: str
    ) -> None:
        """The venue created the trade: trade row, committed spend and intent status together."""
        async with self._tx():
            await self._upsert_trade(t)
            if spend is not None:
                await self._put_spend(spend)
            await self._update_intent(t.intent_id, intent_status, now, t.trade_id, None)

    async def record_refused(
        self, intent_id: str, reservation_id: str, now: float, detail: str
    ) -> None:
        """The venue definitely did not create the trade: drop its reservation."""
        await self._close_unsent(intent_id, reservation_id, REFUSED, now, detail)

    async def record_abandoned(
        self, intent_id: str, reservation_id: str, now: float, detail: str
    ) -> None:
        await self._close_unsent(intent_id, reservation_id, ABANDONED, now, detail)

    async def _close_unsent(
        self, intent_id: str, reservation_id: str, status: str, now: float, detail: str
    ) -> None:
        """No trade exists for the intent: its reservation goes with the status change."""
        async with self._tx():
            await self._db.execute("DELETE FROM spend WHERE entry_id=?", (reservation_id,))
            await self._update_intent(intent_id, status, now, None, detail)

    async def get_trade(self, trade_id: str) -> TradeRecord | None:
        rows = await self._query(f"SELECT {TRADE_COLS} FROM trades WHERE trade_id=?", (trade_id,))
        return trade_from_row(rows[0]) if rows else None

    async def open_trades(self) -> list[TradeRecord]:
        rows = await self._query(
            f"SELECT {TRADE_COLS} FROM trades WHERE terminal=0 ORDER BY updated_ts"
        )
        return [trade_from_row(r) for r in rows]

    async def trades(self) -> list[TradeRecord]:
        rows = await self._query(f"SELECT {TRADE_COLS} FROM trades ORDER BY updated_ts")
        return [trade_from_row(r) for r in rows]

    # ---- spend ledger ------------------------------------------------------------------------

    async def _put_spend(self, e: SpendEntry) -> None:
        await self._db.execute(
            "INSERT INTO spend(entry_id, amount, ts, committed) VALUES(?,?,?,?)"
            " ON CONFLICT(entry_id) DO UPDATE SET amount=excluded.amount, ts=excluded.ts,"
            " committed=excluded.committed",
            (e.entry_id, e.amount, e.ts, int(e.committed)),
        )

    async def put_spend(self, e: SpendEntry) -> None:
        async with self._tx():
            await self._put_spend(e)

    async def delete_spend(self, entry_ids: Iterable[str]) -> None:
        async with self._tx():
            await self._db.executemany(
                "DELETE FROM spend WHERE entry_id=?", [(k,) for k in entry_ids]
            )

    async def load_spend(self) -> list[SpendEntry]:
        rows = await self._query("SELECT entry_id, amount, ts, committed FROM spend ORDER BY ts")
        return [SpendEntry(str(r[0]), int(r[1]), float(r[2]), bool(r[3])) for r in rows]

    # ---- positions (a cache of the venue's view) ---------------------------------------------

    async def replace_positions(self, positions: Iterable[PositionRecord]) -> None:
        async with self._tx():
            await self._db.execute("DELETE FROM positions")
            await self._db.executemany(
                "INSERT INTO positions(market_id, outcome, shares, cost_basis, updated_ts)"
                " VALUES(?,?,?,?,?)",
                [
                    (p.market_id, p.outcome, str(p.shares), p.cost_basis, p.updated_ts)
                    for p in positions
                ],
            )

    async def positions(self) -> list[PositionRecord]:
        rows = await self._query(
            "SELECT market_id, outcome, shares, cost_basis, updated_ts FROM positions"
            " ORDER BY market_id, outcome"
        )
        return [
            PositionRecord(str(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows
        ]

    # ---- redemptions (written before the POST, like an intent) -------------------------------

    async def put_redemption(self, r: RedemptionRecord) -> None:
        """Insert or replace the position's claim row (a position is claimed at most once)."""
        async with self._tx():
            await self._db.execute(
                f"INSERT OR REPLACE INTO redemptions({REDEMPTION_COLS})"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                (
                    r.market_id,
                    r.outcome,
                    str(r.shares),
                    r.cost_basis,
                    r.kind,
                    r.expected_payout,
                    r.idempotency_key,
                    r.status,
                    r.redemption_id,
                    r.detail,
                    r.updated_ts,
                ),
            )

    async def get_redemption(self, market_id: str, outcome: int) -> RedemptionRecord | None:
        rows = await self._query(
            f"SELECT {REDEMPTION_COLS} FROM redemptions WHERE market_id=? AND outcome=?",
            (market_id, outcome),
        )
        return redemption_from_row(rows[0]) if rows else None

    async def redemptions(self) -> list[RedemptionRecord]:
        rows = await self._query(
            f"SELECT {REDEMPTION_COLS} FROM redemptions ORDER BY updated_ts, market_id, outcome"
        )
        return [redemption_from_row(r) for r in rows]

    # ---- webhook dedupe ----------------------------------------------------------------------

    async def seen(self, event_id: str, now: float | None = None) -> bool:
        """Insert-or-ignore: True if ``event_id`` was already recorded (a redelivery).

        ``now`` (default: wall time) only dates the row for ``forget_seen_before``.
        """
        now = time.time() if now is None else now
        if self._seen_batch is not None:  # on disk: journal + window (kashbot.store.seen)
            return await self._seen_batch.seen(event_id, now)
        async with self._tx():
            inserted = (
                await self._db.execute_count(
                    "INSERT OR IGNORE INTO seen_webhooks(event_id, seen_ts) VALUES(?, ?)",
                    (event_id, now),
                )
                == 1
            )
        return not inserted

    async def forget_seen_before(self, ts: float) -> int:
        """Drop dedupe rows older than ``ts`` (the venue stops redelivering after days)."""
        if self._seen_batch is not None:
            return await self._seen_batch.forget_before(ts)
        async with self._tx():
            return await self._db.execute_count(
                "DELETE FROM seen_webhooks WHERE seen_ts < ?", (ts,)
            )
