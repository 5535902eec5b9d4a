-- Version 3: the id map (a marketplace order id to VTEX's orderId).
CREATE TABLE IF NOT EXISTS order_ids (
    marketplace_id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE
) WITHOUT ROWID;
