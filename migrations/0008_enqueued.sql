-- Hand-picked configurations (`recur sweep enqueue`) waiting for a slot; each becomes a trial
-- when it is leased (and its row is deleted in that transaction). A sweep holds a config once.
CREATE TABLE enqueued (
    id INTEGER PRIMARY KEY,
    sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (sweep_id, config_hash)
);
