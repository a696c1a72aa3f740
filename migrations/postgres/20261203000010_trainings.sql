-- Shared trainings: an offer (what is taught, to whom) and its sessions (when, where, how
-- many seats), enrolments with a waiting list, attendance per slot, calendar feeds.

CREATE TABLE training_offers (
    id                  UUID PRIMARY KEY NOT NULL,
    title               TEXT NOT NULL,
    description         TEXT NOT NULL,
    -- space-separated audience codes, as for users
    audiences           TEXT NOT NULL,
    -- space-separated axis codes of the plans the offer serves
    axes                TEXT NOT NULL DEFAULT '',
    -- an e-learning module to complete before enrolling
    prerequisite_module TEXT,
    -- an e-learning module that attending the whole session counts as completed
    completes_module    TEXT,
    requires_approval   BOOLEAN NOT NULL DEFAULT FALSE,
    created_by          UUID REFERENCES users(id),
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE training_sessions (
    id               UUID PRIMARY KEY NOT NULL,
    offer_id         UUID NOT NULL REFERENCES training_offers(id),
    mode             TEXT NOT NULL CHECK (mode IN ('in_person', 'online')),
    address          TEXT,
    room             TEXT,
    access_info      TEXT,
    -- shown only to people holding a seat
    online_link      TEXT,
    capacity         BIGINT NOT NULL CHECK (capacity > 0),
    enrol_until      TIMESTAMPTZ NOT NULL,
    cancel_until     TIMESTAMPTZ NOT NULL,
    -- after it, unused quota seats are open to everyone
    quota_release_at TIMESTAMPTZ,
    -- first slot's start and last slot's end, for lists
    starts_at        TIMESTAMPTZ NOT NULL,
    ends_at          TIMESTAMPTZ NOT NULL,
    cancelled_at     TIMESTAMPTZ,
    cancel_reason    TEXT,
    -- the iCalendar SEQUENCE of every enrolment's event moves with each change
    revision         BIGINT NOT NULL DEFAULT 0,
    created_by       UUID REFERENCES users(id),
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX training_sessions_by_start ON training_sessions (starts_at);

CREATE TABLE session_slots (
    id         UUID PRIMARY KEY NOT NULL,
    session_id UUID NOT NULL REFERENCES training_sessions(id),
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL,
    -- the secret of the slot's check-in QR code (valid 30 minutes around the slot)
    checkin_secret TEXT NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX session_slots_by_session ON session_slots (session_id, starts_at);

CREATE TABLE session_trainers (
    session_id UUID NOT NULL REFERENCES training_sessions(id),
    user_id    UUID NOT NULL REFERENCES users(id),
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX session_trainers_by_user ON session_trainers (user_id);

CREATE TABLE session_quotas (
    session_id UUID NOT NULL REFERENCES training_sessions(id),
    partner_id UUID NOT NULL REFERENCES partners(id),
    seats      BIGINT NOT NULL CHECK (seats > 0),
    PRIMARY KEY (session_id, partner_id)
);

-- One per person and session. pending: waits for approval; booked: holds a seat; offered:
-- a freed seat held for the person until offer_expires_at; waiting: on the waiting list,
-- in the order of queue_no (given under the session's lock when the request is made, and
-- kept through an approval); cancelled, refused, lapsed (an offer not confirmed).
CREATE TABLE enrolments (
    id               UUID PRIMARY KEY NOT NULL,
    session_id       UUID NOT NULL REFERENCES training_sessions(id),
    user_id          UUID NOT NULL REFERENCES users(id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'booked', 'offered', 'waiting', 'cancelled', 'refused', 'lapsed')),
    -- the partner whose reserved seats this booking uses
    quota_partner_id UUID REFERENCES partners(id),
    requested_at     TIMESTAMPTZ NOT NULL,
    queue_no         BIGINT NOT NULL,
    offer_expires_at TIMESTAMPTZ,
    enrolled_by      UUID REFERENCES users(id),
    decided_by       UUID REFERENCES users(id),
    cancelled_at     TIMESTAMPTZ,
    cancelled_by     UUID REFERENCES users(id),
    -- the iCalendar SEQUENCE last sent for this enrolment
    sequence         BIGINT NOT NULL DEFAULT 0,
    attended_at      TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (session_id, user_id),
    UNIQUE (session_id, queue_no)
);
CREATE INDEX enrolments_by_session ON enrolments (session_id, status, queue_no);
CREATE INDEX enrolments_by_user ON enrolments (user_id);

CREATE TABLE attendance (
    enrolment_id UUID NOT NULL REFERENCES enrolments(id),
    slot_id      UUID NOT NULL REFERENCES session_slots(id),
    status       TEXT NOT NULL CHECK (status IN ('present', 'absent', 'excused')),
    marked_by    UUID REFERENCES users(id),
    marked_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (enrolment_id, slot_id)
);

-- A person's private calendar feed: only the SHA-256 of its secret is kept; a new link
-- replaces the old one, and deleting the row revokes it.
CREATE TABLE calendar_feeds (
    user_id     UUID PRIMARY KEY NOT NULL REFERENCES users(id),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Attestations de présence: issued in the transaction that records the last slot attended,
-- frozen and signed like certificates (same key, same number space), verifiable at /verify.
CREATE TABLE attendance_attestations (
    id            UUID PRIMARY KEY NOT NULL,
    number        TEXT NOT NULL UNIQUE,
    enrolment_id  UUID NOT NULL UNIQUE REFERENCES enrolments(id),
    user_id       UUID NOT NULL REFERENCES users(id),
    payload       TEXT NOT NULL,
    signature     TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    issued_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX attendance_attestations_by_user ON attendance_attestations (user_id, issued_at);

-- Reminders of a shared session to the people holding a seat, days before (7 and 1).
ALTER TABLE reminder_settings ADD COLUMN before_session TEXT NOT NULL DEFAULT '7 1';
