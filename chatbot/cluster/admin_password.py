"""The admin password across replicas. A configured `RAGBOT_ADMIN_PASSWORD` is used as is. Without one, the first
replica to start generates a password, prints it once and stores its scrypt hash; a replica started while another
is alive uses that hash, and refuses to start when there is none (the running one has a configured password this
one lacks). A start with no other replica alive generates a new password, as a single `ragbot serve` always did."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from chatbot.cluster.replicas import beat, other_replicas_alive
from chatbot.credentials import AdminCredentials, hash_password

_START_LOCK = "SELECT pg_advisory_xact_lock(7310016)"  # one replica decides at a time
_STORE = """
INSERT INTO admin_password (user_name, password_hash, created_by) VALUES (%s, %s, %s)
ON CONFLICT (singleton) DO UPDATE SET user_name = excluded.user_name, password_hash = excluded.password_hash,
    created_by = excluded.created_by, created_at = now()
"""


class AdminPasswordRequired(RuntimeError):
    """Another replica is running and no generated password is stored: this one cannot know the password."""


def join_replicas(pool: ConnectionPool, credentials: AdminCredentials, replica: str) -> AdminCredentials:
    """Register `replica` as alive and settle its admin credentials (see the module's docstring). Generated
    credentials come back with `password` None when another replica generated them (only the hash is known)."""
    with pool.connection() as conn, conn.transaction():
        conn.execute(_START_LOCK)
        others = other_replicas_alive(conn, replica)
        beat(conn, replica)
        if not credentials.generated:
            return credentials
        stored = conn.execute("SELECT user_name, password_hash FROM admin_password").fetchone()
        if others and stored is None:
            raise AdminPasswordRequired(
                f"another ragbot replica is running ({', '.join(others)}) with a configured admin password, and "
                "this one has none: set the same RAGBOT_ADMIN_PASSWORD here (a generated password is per cluster "
                "only when the first replica generated it)")
        if others:
            return AdminCredentials(stored[0], None, generated=True, password_hash=stored[1])
        conn.execute(_STORE, (credentials.user, hash_password(credentials.password or ""), replica))
        return credentials
