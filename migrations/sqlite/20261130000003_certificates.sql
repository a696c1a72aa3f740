-- Certificates, issued in the same transaction as their completion. The payload (the data
-- frozen at issue) and its Ed25519 signature never change; revocation and succession are
-- recorded beside them.
CREATE TABLE certificates (
    id                 BLOB PRIMARY KEY NOT NULL,
    number             TEXT NOT NULL UNIQUE,
    user_id            BLOB NOT NULL REFERENCES users(id),
    completion_id      BLOB NOT NULL UNIQUE REFERENCES completions(id),
    module_slug        TEXT NOT NULL,
    payload            TEXT NOT NULL,
    signature          TEXT NOT NULL,
    key_id             TEXT NOT NULL,
    issued_at          TEXT NOT NULL,
    superseded_by      BLOB REFERENCES certificates(id),
    superseded_at      TEXT,
    revoked_at         TEXT,
    revoked_by         BLOB REFERENCES users(id),
    revocation_reason  TEXT
);
CREATE INDEX certificates_by_user_module ON certificates (user_id, module_slug, issued_at);
CREATE INDEX certificates_by_issue ON certificates (issued_at);
