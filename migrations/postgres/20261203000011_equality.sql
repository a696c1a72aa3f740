-- The professional-equality plan: its period, actions with their comment history,
-- indicators (automatic from a declarative definition, or typed in by HR per period) and
-- the snapshots trends are read from. Directory columns used only in aggregates.

ALTER TABLE users ADD COLUMN job_family TEXT;
ALTER TABLE users ADD COLUMN manages BOOLEAN NOT NULL DEFAULT FALSE;

-- One row: the plan's period (three years at most).
CREATE TABLE equality_plan (
    id          BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    starts_on   DATE NOT NULL,
    ends_on     DATE NOT NULL,
    updated_by  UUID REFERENCES users(id),
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE equality_actions (
    id           UUID PRIMARY KEY NOT NULL,
    axis         TEXT NOT NULL CHECK (axis IN ('E1', 'E2', 'E3', 'E4', 'E5')),
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    owner_id     UUID NOT NULL REFERENCES users(id),
    starts_on    DATE NOT NULL,
    ends_on      DATE NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('not_started', 'in_progress', 'done', 'abandoned')),
    progress     BIGINT NOT NULL CHECK (progress BETWEEN 0 AND 100),
    -- space-separated module slugs and offer ids
    modules      TEXT NOT NULL DEFAULT '',
    offers       TEXT NOT NULL DEFAULT '',
    created_by   UUID REFERENCES users(id),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    CHECK (ends_on >= starts_on)
);
CREATE INDEX equality_actions_by_axis ON equality_actions (axis, ends_on);

-- Kept: who wrote what, when (the author's name as it was).
CREATE TABLE equality_action_comments (
    id          UUID PRIMARY KEY NOT NULL,
    action_id   UUID NOT NULL REFERENCES equality_actions(id),
    author_id   UUID REFERENCES users(id),
    author_name TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX equality_action_comments_by_action ON equality_action_comments (action_id, created_at);

CREATE TABLE equality_indicators (
    id          UUID PRIMARY KEY NOT NULL,
    code        TEXT NOT NULL UNIQUE,
    axis        TEXT NOT NULL CHECK (axis IN ('E1', 'E2', 'E3', 'E4', 'E5')),
    action_id   UUID REFERENCES equality_actions(id),
    title       TEXT NOT NULL,
    -- 'auto': `definition` holds the population and the measure (JSON); 'manual': typed in
    kind        TEXT NOT NULL CHECK (kind IN ('auto', 'manual')),
    definition  TEXT,
    unit        TEXT NOT NULL,
    min_value   DOUBLE PRECISION,
    max_value   DOUBLE PRECISION,
    target      DOUBLE PRECISION,
    direction   TEXT NOT NULL DEFAULT 'at_least' CHECK (direction IN ('at_least', 'at_most')),
    deadline    DATE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE equality_manual_values (
    id            UUID PRIMARY KEY NOT NULL,
    indicator_id  UUID NOT NULL REFERENCES equality_indicators(id),
    period        TEXT NOT NULL,
    period_end    DATE NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    source        TEXT NOT NULL,
    entered_by    UUID REFERENCES users(id),
    entered_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (indicator_id, period)
);

-- A snapshot: every indicator's value and cells (aggregates only, no person), and the
-- plan's actions as they stood. `slot` is the month for the monthly job (taken once).
CREATE TABLE equality_snapshots (
    id          UUID PRIMARY KEY NOT NULL,
    taken_on    DATE NOT NULL,
    taken_at    TIMESTAMPTZ NOT NULL,
    slot        TEXT UNIQUE,
    taken_by    UUID REFERENCES users(id),
    actions     TEXT NOT NULL,
    plan_from   DATE,
    plan_to     DATE
);
CREATE INDEX equality_snapshots_by_day ON equality_snapshots (taken_on);

CREATE TABLE equality_snapshot_values (
    snapshot_id   UUID NOT NULL REFERENCES equality_snapshots(id),
    indicator_id  UUID NOT NULL,
    code          TEXT NOT NULL,
    title         TEXT NOT NULL,
    axis          TEXT NOT NULL,
    unit          TEXT NOT NULL,
    target        DOUBLE PRECISION,
    direction     TEXT NOT NULL,
    deadline      DATE,
    source        TEXT NOT NULL,
    people        BIGINT NOT NULL,
    value         DOUBLE PRECISION,
    cells         TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, indicator_id)
);
CREATE INDEX equality_snapshot_values_by_indicator ON equality_snapshot_values (indicator_id);
CREATE INDEX completions_by_module ON completions (module_slug, user_id);
CREATE INDEX obligations_by_due ON obligations (due_on);
