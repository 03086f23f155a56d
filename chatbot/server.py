"""The composition root: the one place that knows both the API and the UI.

`create_server` builds the API's FastAPI app and mounts the Gradio apps on it (private-gpt's `launcher.py` plays
this part there); `api/` and `ui/` each depend only on the services below them, never on each other.
`run_server` is `ragbot serve` once its options are parsed: start-up checks and lines, then uvicorn."""

from __future__ import annotations

import functools

from fastapi import FastAPI
from rich.console import Console

from chatbot.api.app import create_app
from chatbot.api.rate_limit import proxy_options
from chatbot.api.upload_guard import Gate, refuse, session_gate
from chatbot.cluster.admin_password import join_replicas
from chatbot.cluster.admin_sessions import SessionTokens
from chatbot.cluster.login_records import SharedLoginRecords
from chatbot.cluster.replicas import Heartbeat, replica_name
from chatbot.credentials import AdminCredentials, AdminLogin
from chatbot.generator_info import generator_summary
from chatbot.login_throttle import LoginThrottle
from chatbot.queue.worker import attach_worker
from chatbot.services import Services
from chatbot.ui import ADMIN_PATH, build_public_app, mount_ui
from chatbot.ui.admin_app import build_admin_app
from chatbot.ui.isolation import mounted, session_user


def ui_upload_gates(app: FastAPI) -> dict[str, Gate]:
    """The Gradio upload routes' gates: the admin app's lets in its signed-in sessions (Gradio's own check of its
    login cookie, once `mount_ui` has mounted it), the public app's (it has no upload component) refuses all.
    Neither app records video, so both refuse Gradio's `process_recording` (it stores and echoes an upload)."""
    admin_user = session_user(functools.cache(lambda: mounted(app, ADMIN_PATH)))
    return {f"{ADMIN_PATH}/gradio_api/upload": session_gate(admin_user), "/gradio_api/upload": refuse,
            f"{ADMIN_PATH}/gradio_api/process_recording": refuse, "/gradio_api/process_recording": refuse}


def admin_login(services: Services, credentials: AdminCredentials) -> AdminLogin:
    """The credentials behind the login throttle whose records every replica shares."""
    settings = services.settings
    throttle = LoginThrottle(SharedLoginRecords(services.pool), free_failures=settings.login_free_failures,
                             max_wait_s=settings.login_lockout_max_s)
    return AdminLogin(credentials, throttle)


def create_server(services: Services, credentials: AdminCredentials, *, with_ui: bool = True,
                  worker: bool | None = None) -> FastAPI:
    """The product's one app: the API, and (unless `with_ui` is off) the admin and public Gradio apps mounted on
    it behind the same perimeter, the admin login throttled like the API's Basic auth. With `worker` (default:
    `RAGBOT_WORKER`), one job worker runs in this process while the app does."""
    login = admin_login(services, credentials)
    settings = services.settings
    if not with_ui:
        app = create_app(services, login)
    else:
        app = create_app(services, login, more_upload_gates=ui_upload_gates)
        sessions = SessionTokens(services.pool, idle_s=settings.admin_session_idle_minutes * 60,
                                 max_s=settings.admin_session_max_hours * 3600)
        mount_ui(app, build_admin_app(services), build_public_app(services), settings, login.http_login, sessions)
    if settings.worker if worker is None else worker:
        attach_worker(app, services)
    return app


def admin_line(credentials: AdminCredentials) -> str | None:
    """The start-up line about a generated password: the password itself once, where this replica made it."""
    if not credentials.generated:
        return None
    if credentials.password is None:
        return (f"[bold]admin login[/bold]: user '{credentials.user}', the password another replica generated and "
                "printed (set RAGBOT_ADMIN_PASSWORD to choose one)")
    return (f"[bold]admin login[/bold]: user '{credentials.user}', password '{credentials.password}'"
            " (generated for this run; set RAGBOT_ADMIN_PASSWORD to choose one)")


def run_server(services: Services, *, host: str, port: int, with_ui: bool = True, worker: bool = True) -> None:
    """`ragbot serve`: check the admin credentials, start (and migrate) the database, join the replicas (settling
    a generated password), print the start-up lines on stderr (a generated admin password once, the generators,
    the URL), then serve until stopped, with one job worker in-process unless `worker` is off. Raises
    `WeakPassword`, `AdminPasswordRequired` or `DatabaseError` before serving anything."""
    import uvicorn

    err = Console(stderr=True)
    credentials = AdminCredentials.from_settings(services.settings)  # before the database starts
    name = replica_name(services.settings)
    credentials = join_replicas(services.pool, credentials, name)  # starts and migrates the database first
    heartbeat = Heartbeat(services.pool, services.settings, name).start()
    try:
        if line := admin_line(credentials):
            err.print(line, highlight=False)
        application = create_server(services, credentials, with_ui=with_ui, worker=worker and services.settings.worker)
        err.print(generator_summary(services.settings), highlight=False)
        if chosen := services.generators.precision():
            err.print(f"generator precision: {chosen.name} on {chosen.device} ({chosen.reason})", highlight=False)
        err.print(f"ragbot on http://{host}:{port}/  (admin: /admin, API: /v1, docs: /docs; replica {name})",
                  highlight=False)
        uvicorn.run(application, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5,
                    **proxy_options(services.settings))
    finally:
        heartbeat.stop()
