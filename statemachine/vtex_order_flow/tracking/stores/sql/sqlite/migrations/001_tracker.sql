-- Version 1: the tracker's records and deferred updates, before the outbox (a file of that
-- version has no meta table). Kept so that every file, new or old, goes through the same steps.
CREATE TABLE IF NOT EXISTS records (
    order_id TEXT PRIMARY KEY, status TEXT NOT NULL, changed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deferred (
    order_id TEXT NOT NULL, action TEXT NOT NULL, facts TEXT NOT NULL, state TEXT NOT NULL,
    registered_at REAL, reason TEXT NOT NULL, status TEXT, attempts INTEGER NOT NULL,
    retry_at REAL, seq INTEGER NOT NULL, PRIMARY KEY (order_id, action)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deferred_open ON deferred (order_id) WHERE state IN ('pending', 'retry');
CREATE TABLE IF NOT EXISTS anomalies (
    seq INTEGER PRIMARY KEY, order_id TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
    kind TEXT NOT NULL, changed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
