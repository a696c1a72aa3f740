-- Scheduled job runs. Every instance ticks; a run first claims its (job, slot) row, so with
-- several instances on one database each slot runs once. The row then records the outcome.
CREATE TABLE job_runs (
    job          TEXT NOT NULL,
    slot         TEXT NOT NULL,
    slot_at      TIMESTAMPTZ NOT NULL,
    instance     TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    summary      TEXT,
    error        TEXT,
    PRIMARY KEY (job, slot)
);
CREATE INDEX job_runs_by_start ON job_runs (job, started_at);
