-- Org units form a tree; `path` is the full path ("Direction/Service"), unique, so that the
-- directory import can match units by path and a subtree is `path = p OR path LIKE p || '/%'`.
CREATE TABLE org_units (
    id          BLOB PRIMARY KEY NOT NULL,
    parent_id   BLOB REFERENCES org_units(id),
    name        TEXT NOT NULL,
    path        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

-- Partner organisations of the territorial plan, with their theme on the plan's map.
CREATE TABLE partners (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    theme       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

ALTER TABLE users ADD COLUMN employee_number TEXT;
ALTER TABLE users ADD COLUMN org_unit_id BLOB REFERENCES org_units(id);
ALTER TABLE users ADD COLUMN partner_id BLOB REFERENCES partners(id);
ALTER TABLE users ADD COLUMN job_title TEXT;
ALTER TABLE users ADD COLUMN hire_date TEXT;
ALTER TABLE users ADD COLUMN sex TEXT;
ALTER TABLE users ADD COLUMN category TEXT;
-- demo | directory | oidc | partner
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'demo';
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_employee_number ON users (employee_number);
CREATE UNIQUE INDEX users_oidc_subject ON users (oidc_subject);
CREATE INDEX users_org_unit ON users (org_unit_id);
CREATE INDEX users_partner ON users (partner_id);

-- Security events. Append-only: the triggers refuse any change or deletion.
CREATE TABLE audit_events (
    id          BLOB PRIMARY KEY NOT NULL,
    at          TEXT NOT NULL,
    actor_id    BLOB,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    details     TEXT NOT NULL,
    client      TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- API tokens for machine clients; only the SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id            BLOB PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    scope         TEXT NOT NULL,
    created_by    BLOB REFERENCES users(id),
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    last_used_at  TEXT
);

-- One-time sign-in links for partner staff; only the SHA-256 of the link token is kept.
CREATE TABLE login_links (
    id          BLOB PRIMARY KEY NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    user_id     BLOB NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
