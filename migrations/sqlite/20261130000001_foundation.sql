-- People who sign in. Identity, org units and partners come with the identity work.
CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    -- space-separated audience codes (accueil rh social partenaire encadrement tous)
    audiences     TEXT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TEXT NOT NULL
);

-- First time a learner opened a lesson. Never updated.
CREATE TABLE lesson_views (
    user_id         BLOB NOT NULL REFERENCES users(id),
    module_slug     TEXT NOT NULL,
    lesson_file     TEXT NOT NULL,
    first_viewed_at TEXT NOT NULL,
    PRIMARY KEY (user_id, module_slug, lesson_file)
);

-- One quiz attempt. The drawn questions are copied in, so grading and the results page
-- never depend on course files that changed later. Written once when started, once when
-- submitted; never overwritten after that.
CREATE TABLE attempts (
    id              BLOB PRIMARY KEY NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users(id),
    module_slug     TEXT NOT NULL,
    module_version  TEXT NOT NULL,
    seed            BIGINT NOT NULL,
    questions       TEXT NOT NULL,
    pass_mark       BIGINT NOT NULL,
    started_at      TEXT NOT NULL,
    submitted_at    TEXT,
    answers         TEXT,
    score           BIGINT,
    passed          BOOLEAN
);
CREATE INDEX attempts_by_user_module ON attempts (user_id, module_slug, started_at);

-- A module completed: lessons viewed and quiz passed. History: one row per completion.
CREATE TABLE completions (
    id              BLOB PRIMARY KEY NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users(id),
    module_slug     TEXT NOT NULL,
    module_version  TEXT NOT NULL,
    attempt_id      BLOB NOT NULL UNIQUE REFERENCES attempts(id),
    score           BIGINT NOT NULL,
    completed_at    TEXT NOT NULL
);
CREATE INDEX completions_by_user_module ON completions (user_id, module_slug, completed_at);
