-- Workers anywhere: scoped tokens (only their SHA-256 is kept), one-time sign-in links and
-- dashboard sessions, and what each worker registered with (engine, checkpoint format, CPU).
-- Attempts name their worker registration, so every attempt's engine is known through it.

CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('worker', 'viewer', 'admin')),
    sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);

-- A sign-in link is used once and expires within minutes; a session lasts hours.
CREATE TABLE sign_in_links (
    sha256 TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'admin')),
    expires_at REAL NOT NULL,
    used_at REAL
);

-- A session started from a token names it (its SHA-256), so revoking the token ends the session;
-- one started from a link names none.
CREATE TABLE sessions (
    sha256 TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'admin')),
    token_sha256 TEXT,
    expires_at REAL NOT NULL
);

ALTER TABLE workers ADD COLUMN engine_version TEXT;
ALTER TABLE workers ADD COLUMN checkpoint_format TEXT;
ALTER TABLE workers ADD COLUMN cpu_features TEXT;
