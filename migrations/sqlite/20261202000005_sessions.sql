-- Server-side sessions: the cookie holds only the session id. A session ends at logout,
-- at « se déconnecter partout », when the person is deactivated or their role changes,
-- after its lifetime, or after an idle time; ended sessions are kept with the reason.
CREATE TABLE sessions (
    id            BLOB PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users(id),
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    ended_at      TEXT,
    end_reason    TEXT
);
CREATE INDEX sessions_open_by_user ON sessions (user_id, ended_at);
