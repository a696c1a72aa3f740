-- Reminder rules, editable by HR: one row.
CREATE TABLE reminder_settings (
    id                BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    before_due        TEXT NOT NULL,
    overdue_first     BIGINT NOT NULL,
    overdue_every     BIGINT NOT NULL,
    escalate_team  BIGINT NOT NULL,
    escalate_hr       BIGINT NOT NULL,
    before_expiry     TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    updated_by        BLOB REFERENCES users(id)
);

-- Every reminder stage queued, once per stage and recipient: the key is never queued again.
CREATE TABLE reminder_log (
    key            TEXT PRIMARY KEY NOT NULL,
    recipient_id   BLOB NOT NULL REFERENCES users(id),
    obligation_id  BLOB REFERENCES obligations(id),
    digest_key     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);

-- Campaigns on the plan's key days.
CREATE TABLE campaigns (
    id            BLOB PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    month         BIGINT NOT NULL,
    day           BIGINT NOT NULL,
    days_before   BIGINT NOT NULL,
    body          TEXT NOT NULL,
    modules       TEXT NOT NULL DEFAULT '',
    audiences     TEXT NOT NULL DEFAULT '',
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- Campaign mails can be turned off (obligation reminders cannot); the token signs the
-- one-click unsubscribe link of each campaign mail.
ALTER TABLE users ADD COLUMN campaigns_opt_out BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN preference_token TEXT;
CREATE UNIQUE INDEX users_preference_token ON users (preference_token);

-- The outbox learns two things: the obligations a reminder is about (a reminder whose
-- obligations were all met meanwhile is dropped at delivery, status 'dropped'), and the
-- unsubscribe address of a campaign mail (List-Unsubscribe). SQLite cannot change a CHECK
-- constraint in place: the table is rebuilt.
CREATE TABLE outbox_new (
    id               BLOB PRIMARY KEY NOT NULL,
    dedupe_key       TEXT UNIQUE,
    kind             TEXT NOT NULL,
    user_id          BLOB REFERENCES users(id),
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    body_html        TEXT,
    attachments      TEXT NOT NULL DEFAULT '[]',
    sensitive        BOOLEAN NOT NULL DEFAULT FALSE,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'dropped')),
    tries            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    claimed_until    TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    sent_at          TEXT,
    obligation_ids   TEXT,
    list_unsubscribe TEXT
);
INSERT INTO outbox_new (id, dedupe_key, kind, user_id, recipient, subject, body_text, body_html,
                        attachments, sensitive, status, tries, next_attempt_at, claimed_until,
                        last_error, created_at, sent_at)
    SELECT id, dedupe_key, kind, user_id, recipient, subject, body_text, body_html,
           attachments, sensitive, status, tries, next_attempt_at, claimed_until,
           last_error, created_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_creation ON outbox (created_at);
