-- Version 2: the outbox. Version 1 kept one row per (order, action) in `deferred`; its sent
-- rows are done entries now, and the sequence goes on from the old file's.
CREATE TABLE IF NOT EXISTS order_facts (order_id TEXT PRIMARY KEY, facts TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, order_id TEXT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL,
    payload TEXT, facts TEXT NOT NULL, reason TEXT NOT NULL, drop_class TEXT, status TEXT,
    attempts INTEGER NOT NULL, claims INTEGER NOT NULL, registered_at REAL NOT NULL, due REAL,
    owner TEXT, updated_at REAL NOT NULL, seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_open ON entries (order_id)
    WHERE state IN ('pending', 'ready', 'claimed', 'sent', 'retry');
CREATE INDEX IF NOT EXISTS entries_due ON entries (due, seq)
    WHERE state IN ('ready', 'retry', 'claimed', 'sent');
CREATE INDEX IF NOT EXISTS entries_waiting ON entries (registered_at) WHERE state IN ('pending', 'retry');
CREATE INDEX IF NOT EXISTS entries_finished ON entries (updated_at) WHERE state IN ('done', 'dropped');
CREATE INDEX IF NOT EXISTS entries_state ON entries (state, seq);
INSERT OR IGNORE INTO entries (key, order_id, action, state, payload, facts, reason, drop_class,
    status, attempts, claims, registered_at, due, owner, updated_at, seq)
SELECT order_id || ':' || action, order_id, action,
    CASE state WHEN 'sent' THEN 'done' ELSE state END, NULL, facts, reason,
    CASE state WHEN 'dropped' THEN 'impossible' END, status, attempts, 0,
    COALESCE(registered_at, 0), CASE state WHEN 'retry' THEN retry_at WHEN 'ready' THEN 0 END,
    NULL, COALESCE(registered_at, 0), seq
FROM deferred;
DROP TABLE deferred;
INSERT INTO counters (name, value) SELECT 'seq', COALESCE(MAX(seq), 0) FROM entries WHERE true
    ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value);
