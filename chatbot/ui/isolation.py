"""Keep the two Gradio apps mounted on one server apart.

Gradio gives every app in a process one upload/cache folder (`GRADIO_TEMP_DIR`), and each app's
`/gradio_api/file=` serves anything in it: the public app would serve the admin app's files without a login. Here
each app gets a folder of its own inside that one (where Gradio's check that an event's file was uploaded still
holds), and the admin app's login session is read as Gradio reads it."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import gradio as gr
from fastapi import FastAPI
from gradio.routes import App
from gradio.utils import get_upload_folder
from starlette.requests import Request
from starlette.routing import Mount


def private_folder(name: str) -> str:
    """A new folder (mode 0700, unpredictable name) inside Gradio's upload folder."""
    root = Path(get_upload_folder())
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"ragbot-{name}-", dir=root)


def mounted(app: FastAPI, path: str) -> App:
    """The Gradio app that `gr.mount_gradio_app` mounted on `app` at `path`."""
    for route in app.routes:
        if isinstance(route, Mount) and route.path == path.rstrip("/") and isinstance(route.app, App):
            return route.app
    raise LookupError(f"no Gradio app mounted at {path}")


def keep_files_in(gradio_app: App, blocks: gr.Blocks, folder: str) -> None:
    """Make a mounted app keep its uploads (served by its own file route) and its components' files in `folder`."""
    gradio_app.uploaded_file_dir = folder
    for block in (blocks, *blocks.blocks.values()):
        block.GRADIO_CACHE = folder


def session_user(find_app: Callable[[], App]) -> Callable[[Request], Awaitable[str | None]]:
    """The user a mounted app's login cookie names (None when signed out), read as Gradio's own
    `GET /gradio_api/user` reads it: its `access-token[-unsecure]-<cookie_id>` cookie looked up in its `tokens`."""

    async def user(request: Request) -> str | None:
        gradio_app = find_app()
        token = (request.cookies.get(f"access-token-{gradio_app.cookie_id}")
                 or request.cookies.get(f"access-token-unsecure-{gradio_app.cookie_id}"))
        return gradio_app.tokens.get(token) if token else None

    return user
