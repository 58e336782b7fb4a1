"""SQLite persistence (WAL): intents, trades, positions, spend ledger, seen webhook ids."""

from kashbot.store.store import IntentRecord, PositionRecord, Store, StoreError, TradeRecord

__all__ = ["IntentRecord", "PositionRecord", "Store", "StoreError", "TradeRecord"]
