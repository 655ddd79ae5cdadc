-- Every epoch report renews its attempt's lease_deadline, and this index made each renewal an
-- index delete + insert (two more pages per commit). The reaper only looks at running attempts,
-- at most a few hundred, which one_running_attempt_per_trial already lists.
DROP INDEX running_attempts_by_deadline;
