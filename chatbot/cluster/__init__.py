"""State the web replicas share through Postgres (issue 28): rate buckets, failed logins, admin sessions, the
generated admin password, answers in flight per client and the replicas' heartbeats. Each module owns its table(s)
from `sql/015_shared_web_state.sql`; docs/scaling-out.md lists what stays per replica and why."""
