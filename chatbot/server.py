"""The composition root: the one place that knows both the API and the UI.

`create_server` builds the API's FastAPI app and mounts the Gradio apps on it (private-gpt's `launcher.py` plays
this part there); `api/` and `ui/` each depend only on the services below them, never on each other."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from chatbot.api.app import create_app
from chatbot.api.upload_guard import Gate, refuse, session_gate
from chatbot.credentials import AdminCredentials
from chatbot.services import Services
from chatbot.ui import ADMIN_PATH, build_public_app, mount_ui
from chatbot.ui.admin_app import build_admin_app
from chatbot.ui.isolation import mounted, session_user


def ui_upload_gates(app: FastAPI) -> dict[str, Gate]:
    """The Gradio upload routes' gates: the admin app's lets in its signed-in sessions (Gradio's own check of its
    login cookie, once `mount_ui` has mounted it), the public app's (it has no upload component) refuses all."""
    admin_user = session_user(functools.cache(lambda: mounted(app, ADMIN_PATH)))
    return {f"{ADMIN_PATH}/gradio_api/upload": session_gate(admin_user), "/gradio_api/upload": refuse}


def create_server(services: Services, credentials: AdminCredentials, *, with_ui: bool = True) -> FastAPI:
    """The product's one app: the API, and (unless `with_ui` is off) the admin and public Gradio apps mounted on
    it behind the same perimeter, the admin login throttled like the API's Basic auth."""
    if not with_ui:
        return create_app(services, credentials)
    app = create_app(services, credentials, more_upload_gates=ui_upload_gates)
    mount_ui(app, build_admin_app(services), build_public_app(services), services.settings, credentials.gradio_auth)
    return app
