-- Budgets and stop rules (search.budget, search.stop): the rule that ended a sweep and the
-- one-line reason, so status, the API and the dashboard can say why it is done, and a restarted
-- coordinator knows a sweep that is letting its running trials finish (state running, rule set)
-- must not lease again.
ALTER TABLE sweeps ADD COLUMN stop_rule TEXT CHECK (stop_rule IN ('wall_minutes', 'worker_hours', 'target', 'no_improvement_trials'));
ALTER TABLE sweeps ADD COLUMN stop_message TEXT;
