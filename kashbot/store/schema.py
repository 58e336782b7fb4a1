"""The SQLite schema (created if missing) and its version, checked on open."""

# 2: the ``redemptions`` table (one row per claimed position, written before the POST)
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intents (
    intent_id TEXT PRIMARY KEY,
    strategy TEXT NOT NULL,
    market_id TEXT NOT NULL,
    outcome INTEGER NOT NULL,
    side TEXT NOT NULL,
    amount INTEGER NOT NULL,
    limit_probability TEXT,
    reason TEXT NOT NULL,
    closing INTEGER NOT NULL,
    created_ts REAL NOT NULL,
    tags TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    daily_draw INTEGER NOT NULL,
    exposure INTEGER NOT NULL,
    status TEXT NOT NULL,
    trade_id TEXT,
    detail TEXT NOT NULL DEFAULT '',
    updated_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_status ON intents(status);
CREATE TABLE IF NOT EXISTS trades (
    trade_id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL,
    market_id TEXT NOT NULL,
    outcome INTEGER NOT NULL,
    side TEXT NOT NULL,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,
    terminal INTEGER NOT NULL,
    tokens TEXT,
    error_code TEXT,
    updated_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS trades_open ON trades(terminal);
CREATE TABLE IF NOT EXISTS positions (
    market_id TEXT NOT NULL,
    outcome INTEGER NOT NULL,
    shares TEXT NOT NULL,
    cost_basis INTEGER NOT NULL,
    updated_ts REAL NOT NULL,
    PRIMARY KEY (market_id, outcome)
);
CREATE TABLE IF NOT EXISTS spend (
    entry_id TEXT PRIMARY KEY,
    amount INTEGER NOT NULL,
    ts REAL NOT NULL,
    committed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS redemptions (
    market_id TEXT NOT NULL,
    outcome INTEGER NOT NULL,
    shares TEXT NOT NULL,
    cost_basis INTEGER NOT NULL,
    kind TEXT NOT NULL,
    expected_payout INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    status TEXT NOT NULL,
    redemption_id TEXT,
    detail TEXT NOT NULL DEFAULT '',
    updated_ts REAL NOT NULL,
    PRIMARY KEY (market_id, outcome)
);
CREATE TABLE IF NOT EXISTS seen_webhooks (event_id TEXT PRIMARY KEY, seen_ts REAL NOT NULL);
"""
