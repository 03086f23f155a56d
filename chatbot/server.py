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
from chatbot.credentials import AdminCredentials
from chatbot.generator_info import generator_summary
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


def create_server(services: Services, credentials: AdminCredentials, *, with_ui: bool = True) -> FastAPI:
    """The product's one app: the API, and (unless `with_ui` is off) the admin and public Gradio apps mounted on
    it behind the same perimeter, the admin login throttled like the API's Basic auth."""
    if not with_ui:
        return create_app(services, credentials)
    app = create_app(services, credentials, more_upload_gates=ui_upload_gates)
    mount_ui(app, build_admin_app(services), build_public_app(services), services.settings, credentials.gradio_auth)
    return app


def run_server(services: Services, *, host: str, port: int, with_ui: bool = True) -> None:
    """`ragbot serve`: check the admin credentials, start (and migrate) the database, print the start-up lines on
    stderr (a generated admin password once, the generators, the URL), then serve until stopped. Raises
    `WeakPassword` or `DatabaseError` before serving anything."""
    import uvicorn

    err = Console(stderr=True)
    credentials = AdminCredentials.from_settings(services.settings)  # before the database starts
    services.pool  # noqa: B018 — start and migrate the database before accepting requests
    if credentials.generated:
        err.print(f"[bold]admin login[/bold]: user '{credentials.user}', password '{credentials.password}'"
                  " (generated for this run; set RAGBOT_ADMIN_PASSWORD to choose one)", highlight=False)
    application = create_server(services, credentials, with_ui=with_ui)
    err.print(generator_summary(services.settings), highlight=False)
    if chosen := services.generators.precision():
        err.print(f"generator precision: {chosen.name} on {chosen.device} ({chosen.reason})", highlight=False)
    err.print(f"ragbot on http://{host}:{port}/  (admin: /admin, API: /v1, docs: /docs)", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5,
                **proxy_options(services.settings))
