-- Server-side sessions: the cookie holds only the session id. A session ends at logout,
-- at « se déconnecter partout », when the person is deactivated or their role changes,
-- after its lifetime, or after an idle time; ended sessions are kept with the reason.
CREATE TABLE sessions (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users(id),
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ,
    end_reason    TEXT
);
CREATE INDEX sessions_open_by_user ON sessions (user_id, ended_at);
