"""Fetching web pages for ingestion, safely: http/https only, public addresses only (unless allowed), the address
checked is the one connected to, redirects followed only within the site, bodies capped while they arrive, no
credentials (no cookies, no .netrc, no proxy from the environment), a user agent that names ragbot, and a polite
pace between requests."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx

from ingestion.errors import IngestError

USER_AGENT = "ragbot/0.1 (support-chatbot ingest; respects robots.txt)"
ROBOTS_AGENT = "ragbot"  # the token robots.txt rules name
TIMEOUT_S = 20.0  # to connect, and between two reads
READ_DEADLINE_S = 120.0  # for a whole page
MAX_REDIRECTS = 5
_MB = 1024 * 1024
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,application/xml;q=0.8,text/xml;q=0.8,*/*;q=0.1"


class FetchError(IngestError):
    """A page that could not be fetched; `status` is the HTTP status when the server answered."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Fetched:
    """A response: the URL it came from (after same-site redirects); `body` is None for 304 Not Modified."""

    url: str
    status: int
    content_type: str
    body: bytes | None
    etag: str | None
    last_modified: str | None


def normalize_url(url: str) -> str:
    """`url` without its fragment, with a lower-case scheme and host and a path of at least '/' (credentials
    dropped: they are refused anyway); raises FetchError when it does not parse."""
    try:
        parts = urlsplit(urldefrag(url.strip())[0])
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise FetchError(f"not a valid URL: {url[:200]}") from None
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    if parts.username is not None:
        netloc = "user@" + netloc  # kept visible, so that check_url refuses it
    return parts._replace(scheme=parts.scheme.lower(), netloc=netloc, path=parts.path or "/").geturl()


def check_url(url: str) -> None:
    """Refuse what is not a plain http(s) URL with a host and without credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"only http and https URLs can be ingested, not '{parts.scheme or url}'")
    if not parts.hostname:
        raise FetchError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise FetchError("URLs with credentials are refused (ragbot sends none)")


def same_site(a: str, b: str) -> bool:
    """Same host and port (the scheme may change, e.g. an http → https redirect)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname, pa.port or _default_port(pa.scheme)) == (pb.hostname, pb.port or _default_port(pb.scheme))


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def resolve_public(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to for `host`: every address it resolves to must be public unless `allow_private`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            mapped = getattr(ip, "ipv4_mapped", None) or ip
            if not mapped.is_global or mapped.is_multicast:
                raise FetchError(f"refused: {host} resolves to {address}, a private, loopback or link-local address"
                                 " (set RAGBOT_INGEST_ALLOW_PRIVATE=1 to allow it)")
    return addresses[0]


class _Pacer:
    """At most one request start every `delay` seconds, whatever the number of threads."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.delay
        if start > now:
            time.sleep(start - now)


class Fetcher:
    """One site's fetches (thread-safe): `get` returns a `Fetched` or raises `FetchError` with a one-line reason."""

    def __init__(self, *, allow_private: bool, max_bytes: int, delay: float, timeout: float = TIMEOUT_S) -> None:
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.pacer = _Pacer(delay)
        self.timeout = timeout
        self._client = httpx.Client(
            timeout=timeout, follow_redirects=False, trust_env=False, verify=True,
            headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # keeps no cookie: none is sent back
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def check(self, url: str) -> None:
        """Refuse `url` before any request: not http(s), credentials in it, or an address not allowed."""
        check_url(url)
        target = httpx.URL(url)
        resolve_public(target.host, target.port or _default_port(target.scheme), self.allow_private)

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET `url`, following up to `MAX_REDIRECTS` redirects on the same site (conditional when validators are
        given). Any status other than 200 and 304 raises."""
        conditional = {"If-None-Match": etag} if etag else {}
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current)
            response = self._send(current, conditional)
            try:
                if response.has_redirect_location:
                    target = normalize_url(urljoin(current, response.headers["location"]))
                    if not same_site(url, target):
                        raise FetchError(f"redirected off-site to {target}", response.status_code)
                    current = target
                    continue
                return self._read(current, response)
            finally:
                response.close()
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    def _send(self, url: str, headers: dict[str, str]) -> httpx.Response:
        """Send to the checked address itself (a second DNS answer cannot point the connection elsewhere)."""
        target = httpx.URL(url)
        address = resolve_public(target.host, target.port or _default_port(target.scheme), self.allow_private)
        pinned = target.copy_with(host=address)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request("GET", pinned, headers={**headers, "Host": target.netloc.decode()},
                                             extensions=extensions)
        self.pacer.wait()
        try:
            return self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise FetchError(f"timed out after {self.timeout:.0f} s") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"cannot connect: {exc or type(exc).__name__}") from None

    def _read(self, url: str, response: httpx.Response) -> Fetched:
        status = response.status_code
        headers = response.headers
        validators = {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}
        if status == 304:
            return Fetched(url, status, "", None, **validators)
        if status != 200:
            raise FetchError(f"HTTP {status} {response.reason_phrase}".rstrip(), status)
        declared = int(headers.get("content-length") or 0)
        if declared > self.max_bytes:
            raise FetchError(f"page is {declared / _MB:.1f} MB, over the {self.max_bytes / _MB:.1f} MB limit", status)
        body = bytearray()
        deadline = time.monotonic() + READ_DEADLINE_S
        try:
            for piece in response.iter_bytes():  # decoded: a gzip bomb is capped too
                body += piece
                if len(body) > self.max_bytes:
                    raise FetchError(f"page is over the {self.max_bytes / _MB:.1f} MB limit (stopped reading)", status)
                if time.monotonic() > deadline:  # a server that drips bytes slower than the read timeout
                    raise FetchError(f"took over {READ_DEADLINE_S:.0f} s to send", status)
        except httpx.TimeoutException:
            raise FetchError(f"timed out after {self.timeout:.0f} s while reading") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"connection lost while reading: {exc or type(exc).__name__}") from None
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        return Fetched(url, status, content_type, bytes(body), **validators)
