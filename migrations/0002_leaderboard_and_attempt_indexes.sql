-- Leaderboards sort completed trials by their best validation metric; trial pages list attempts
-- and metrics per trial.
CREATE INDEX trials_by_metric ON trials(sweep_id, best_val_metric) WHERE best_val_metric IS NOT NULL;
CREATE INDEX attempts_by_trial ON attempts(trial_id, number);
CREATE INDEX events_by_trial ON events(trial_id) WHERE trial_id IS NOT NULL;
