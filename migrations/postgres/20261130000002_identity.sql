-- Org units form a tree; `path` is the full path ("Direction/Service"), unique, so that the
-- directory import can match units by path and a subtree is `path = p OR path LIKE p || '/%'`.
CREATE TABLE org_units (
    id          UUID PRIMARY KEY,
    parent_id   UUID REFERENCES org_units(id),
    name        TEXT NOT NULL,
    path        TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Partner organisations of the territorial plan, with their theme on the plan's map.
CREATE TABLE partners (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    theme       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

ALTER TABLE users ADD COLUMN employee_number TEXT;
ALTER TABLE users ADD COLUMN org_unit_id UUID REFERENCES org_units(id);
ALTER TABLE users ADD COLUMN partner_id UUID REFERENCES partners(id);
ALTER TABLE users ADD COLUMN job_title TEXT;
ALTER TABLE users ADD COLUMN hire_date DATE;
ALTER TABLE users ADD COLUMN sex TEXT;
ALTER TABLE users ADD COLUMN category TEXT;
-- demo | directory | oidc | partner
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'demo';
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_employee_number ON users (employee_number);
CREATE UNIQUE INDEX users_oidc_subject ON users (oidc_subject);
CREATE INDEX users_org_unit ON users (org_unit_id);
CREATE INDEX users_partner ON users (partner_id);

-- Security events. Append-only: the trigger refuses any change or deletion.
CREATE TABLE audit_events (
    id          UUID PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor_id    UUID,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    details     TEXT NOT NULL,
    client      TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- API tokens for machine clients; only the SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    scope         TEXT NOT NULL,
    created_by    UUID REFERENCES users(id),
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ
);

-- One-time sign-in links for partner staff; only the SHA-256 of the link token is kept.
CREATE TABLE login_links (
    id          UUID PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    user_id     UUID NOT NULL REFERENCES users(id),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
