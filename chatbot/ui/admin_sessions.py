"""The admin app's login sessions, shared by every replica and ended by a POST (issue 29, item 10).

Gradio names its login cookie after a random per-process `cookie_id` and keeps sessions in a per-process dict;
here the cookie name is fixed and the dict is `SessionTokens` (Postgres, with an idle and an absolute expiry).
Gradio's `GET /logout` ends every session of the user and any other site can trigger it with a link: it is
replaced by `POST <admin>/logout` (behind the cross-site guard like every POST), which ends this session only."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from gradio.routes import App

from chatbot.cluster.admin_sessions import SessionTokens

ADMIN_COOKIE_ID = "ragbot-admin"  # the cookie's name only; the token in it is the secret
# A plain same-origin form: the browser sends it with Sec-Fetch-Site: same-origin, which the guard lets through.
SIGN_OUT_FORM = '<form method="post" action="logout"><button type="submit">Sign out</button></form>'


def session_cookies(gradio_app: App) -> tuple[str, str]:
    """The two cookies Gradio's login sets (secure and plain), by the app's cookie id."""
    return f"access-token-{gradio_app.cookie_id}", f"access-token-unsecure-{gradio_app.cookie_id}"


def add_logout_routes(app: FastAPI, path: str, find_app: Callable[[], App]) -> None:
    """`POST {path}/logout` and a 405 for GET; call before mounting the Gradio app at `path` (the first route
    that matches answers)."""

    @app.post(f"{path}/logout", include_in_schema=False)
    def logout(request: Request) -> RedirectResponse:
        gradio_app = find_app()
        response = RedirectResponse("./", status_code=303)  # relative: /admin/logout → /admin/
        for cookie in session_cookies(gradio_app):
            if token := request.cookies.get(cookie):
                del gradio_app.tokens[token]
            response.delete_cookie(cookie, path="/")
        return response

    @app.get(f"{path}/logout", include_in_schema=False)
    def logout_by_get() -> JSONResponse:
        return JSONResponse({"detail": "sign out with POST"}, status_code=405, headers={"Allow": "POST"})


def share_sessions(gradio_app: App, tokens: SessionTokens) -> None:
    """Make a mounted app keep its login sessions in `tokens` under a cookie name every replica knows."""
    gradio_app.tokens = tokens
    gradio_app.cookie_id = ADMIN_COOKIE_ID
