"""The admin routes' HTTP Basic dependency: every check goes through the login throttle (429, or 503 while the
database that keeps its records is down)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from chatbot.credentials import AdminLogin

_basic = HTTPBasic(auto_error=False, realm="ragbot admin")


def admin_dependency(admin: AdminLogin):
    """A FastAPI dependency that lets only the admin through (401 with a Basic challenge otherwise)."""

    def require_admin(given: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str:
        if given is None or not admin.http_login(given.username, given.password):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "admin credentials required",
                                headers={"WWW-Authenticate": 'Basic realm="ragbot admin"'})
        return given.username

    return require_admin
