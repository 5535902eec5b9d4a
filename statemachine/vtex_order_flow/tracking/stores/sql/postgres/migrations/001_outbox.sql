-- Version 1: the first outbox schema. {schema} is the configured schema, checked against a
-- strict SQL-name pattern and quoted.
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {schema}.records (
    order_id TEXT PRIMARY KEY, status TEXT NOT NULL, changed_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.order_facts (order_id TEXT PRIMARY KEY, facts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {schema}.entries (
    key TEXT PRIMARY KEY, order_id TEXT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL,
    payload TEXT, facts TEXT NOT NULL, reason TEXT NOT NULL, drop_class TEXT, status TEXT,
    attempts INTEGER NOT NULL, claims INTEGER NOT NULL, registered_at DOUBLE PRECISION NOT NULL,
    due DOUBLE PRECISION, owner TEXT, updated_at DOUBLE PRECISION NOT NULL, seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_open ON {schema}.entries (order_id)
    WHERE state IN ('pending', 'ready', 'claimed', 'sent', 'retry');
CREATE INDEX IF NOT EXISTS entries_due ON {schema}.entries (due, seq) WHERE state IN ('ready', 'retry', 'claimed');
CREATE INDEX IF NOT EXISTS entries_waiting ON {schema}.entries (registered_at) WHERE state IN ('pending', 'retry');
CREATE INDEX IF NOT EXISTS entries_finished ON {schema}.entries (updated_at) WHERE state IN ('done', 'dropped');
CREATE INDEX IF NOT EXISTS entries_state ON {schema}.entries (state, seq);
CREATE TABLE IF NOT EXISTS {schema}.anomalies (
    seq BIGSERIAL PRIMARY KEY, order_id TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
    kind TEXT NOT NULL, changed_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.counters (
    name TEXT NOT NULL, shard INTEGER NOT NULL, value BIGINT NOT NULL, PRIMARY KEY (name, shard)
);
CREATE SEQUENCE IF NOT EXISTS {schema}.entry_seq;
CREATE TABLE IF NOT EXISTS {schema}.order_ids (marketplace_id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE);
