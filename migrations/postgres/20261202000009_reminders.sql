-- Reminder rules, editable by HR: one row.
CREATE TABLE reminder_settings (
    id                BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    before_due        TEXT NOT NULL,
    overdue_first     BIGINT NOT NULL,
    overdue_every     BIGINT NOT NULL,
    escalate_team  BIGINT NOT NULL,
    escalate_hr       BIGINT NOT NULL,
    before_expiry     TEXT NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    updated_by        UUID REFERENCES users(id)
);

-- Every reminder stage queued, once per stage and recipient: the key is never queued again.
CREATE TABLE reminder_log (
    key            TEXT PRIMARY KEY NOT NULL,
    recipient_id   UUID NOT NULL REFERENCES users(id),
    obligation_id  UUID REFERENCES obligations(id),
    digest_key     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);

-- Campaigns on the plan's key days.
CREATE TABLE campaigns (
    id            UUID PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    month         BIGINT NOT NULL,
    day           BIGINT NOT NULL,
    days_before   BIGINT NOT NULL,
    body          TEXT NOT NULL,
    modules       TEXT NOT NULL DEFAULT '',
    audiences     TEXT NOT NULL DEFAULT '',
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Campaign mails can be turned off (obligation reminders cannot); the token signs the
-- one-click unsubscribe link of each campaign mail.
ALTER TABLE users ADD COLUMN campaigns_opt_out BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN preference_token TEXT;
CREATE UNIQUE INDEX users_preference_token ON users (preference_token);

-- The outbox learns two things: the obligations a reminder is about (a reminder whose
-- obligations were all met meanwhile is dropped at delivery, status 'dropped'), and the
-- unsubscribe address of a campaign mail (List-Unsubscribe).
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'dropped'));
ALTER TABLE outbox ADD COLUMN obligation_ids TEXT;
ALTER TABLE outbox ADD COLUMN list_unsubscribe TEXT;
