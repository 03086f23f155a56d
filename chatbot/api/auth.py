"""The admin routes' HTTP Basic dependency: every check goes through the login throttle."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from chatbot.credentials import AdminLogin, throttled_error
from chatbot.login_throttle import LoginThrottled

_basic = HTTPBasic(auto_error=False, realm="ragbot admin")


def admin_dependency(admin: AdminLogin):
    """A FastAPI dependency that lets only the admin through (401 with a Basic challenge otherwise)."""

    def require_admin(given: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str:
        try:
            ok = given is not None and admin.login(given.username, given.password)
        except LoginThrottled as exc:
            raise throttled_error(exc) from None
        if not ok:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "admin credentials required",
                                headers={"WWW-Authenticate": 'Basic realm="ragbot admin"'})
        return given.username

    return require_admin
