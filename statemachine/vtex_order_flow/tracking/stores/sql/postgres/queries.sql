-- The PostgreSQL store's statements, each under its name (`-- name --`), loaded by
-- stores/_sql.py. {schema} is the configured schema (checked against a strict SQL-name
-- pattern, quoted); {entry_columns}, {entry_values}, {entry_updates} and the state lists
-- ({open_states}, ...) are filled in from the row codec and the enums in tracking/_types.py.
-- Every value is a bound parameter (%s); a list of ids is one array parameter.

-- migration_lock --
-- One schema set-up at a time, whatever the number of workers starting together.
SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))

-- tables --
SELECT table_name FROM information_schema.tables WHERE table_schema = %s

-- create_version_table --
CREATE TABLE IF NOT EXISTS {schema}.meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)

-- schema_version --
SELECT value FROM {schema}.meta WHERE name = 'schema_version'

-- set_schema_version --
INSERT INTO {schema}.meta (name, value) VALUES ('schema_version', %s)
ON CONFLICT (name) DO UPDATE SET value = excluded.value

-- drop_schema --
DROP SCHEMA IF EXISTS {schema} CASCADE

-- lock_order --
-- Transaction-scoped: released at commit or rollback. The key: 'schema:order id'.
SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))

-- lock_key --
SELECT pg_advisory_xact_lock(hashtextextended(%s, 2))

-- try_lock_orders --
-- (schema, sorted ids): the ids whose lock was free, taken without waiting.
SELECT id FROM unnest(%s::text[]) AS id
WHERE pg_try_advisory_xact_lock(hashtextextended(%s || ':' || id, 1))

-- next_seq_blocks --
-- The starts of this many blocks of the sequence (its increment is a block), in one round trip.
SELECT nextval('{schema}.entry_seq') FROM generate_series(1, %s)

-- notify_ready --
-- Sent at commit when entries became ready: wakes `wait_ready` in every process.
SELECT pg_notify('vtex_order_flow_ready', %s)

-- listen_ready --
LISTEN vtex_order_flow_ready

-- add_counter --
-- Counters are sharded rows (a random shard per transaction): no row every transaction writes.
INSERT INTO {schema}.counters (name, shard, value) VALUES (%s, %s, %s)
ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + excluded.value

-- counter --
SELECT COALESCE(SUM(value), 0) FROM {schema}.counters WHERE name = %s

-- load_record --
SELECT status, changed_at FROM {schema}.records WHERE order_id = %s

-- save_record --
INSERT INTO {schema}.records (order_id, status, changed_at) VALUES (%s, %s, %s)
ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at

-- load_facts --
SELECT facts FROM {schema}.order_facts WHERE order_id = %s

-- save_facts --
INSERT INTO {schema}.order_facts (order_id, facts) VALUES (%s, %s)
ON CONFLICT (order_id) DO UPDATE SET facts = excluded.facts

-- delete_facts --
DELETE FROM {schema}.order_facts WHERE order_id = %s

-- load_link --
SELECT order_id FROM {schema}.order_ids WHERE marketplace_id = %s

-- load_marketplace_id --
SELECT marketplace_id FROM {schema}.order_ids WHERE order_id = %s

-- save_link --
INSERT INTO {schema}.order_ids (marketplace_id, order_id) VALUES (%s, %s) ON CONFLICT DO NOTHING

-- load_orders --
SELECT r.order_id, r.status, r.changed_at, f.facts FROM {schema}.records AS r
LEFT JOIN {schema}.order_facts AS f ON f.order_id = r.order_id WHERE r.order_id = ANY(%s)

-- get_entry --
SELECT {entry_columns} FROM {schema}.entries WHERE key = %s

-- get_entry_for_update --
-- Reads of entries inside a transaction lock them: read, decide, write.
SELECT {entry_columns} FROM {schema}.entries WHERE key = %s FOR UPDATE

-- save_entry --
INSERT INTO {schema}.entries ({entry_columns}) VALUES ({entry_values})
ON CONFLICT (key) DO UPDATE SET {entry_updates}

-- open_entries --
SELECT {entry_columns} FROM {schema}.entries WHERE order_id = %s AND state IN ({open_states})
ORDER BY seq

-- open_entries_for_update --
SELECT {entry_columns} FROM {schema}.entries WHERE order_id = %s AND state IN ({open_states})
ORDER BY seq FOR UPDATE

-- in_flight --
-- Pinned to the order-id path: one lookup of the open-entries index per order (the subquery
-- is the index's own condition, and OFFSET 0 keeps the planner from merging it). As one
-- `order_id = ANY(...) AND state IN (claimed, sent)` it would flip to scanning entries_state
-- for every claimed or sent entry when the statistics were taken with few of them (an idle
-- outbox, then a drain): 20 ms instead of 1.5 ms at 200,000 open entries, 70,000 claimed.
SELECT e.* FROM unnest(%s::text[]) AS id
CROSS JOIN LATERAL (
    SELECT {entry_columns} FROM {schema}.entries
    WHERE order_id = id AND state IN ({open_states}) OFFSET 0
) AS e
WHERE e.state IN ({in_flight_states})
ORDER BY e.seq

-- claimable --
SELECT {entry_columns} FROM {schema}.entries WHERE state IN ({claimable_states}) AND due <= %s
ORDER BY due, seq LIMIT %s

-- claimable_locked --
-- Claims lock their rows, skipping those another transaction holds: workers never wait for
-- each other's rows and never get the same entry.
SELECT {entry_columns} FROM {schema}.entries WHERE state IN ({claimable_states}) AND due <= %s
ORDER BY due, seq LIMIT %s FOR UPDATE SKIP LOCKED

-- stale_entries --
SELECT {entry_columns} FROM {schema}.entries WHERE state IN ({waiting_states}) AND registered_at < %s
ORDER BY registered_at LIMIT %s

-- stale_entries_locked --
SELECT {entry_columns} FROM {schema}.entries WHERE state IN ({waiting_states}) AND registered_at < %s
ORDER BY registered_at LIMIT %s FOR UPDATE SKIP LOCKED

-- all_entries --
SELECT {entry_columns} FROM {schema}.entries ORDER BY seq

-- entries_in_states --
SELECT {entry_columns} FROM {schema}.entries WHERE state = ANY(%s) ORDER BY seq

-- counts --
SELECT state, COUNT(*) FROM {schema}.entries GROUP BY state

-- prune --
-- (finished before, in seconds; anomalies dated before, in ticks): how many entries.
WITH gone AS (
    DELETE FROM {schema}.entries WHERE state IN ({finished_states}) AND updated_at < %s RETURNING 1
), old AS (DELETE FROM {schema}.anomalies WHERE changed_at < %s)
SELECT COUNT(*) FROM gone

-- add_anomaly --
INSERT INTO {schema}.anomalies (order_id, from_status, to_status, kind, changed_at)
VALUES (%s, %s, %s, %s, %s)

-- records --
SELECT order_id, status, changed_at FROM {schema}.records ORDER BY order_id COLLATE "C"

-- anomalies --
SELECT order_id, from_status, to_status, kind, changed_at FROM {schema}.anomalies ORDER BY seq

-- snapshot_orders --
-- The asked orders (an array) that have a record or facts.
SELECT id, r.status, r.changed_at, f.facts FROM unnest(%s::text[]) AS id
LEFT JOIN {schema}.records AS r ON r.order_id = id
LEFT JOIN {schema}.order_facts AS f ON f.order_id = id
WHERE r.order_id IS NOT NULL OR f.order_id IS NOT NULL

-- snapshot_open_entries --
SELECT {entry_columns} FROM {schema}.entries WHERE order_id = ANY(%s) AND state IN ({open_states})
ORDER BY seq

-- snapshot_open_entries_for_update --
SELECT {entry_columns} FROM {schema}.entries WHERE order_id = ANY(%s) AND state IN ({open_states})
ORDER BY seq FOR UPDATE

-- snapshot_links --
-- The id map's pairs naming any of the asked ids (marketplace ids, VTEX ids), as arrays.
SELECT marketplace_id, order_id FROM {schema}.order_ids
WHERE marketplace_id = ANY(%s) OR order_id = ANY(%s)

-- claim_candidates --
-- (now, limit, schema) Up to `limit` claimable entries, locked, skipping rows another
-- transaction holds; each with whether its order's lock was free (taken without waiting).
-- The orders taken are noted in the transaction-local setting vtex_order_flow.claimed (a JSON
-- array) for claim_in_flight and claim_orders, sent in the same pipeline: they run after this
-- statement, each with a snapshot taken once the locks are held. The one-row `noted` is the
-- outer side of the join, so that it is set even when nothing is claimable.
WITH found AS MATERIALIZED (
    SELECT {entry_columns} FROM {schema}.entries WHERE state IN ({claimable_states}) AND due <= %s
    ORDER BY due, seq LIMIT %s FOR UPDATE SKIP LOCKED
), locked AS MATERIALIZED (
    SELECT id FROM (SELECT DISTINCT order_id AS id FROM found ORDER BY 1) AS ids
    WHERE pg_try_advisory_xact_lock(hashtextextended(%s || ':' || id, 1))
), noted AS MATERIALIZED (
    SELECT set_config('vtex_order_flow.claimed', COALESCE(json_agg(id)::text, '[]'), true) FROM locked
)
SELECT found.*, found.order_id IN (SELECT id FROM locked) FROM noted LEFT JOIN found ON true

-- claim_in_flight --
-- As in_flight (pinned to the order-id path), for the orders claim_candidates took.
SELECT e.* FROM json_array_elements_text(current_setting('vtex_order_flow.claimed')::json) AS id
CROSS JOIN LATERAL (
    SELECT {entry_columns} FROM {schema}.entries
    WHERE order_id = id AND state IN ({open_states}) OFFSET 0
) AS e
WHERE e.state IN ({in_flight_states})
ORDER BY e.seq

-- claim_orders --
SELECT id, r.status, r.changed_at, f.facts
FROM unnest(ARRAY(SELECT json_array_elements_text(current_setting('vtex_order_flow.claimed')::json))) AS id
LEFT JOIN {schema}.records AS r ON r.order_id = id
LEFT JOIN {schema}.order_facts AS f ON f.order_id = id
WHERE r.order_id IS NOT NULL OR f.order_id IS NOT NULL

-- write_links_held --
-- The pairs the id map holds naming any id of the links to write (arrays of marketplace ids
-- and VTEX ids, twice): what save_link's rule is checked against.
SELECT marketplace_id, order_id FROM {schema}.order_ids
WHERE marketplace_id = ANY(%s) OR order_id = ANY(%s) OR marketplace_id = ANY(%s) OR order_id = ANY(%s)

-- begin --
-- Sent in the pipeline with the transaction's first statements (no round trip of its own).
BEGIN

-- commit --
-- Sent with the transaction's last writes, in one round trip.
COMMIT

-- rollback --
ROLLBACK
