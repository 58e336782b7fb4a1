"""SQLite persistence (WAL): intents, trades, spend ledger, seen webhook ids."""
