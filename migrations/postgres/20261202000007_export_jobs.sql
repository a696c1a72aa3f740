-- Certificate export jobs, kept in the database so that any instance shows their progress
-- and serves their file (written to the shared export folder), and so that a job cut short
-- by a restart is reported as such. `updated_at` is the running job's heartbeat.
CREATE TABLE export_jobs (
    id           UUID PRIMARY KEY,
    owner_id     UUID NOT NULL REFERENCES users(id),
    label        TEXT NOT NULL,
    total        BIGINT NOT NULL,
    done         BIGINT NOT NULL DEFAULT 0,
    state        TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    error        TEXT,
    instance     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX export_jobs_running ON export_jobs (state, updated_at);
