-- Durable jobs (issue 28): procrastinate's queue tables, then ragbot's own record of each job.
--
-- The line below is replaced by the migrator (chatbot/db.py) with procrastinate's schema for the pinned version
-- (procrastinate 3.10.0: procrastinate.schema.SchemaManager.get_schema(), its `procrastinate_*` tables, types and
-- functions). A later procrastinate upgrade ships its own migrations: add them as a new sql/NNN file.
-- {procrastinate_schema}

-- One row per job, kept after it ends: what the Admin Jobs view and `ragbot jobs list` show, whichever replica or
-- worker reads it. `arguments` are JSON and never hold secrets; `dedupe_key` names what only one job at a time may
-- hold (an adapter's training, a website's sync, a collection's calibration).
CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    title text NOT NULL,
    arguments jsonb NOT NULL DEFAULT '{}',
    queued_by text NOT NULL,
    dedupe_key text,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    queue_job_id bigint,                       -- procrastinate_jobs.id (no foreign key: procrastinate may prune)
    done integer NOT NULL DEFAULT 0,           -- progress: `done` of `total` steps, and a fraction in [0, 1]
    total integer NOT NULL DEFAULT 0,
    fraction real NOT NULL DEFAULT 0,
    message text NOT NULL DEFAULT '',
    log_tail text[] NOT NULL DEFAULT '{}',     -- the newest progress and log lines
    result jsonb,
    error text,
    cancel_requested boolean NOT NULL DEFAULT false,
    attempts integer NOT NULL DEFAULT 0,
    host text,                                 -- the worker that ran it: host name and process id
    pid integer,
    queued_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX jobs_kind_id ON jobs (kind, id DESC);
CREATE INDEX jobs_queue_job ON jobs (queue_job_id);
-- At most one queued or running job per key: a second submission fails here, whichever replica made it.
CREATE UNIQUE INDEX jobs_one_active_per_key ON jobs (dedupe_key) WHERE status IN ('queued', 'running');

-- Uploaded files waiting for their ingest job (stored before the job is queued, so any worker can read them);
-- the job deletes them when it ends.
CREATE TABLE job_files (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    position integer NOT NULL,
    name text NOT NULL,
    data bytea NOT NULL
);
CREATE INDEX job_files_job ON job_files (job_id, position);
