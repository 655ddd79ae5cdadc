-- Recur's first schema: sweeps, trials, attempts (leases), per-epoch metrics, workers,
-- checkpoints and an append-only event log. Times are Unix seconds (REAL).

CREATE TABLE sweeps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition_yaml TEXT NOT NULL,
    definition_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'done')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'completed', 'pruned', 'failed')),
    best_val_metric REAL,
    best_epoch INTEGER,
    test_metric REAL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    UNIQUE (sweep_id, config_hash),
    UNIQUE (sweep_id, number)
);
CREATE INDEX trials_by_state ON trials(sweep_id, state);

CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    worker_id TEXT,
    lease_token TEXT NOT NULL UNIQUE,
    lease_deadline REAL NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'lost', 'pruned', 'released')),
    error TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    UNIQUE (trial_id, number)
);
-- A trial has at most one running attempt: enforced by the database itself.
CREATE UNIQUE INDEX one_running_attempt_per_trial ON attempts(trial_id) WHERE state = 'running';
CREATE INDEX running_attempts_by_deadline ON attempts(lease_deadline) WHERE state = 'running';

CREATE TABLE epoch_metrics (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL CHECK (epoch >= 1),
    train_loss REAL NOT NULL,
    val_loss REAL NOT NULL,
    val_mae REAL NOT NULL,
    seconds REAL NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (trial_id, attempt_id, epoch)
);

CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    slots INTEGER NOT NULL CHECK (slots >= 1),
    version TEXT NOT NULL,
    registered_at REAL NOT NULL,
    last_seen REAL NOT NULL
);

CREATE TABLE checkpoints (
    trial_id INTEGER PRIMARY KEY REFERENCES trials(id) ON DELETE CASCADE,
    attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    data BLOB NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    sweep_id INTEGER REFERENCES sweeps(id) ON DELETE CASCADE,
    trial_id INTEGER,
    attempt_id INTEGER,
    kind TEXT NOT NULL,
    detail_json TEXT NOT NULL DEFAULT '{}',
    at REAL NOT NULL
);
CREATE INDEX events_by_sweep ON events(sweep_id, id);
