-- Robust selection: a trial (one configuration) consists of runs — rolling-origin folds × seeds
-- that score it, refits that train on all pre-test rows for its test score, and top-K
-- confirmation runs with more seeds. Each run is leased on its own; an attempt belongs to one
-- run, and a run has at most one running attempt (a trial may now have several).
-- Every trial stored before gets one run mirroring it, and its attempts are that run's.

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    number INTEGER NOT NULL CHECK (number >= 1),
    kind TEXT NOT NULL CHECK (kind IN ('scoring', 'refit')),
    -- 1-based rolling-origin fold; NULL: the task's own split, or a refit.
    fold INTEGER,
    seed_index INTEGER NOT NULL CHECK (seed_index >= 0),
    confirmation INTEGER NOT NULL DEFAULT 0 CHECK (confirmation IN (0, 1)),
    -- A refit's fixed epoch count.
    epochs INTEGER,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'pruned', 'failed', 'cancelled')),
    best_val_metric REAL,
    best_epoch INTEGER,
    test_metric REAL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    UNIQUE (trial_id, number)
);
CREATE INDEX runs_by_trial ON runs(trial_id, number);

INSERT INTO runs (trial_id, number, kind, fold, seed_index, state, best_val_metric, best_epoch, test_metric, created_at, started_at, finished_at)
SELECT id, 1, 'scoring', NULL, 0,
       CASE state WHEN 'completed' THEN 'succeeded' ELSE state END,
       best_val_metric, best_epoch, test_metric, created_at, started_at, finished_at
FROM trials;

ALTER TABLE attempts ADD COLUMN run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE;
UPDATE attempts SET run_id = (SELECT runs.id FROM runs WHERE runs.trial_id = attempts.trial_id);
DROP INDEX one_running_attempt_per_trial;
CREATE UNIQUE INDEX one_running_attempt_per_run ON attempts(run_id) WHERE state = 'running';
CREATE INDEX attempts_by_run ON attempts(run_id);

-- A trial's score over its finished scoring runs: best_val_metric is now their mean.
ALTER TABLE trials ADD COLUMN val_sd REAL;
ALTER TABLE trials ADD COLUMN val_runs INTEGER;
ALTER TABLE trials ADD COLUMN val_ci_low REAL;
ALTER TABLE trials ADD COLUMN val_ci_high REAL;
ALTER TABLE trials ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0 CHECK (confirmed IN (0, 1));
UPDATE trials SET val_runs = 1 WHERE state = 'completed';

-- Workers that cut a lease's rows by its run (folds, refits); those registered before did not.
ALTER TABLE workers ADD COLUMN trains_runs INTEGER NOT NULL DEFAULT 0 CHECK (trains_runs IN (0, 1));
