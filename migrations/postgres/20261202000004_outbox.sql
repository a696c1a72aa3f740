-- The notification outbox: every e-mail the service sends is first a row here, written in
-- the transaction of the state change that causes it, then delivered by a background worker
-- (claimed with a lease, retried with backoff, kept as failed after the last try).
CREATE TABLE outbox (
    id               UUID PRIMARY KEY,
    -- Unique when present: a reminder or a notification that must never be queued twice.
    dedupe_key       TEXT UNIQUE,
    kind             TEXT NOT NULL,
    user_id          UUID REFERENCES users(id),
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    body_html        TEXT,
    -- JSON array of {filename, content_type, data (base64)}.
    attachments      TEXT NOT NULL DEFAULT '[]',
    -- A body holding a secret (a sign-in link) is blanked once delivered.
    sensitive        BOOLEAN NOT NULL DEFAULT FALSE,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    tries            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    claimed_until    TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    sent_at          TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_creation ON outbox (created_at);
