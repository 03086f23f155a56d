"""Admin credentials: from settings, or generated once per `serve` and printed once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from chatbot.settings import Settings

_basic = HTTPBasic(auto_error=False, realm="ragbot admin")


@dataclass(frozen=True)
class AdminCredentials:
    user: str
    password: str
    generated: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> AdminCredentials:
        if settings.admin_password and settings.admin_password.get_secret_value():
            return cls(settings.admin_user, settings.admin_password.get_secret_value(), generated=False)
        return cls(settings.admin_user, secrets.token_urlsafe(18), generated=True)

    def check(self, user: str, password: str) -> bool:
        """Constant-time comparison of both fields."""
        ok_user = secrets.compare_digest(user.encode(), self.user.encode())
        ok_password = secrets.compare_digest(password.encode(), self.password.encode())
        return ok_user and ok_password

    def __repr__(self) -> str:  # never leak the password through logs or tracebacks
        return f"AdminCredentials(user={self.user!r}, password='***')"


def admin_dependency(credentials: AdminCredentials):
    """A FastAPI dependency that lets only the admin through (401 with a Basic challenge otherwise)."""

    def require_admin(given: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str:
        if given is None or not credentials.check(given.username, given.password):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "admin credentials required",
                                headers={"WWW-Authenticate": 'Basic realm="ragbot admin"'})
        return given.username

    return require_admin
