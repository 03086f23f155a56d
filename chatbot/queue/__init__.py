"""Durable jobs on Postgres: named tasks with JSON arguments, queued by any replica and run by `ragbot worker`
(or the worker `ragbot serve` runs in-process), on procrastinate. See docs/jobs.md."""
