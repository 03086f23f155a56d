-- State every web replica shares (issue 28: a stateless web tier). Rate buckets and answers in flight are
-- UNLOGGED: a database crash empties them, which only resets the limits.

-- One token bucket per (route group, client): the rate limiter of the open routes.
CREATE UNLOGGED TABLE rate_buckets (
    route text NOT NULL,
    client text NOT NULL,
    tokens double precision NOT NULL,
    allowed boolean NOT NULL,
    updated timestamptz NOT NULL,
    PRIMARY KEY (route, client)
);

-- Failed admin logins per client address and per user name (the login throttle).
CREATE TABLE login_failures (
    kind text NOT NULL CHECK (kind IN ('client', 'user')),
    key text NOT NULL,
    failures integer NOT NULL,
    last_failure timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);

-- Signed-in admin sessions (the admin app's login cookie), by the sha256 of their token.
CREATE TABLE admin_sessions (
    token_sha256 bytea PRIMARY KEY,
    user_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
);

-- Web replicas alive: each `ragbot serve` refreshes its row every few seconds.
CREATE TABLE replicas (
    name text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
);

-- The admin password `ragbot serve` generated when none was configured (scrypt), for every replica.
CREATE TABLE admin_password (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    user_name text NOT NULL,
    password_hash text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Answers being generated, per client: the per-client cap on answers in flight.
CREATE UNLOGGED TABLE answers_in_flight (
    id bigserial PRIMARY KEY,
    client text NOT NULL,
    replica text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX answers_in_flight_client ON answers_in_flight (client);
