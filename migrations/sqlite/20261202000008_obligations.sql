-- Assignment rules: a target (every criterion given must hold), a module, and a due date
-- counted from the assignment or from the person's arrival.
CREATE TABLE assignment_rules (
    id              BLOB PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    module_slug     TEXT NOT NULL,
    audience        TEXT,
    org_unit        TEXT,
    partner_id      BLOB REFERENCES partners(id),
    arrived_after   TEXT,
    title_word      TEXT,
    due_days        BIGINT NOT NULL,
    due_from        TEXT NOT NULL,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_by      BLOB REFERENCES users(id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- One cycle of a duty: one per person, module and cycle number. A completion closes the
-- open cycle in the completion's own transaction; a cycle closed otherwise says why
-- (exempt, left, withdrawn). Cycles are never deleted: they are the history.
CREATE TABLE obligations (
    id                BLOB PRIMARY KEY NOT NULL,
    user_id           BLOB NOT NULL REFERENCES users(id),
    module_slug       TEXT NOT NULL,
    cycle             BIGINT NOT NULL,
    rule_id           BLOB REFERENCES assignment_rules(id),
    assigned_at       TEXT NOT NULL,
    due_on            TEXT NOT NULL,
    completion_id     BLOB REFERENCES completions(id),
    completed_at      TEXT,
    valid_until       TEXT,
    closed_at         TEXT,
    closure           TEXT,
    closure_reason    TEXT,
    -- The latest cycle of its person and module (a renewal clears it on the previous one).
    current           BOOLEAN NOT NULL DEFAULT TRUE,
    closed_by         BLOB REFERENCES users(id),
    UNIQUE (user_id, module_slug, cycle)
);
CREATE INDEX obligations_open ON obligations (user_id, module_slug) WHERE completed_at IS NULL AND closed_at IS NULL;
CREATE INDEX obligations_current ON obligations (current, module_slug, due_on);
