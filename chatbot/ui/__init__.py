"""The Gradio UI: an open chat/compare app at `/` and a login-protected admin app at `/admin`.

Both are mounted on the product's FastAPI app by the composition root (`chatbot.server`); the admin app goes first
(the other order gives 404). Each keeps its files in a folder of its own (`isolation`); only the admin app takes
uploads (the server gates them)."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from chatbot.cluster.admin_sessions import SessionTokens
from chatbot.generator_info import generator_summary
from chatbot.services import Services
from chatbot.settings import Settings
from chatbot.ui.admin_sessions import add_logout_routes, share_sessions
from chatbot.ui.chat_tab import build_chat_tab
from chatbot.ui.compare_tab import build_compare_tab
from chatbot.ui.isolation import keep_files_in, mounted, private_folder
from chatbot.ui.voters import IssueVoterCookie, voter_cookies

GENERATION_CONCURRENCY = 4  # generation events running at once (the gate bounds what waits beyond that)
ADMIN_PATH = "/admin"

# System fonts only: nothing is fetched from a font CDN.
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])

CSS = """
.rb-sources { display: flex; flex-direction: column; gap: 8px; }
.rb-sources-heading { font-weight: 600; color: var(--body-text-color-subdued); }
.rb-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
             background: var(--background-fill-secondary); }
.rb-source-head { margin-bottom: 4px; }
.rb-n { font-family: var(--font-mono); color: var(--color-accent); font-weight: 600; }
.rb-where { color: var(--body-text-color-subdued); }
.rb-snippet { font-size: 0.92em; white-space: pre-wrap; }
.rb-meta { font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 4px; word-break: break-all; }
"""


def build_public_app(services: Services) -> gr.Blocks:
    """The public app (Chat and Compare tabs), each tab given the services it uses."""
    voters = voter_cookies(services.settings.home)
    with gr.Blocks(title="ragbot", analytics_enabled=False) as demo:
        gr.Markdown("# ragbot\nAnswers from your documents, with numbered sources. "
                    f"[Admin]({ADMIN_PATH.lstrip('/')}/)", elem_id="title")
        gr.Markdown(generator_summary(services.settings), elem_id="generator-info")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"):
                build_chat_tab(demo, services.chat, services.generators, services.settings.collection,
                               GENERATION_CONCURRENCY, voters, services.handoffs)
            with gr.Tab("Compare", id="compare-tab"):
                build_compare_tab(demo, services.chat, services.conversations, services.generators,
                                  GENERATION_CONCURRENCY, voters)
    return demo


def mount_ui(app: FastAPI, admin_app: gr.Blocks, public_app: gr.Blocks, settings: Settings,
             auth: Callable[[str, str], bool], sessions: SessionTokens) -> None:
    """Mount the admin app (`build_admin_app`) at /admin (login required: `auth` checks user and password, the
    sessions are kept in `sessions`), then the public app (`build_public_app`) at /."""
    common = {"theme": THEME, "css": CSS, "ssr_mode": False, "run_history": False, "footer_links": ["api"],
              "pwa": False, "mcp_server": False}

    @app.get(ADMIN_PATH, include_in_schema=False)
    def admin_slash(request: Request) -> RedirectResponse:
        """`/admin` → `/admin/` (otherwise the public app at / would answer it), as a relative URL: never built
        from the Host header, and right behind a proxy's path prefix too."""
        query = request.url.query
        return RedirectResponse(ADMIN_PATH.rsplit("/", 1)[-1] + "/" + (f"?{query}" if query else ""))

    add_logout_routes(app, ADMIN_PATH, lambda: mounted(app, ADMIN_PATH))
    admin = admin_app.queue(default_concurrency_limit=2)
    gr.mount_gradio_app(app, admin, path=ADMIN_PATH, auth=auth,
                        auth_message="ragbot admin: sign in with the admin credentials.",
                        max_file_size=settings.max_upload_bytes, **common)
    share_sessions(mounted(app, ADMIN_PATH), sessions)
    admin_files = private_folder("admin")
    keep_files_in(mounted(app, ADMIN_PATH), admin, admin_files)
    public = public_app.queue(default_concurrency_limit=GENERATION_CONCURRENCY, max_size=settings.ui_queue_size)
    public.state_session_capacity = settings.ui_sessions  # Gradio keeps 10,000 sessions' state by default
    gr.mount_gradio_app(app, public, path="/", blocked_paths=[admin_files], **common)
    keep_files_in(mounted(app, "/"), public, private_folder("public"))
    app.add_middleware(IssueVoterCookie, cookies=voter_cookies(settings.home))
