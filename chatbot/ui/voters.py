"""Who votes in the UI: a random id the server issues in a signed cookie, together with the peer's network.

The page load (`GET /` of the public app) sets the cookie when the request has no valid one; a vote is counted for
`client_key("voter", id@network)`. Without a valid cookie (forged, or cookies refused) a vote counts for the
network alone, as the REST `/api/feedback` counts it. The network is the peer address, an IPv6 peer's /64 (one
host usually holds the whole /64). Nothing the browser chooses makes another voter: a new voter needs a new
cookie from the server (a new page load), and every vote passes the per-address rate limit.

The signing key is made once and kept in RAGBOT_HOME (0600), so that cookies outlive a restart and every server
process on one home accepts them."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatbot.api.upload_guard import route_path
from chatbot.home import make_home
from chatbot.storage.conversations import client_key

VOTER_COOKIE = "ragbot-voter"
KEY_FILE = "voter-cookie.key"
COOKIE_DAYS = 365


def peer_network(address: str | None) -> str:
    """An IPv4 address as is; an IPv6 one as its /64 (an IPv4-mapped one as the IPv4 address); other text as is."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def signing_key(home: Path) -> bytes:
    """The cookie key in `home` (made on first use, readable by the owner only)."""
    path = make_home(home) / KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as handle:
        key = secrets.token_bytes(32)
        handle.write(key)
    return key


class VoterCookies:
    """Issues and checks the signed voter cookie."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _signature(self, voter_id: str) -> str:
        digest = hmac.new(self._key, voter_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def issue(self) -> str:
        voter_id = secrets.token_urlsafe(16)
        return f"{voter_id}.{self._signature(voter_id)}"

    def voter_id(self, cookie: str | None) -> str | None:
        """The id in a cookie this server signed, else None."""
        voter_id, _, signature = (cookie or "").partition(".")
        if voter_id and signature and hmac.compare_digest(signature, self._signature(voter_id)):
            return voter_id
        return None

    def voter(self, cookie: str | None, address: str | None) -> str:
        """The stored identity of a vote: the cookie's id at the peer's network, or the network alone."""
        network = peer_network(address)
        voter_id = self.voter_id(cookie)
        return client_key("voter", f"{voter_id}@{network}") if voter_id else client_key("address", network)


@functools.cache
def voter_cookies(home: Path) -> VoterCookies:
    """The cookies of the server on `home` (one key per home)."""
    return VoterCookies(signing_key(home))


class IssueVoterCookie:
    """Pure ASGI middleware: the public page (`GET /`) sets a fresh voter cookie when the request has no valid one."""

    def __init__(self, app: ASGIApp, cookies: VoterCookies) -> None:
        self.app = app
        self.cookies = cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or route_path(scope) != "/" or \
                self.cookies.voter_id(HTTPConnection(scope).cookies.get(VOTER_COOKIE)) is not None:
            await self.app(scope, receive, send)
            return
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        header = (f"{VOTER_COOKIE}={self.cookies.issue()}; Path=/; Max-Age={COOKIE_DAYS * 86400}; HttpOnly; "
                  f"SameSite=Lax{secure}").encode()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", header)]
            await send(message)

        await self.app(scope, receive, sending)
