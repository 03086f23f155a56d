"""Admin credentials: from settings (at least `MIN_PASSWORD_CHARS`), or generated once per `serve` and printed
once; every check goes through the login throttle (Gradio's login form and HTTP Basic alike).

A neutral module: the API's Basic-auth dependency and the server's Gradio login both use it, so neither the
API nor the UI has to import the other."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from fastapi import HTTPException, status

from chatbot.login_throttle import LoginThrottle, LoginThrottled, current_client
from chatbot.settings import SecuritySettings

MIN_PASSWORD_CHARS = 12


class WeakPassword(ValueError):
    """A configured admin password shorter than `MIN_PASSWORD_CHARS`."""


@dataclass(frozen=True)
class AdminCredentials:
    user: str
    password: str
    generated: bool
    throttle: LoginThrottle = field(default_factory=LoginThrottle, compare=False)

    @classmethod
    def from_settings(cls, settings: SecuritySettings) -> AdminCredentials:
        """The configured credentials (refused when the password is too short), else a generated password."""
        throttle = LoginThrottle(free_failures=settings.login_free_failures,
                                 max_wait_s=settings.login_lockout_max_s)
        if settings.admin_password and settings.admin_password.get_secret_value():
            password = settings.admin_password.get_secret_value()
            if len(password) < MIN_PASSWORD_CHARS:
                raise WeakPassword(f"RAGBOT_ADMIN_PASSWORD has {len(password)} characters; it needs at least "
                                   f"{MIN_PASSWORD_CHARS} (or unset it: serve then generates one and prints it)")
            return cls(settings.admin_user, password, generated=False, throttle=throttle)
        return cls(settings.admin_user, secrets.token_urlsafe(18), generated=True, throttle=throttle)

    def check(self, user: str, password: str) -> bool:
        """Constant-time comparison of both fields."""
        ok_user = secrets.compare_digest(user.encode(), self.user.encode())
        ok_password = secrets.compare_digest(password.encode(), self.password.encode())
        return ok_user and ok_password

    def login(self, user: str, password: str, client: str | None = None) -> bool:
        """`check` behind the throttle: raises `LoginThrottled` while this client or user name must wait."""
        client = client or current_client.get()
        self.throttle.check(client, user)
        if self.check(user, password):
            self.throttle.succeeded(client)
            return True
        self.throttle.failed(client, user)
        return False

    def gradio_auth(self, user: str, password: str) -> bool:
        """Gradio's `auth=` callback: the throttle answers 429 with Retry-After (the client comes from the
        rate-limit middleware: Gradio passes no request)."""
        try:
            return self.login(user, password)
        except LoginThrottled as exc:
            raise throttled_error(exc) from None

    def __repr__(self) -> str:  # never leak the password through logs or tracebacks
        return f"AdminCredentials(user={self.user!r}, password='***')"


def throttled_error(exc: LoginThrottled) -> HTTPException:
    """The 429 a throttled login answers, with its Retry-After."""
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc),
                         headers={"Retry-After": str(exc.retry_after)})
