-- The SQLite store's statements, each under its name (`-- name --`), loaded by stores/_sql.py.
-- {entry_columns}, {entry_values}, {entry_updates} and the state lists ({open_states}, ...)
-- are filled in from the row codec and the enums in tracking/_types.py when loaded. A list of
-- ids is one parameter, a JSON array (json_each), so that no statement is built from pieces.

-- begin --
-- Every transaction excludes every other writer, in every process.
BEGIN IMMEDIATE

-- commit --
COMMIT

-- rollback --
ROLLBACK

-- journal_wal --
PRAGMA journal_mode=WAL

-- synchronous_normal --
PRAGMA synchronous=NORMAL

-- synchronous_full --
PRAGMA synchronous=FULL

-- synchronous_extra --
PRAGMA synchronous=EXTRA

-- autocheckpoint --
-- SQLite's own checkpoint on commit stays as a backstop for a log past 40 MB.
PRAGMA wal_autocheckpoint=10000

-- checkpoint --
-- Never waits for, nor blocks, a reader or a writer.
PRAGMA wal_checkpoint(PASSIVE)

-- tables --
SELECT name FROM sqlite_master WHERE type = 'table'

-- create_version_table --
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID

-- schema_version --
SELECT value FROM meta WHERE name = 'schema_version'

-- set_schema_version --
INSERT INTO meta (name, value) VALUES ('schema_version', ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value

-- load_record --
SELECT status, changed_at FROM records WHERE order_id = ?

-- save_record --
INSERT INTO records (order_id, status, changed_at) VALUES (?, ?, ?)
ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at

-- load_facts --
SELECT facts FROM order_facts WHERE order_id = ?

-- save_facts --
INSERT INTO order_facts (order_id, facts) VALUES (?, ?)
ON CONFLICT (order_id) DO UPDATE SET facts = excluded.facts

-- delete_facts --
DELETE FROM order_facts WHERE order_id = ?

-- load_link --
SELECT order_id FROM order_ids WHERE marketplace_id = ?

-- load_marketplace_id --
SELECT marketplace_id FROM order_ids WHERE order_id = ?

-- save_link --
INSERT INTO order_ids (marketplace_id, order_id) VALUES (?, ?) ON CONFLICT DO NOTHING

-- load_orders --
-- The orders of a JSON array of ids that have a record, with their facts.
SELECT r.order_id, r.status, r.changed_at, f.facts FROM records AS r
LEFT JOIN order_facts AS f ON f.order_id = r.order_id
WHERE r.order_id IN (SELECT value FROM json_each(?))

-- snapshot_orders --
-- The orders of a JSON array of ids that have a record or facts (a snapshot: Store.snapshot).
SELECT j.value, r.status, r.changed_at, f.facts FROM json_each(?) AS j
LEFT JOIN records AS r ON r.order_id = j.value
LEFT JOIN order_facts AS f ON f.order_id = j.value
WHERE r.order_id IS NOT NULL OR f.order_id IS NOT NULL

-- snapshot_links --
-- The id map's pairs naming an id of a JSON array, on either side.
SELECT marketplace_id, order_id FROM order_ids WHERE marketplace_id IN (SELECT value FROM json_each(?1))
UNION ALL
SELECT marketplace_id, order_id FROM order_ids WHERE order_id IN (SELECT value FROM json_each(?1))

-- snapshot_entries --
-- The open entries of the orders of a JSON array, through the partial index (its own condition).
SELECT {entry_columns} FROM entries INDEXED BY entries_open
WHERE order_id IN (SELECT value FROM json_each(?)) AND state IN ({open_states}) ORDER BY seq

-- get_entry --
SELECT {entry_columns} FROM entries WHERE key = ?

-- save_entry --
-- An upsert, not INSERT OR REPLACE: an update touches only the indexes of the columns it changes.
INSERT INTO entries ({entry_columns}) VALUES ({entry_values})
ON CONFLICT (key) DO UPDATE SET {entry_updates}

-- open_entries --
SELECT {entry_columns} FROM entries WHERE order_id = ? AND state IN ({open_states}) ORDER BY seq

-- in_flight --
-- The partial index's own condition, so that it is usable, then the narrower one (sorted by
-- seq by the store: the few rows found, not a temporary B-tree).
SELECT {entry_columns} FROM entries INDEXED BY entries_open
WHERE order_id IN (SELECT value FROM json_each(?))
AND state IN ({open_states}) AND state IN ({in_flight_states})

-- claimable --
-- INDEXED BY: without statistics the planner would take entries_state and sort.
SELECT {entry_columns} FROM entries INDEXED BY entries_due
WHERE state IN ({claimable_states}) AND due <= ?
ORDER BY due, seq LIMIT ?

-- stale_entries --
SELECT {entry_columns} FROM entries INDEXED BY entries_waiting
WHERE state IN ({waiting_states}) AND registered_at < ?
ORDER BY registered_at LIMIT ?

-- all_entries --
SELECT {entry_columns} FROM entries ORDER BY seq

-- entries_in_states --
-- The states: a JSON array.
SELECT {entry_columns} FROM entries WHERE state IN (SELECT value FROM json_each(?)) ORDER BY seq

-- counts --
SELECT state, COUNT(*) FROM entries GROUP BY state

-- prune_entries --
DELETE FROM entries INDEXED BY entries_finished WHERE state IN ({finished_states}) AND updated_at < ?

-- prune_anomalies --
DELETE FROM anomalies WHERE changed_at < ?

-- add_anomaly --
INSERT INTO anomalies (order_id, from_status, to_status, kind, changed_at) VALUES (?, ?, ?, ?, ?)

-- add_counter --
INSERT INTO counters (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = value + excluded.value

-- counter --
SELECT value FROM counters WHERE name = ?

-- records --
SELECT order_id, status, changed_at FROM records ORDER BY order_id

-- anomalies --
SELECT order_id, from_status, to_status, kind, changed_at FROM anomalies ORDER BY seq
