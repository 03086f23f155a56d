"""Fetching web pages for ingestion, safely: http/https only, public addresses only (unless allowed), the address
checked is the one connected to, redirects followed only within the site, bodies capped while they arrive, no
credentials (no cookies, no .netrc, no proxy from the environment), a user agent that names ragbot, and a polite
pace between requests."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx

from ingestion.errors import IngestError
from ingestion.web_body import BodyError, Deadline, check_codings, content_codings, read_body

USER_AGENT = "ragbot/0.1 (support-chatbot ingest; respects robots.txt)"
ROBOTS_AGENT = "ragbot"  # the token robots.txt rules name
TIMEOUT_S = 20.0  # to connect, and between two reads
PAGE_DEADLINE_S = 30.0  # for a whole exchange: connecting, redirects, headers and body
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
            if not is_public(ipaddress.ip_address(address.split("%")[0])):
                raise FetchError(f"refused: {host} resolves to {address}, a private, loopback or link-local address"
                                 " (set RAGBOT_INGEST_ALLOW_PRIVATE=1 to allow it)")
    return addresses[0]


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))  # RFC 6052, RFC 8215


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address, and so is the IPv4 address an IPv6 one embeds (mapped, NAT64, 6to4, compatible)."""
    embedded = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    return all(a.is_global and not a.is_multicast for a in (ip, embedded) if a is not None)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that an IPv4-mapped, NAT64, 6to4 or IPv4-compatible IPv6 address carries, if any."""
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if any(ip in network for network in _NAT64) or (int(ip) >> 32 == 0 and int(ip) > 1):  # ::a.b.c.d, not :: or ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


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
    """One site's fetches (thread-safe): `get` returns a `Fetched` or raises `FetchError` with a one-line reason.
    Each `get` has `page_deadline` seconds in all, and none ends after `deadline` (a `time.monotonic()` value: the
    whole sync's). Connections are not kept alive, so that the deadline can end each one (see `Deadline`)."""

    def __init__(self, *, allow_private: bool, max_bytes: int, delay: float, timeout: float = TIMEOUT_S,
                 page_deadline: float = PAGE_DEADLINE_S, deadline: float | None = None) -> None:
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.pacer = _Pacer(delay)
        self.timeout = timeout
        self.page_deadline = page_deadline
        self.deadline = deadline
        self._client = httpx.Client(
            timeout=timeout, follow_redirects=False, trust_env=False, verify=True,
            headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT, "Accept-Encoding": "gzip"},
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # keeps no cookie: none is sent back
            limits=httpx.Limits(max_keepalive_connections=0),
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
        target = _httpx_url(url)
        resolve_public(target.host, target.port or _default_port(target.scheme), self.allow_private)

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET `url`, following up to `MAX_REDIRECTS` redirects on the same site (conditional when validators are
        given). Any status other than 200 and 304 raises."""
        conditional = {"If-None-Match": etag} if etag else {}
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        seconds = self.page_deadline
        if self.deadline is not None:
            seconds = min(seconds, self.deadline - time.monotonic())
            if seconds <= 0:
                raise FetchError("not fetched: the sync's deadline has passed")
        with Deadline(seconds) as deadline, _expiry(deadline):
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                check_url(current)
                response = self._send(current, conditional, deadline)
                try:
                    if response.has_redirect_location:
                        target = normalize_url(urljoin(current, response.headers["location"]))
                        if not same_site(url, target):
                            raise FetchError(f"redirected off-site to {target}", response.status_code)
                        current = target
                        continue
                    fetched = self._read(current, response)
                    if deadline.expired:  # a body without a length ends when its socket is shut: it is cut short
                        raise FetchError("the page deadline ended the read")
                    return fetched
                finally:
                    response.close()
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    def _send(self, url: str, headers: dict[str, str], deadline: Deadline) -> httpx.Response:
        """Send to the checked address itself (a second DNS answer cannot point the connection elsewhere)."""
        target = _httpx_url(url)
        address = resolve_public(target.host, target.port or _default_port(target.scheme), self.allow_private)
        pinned = target.copy_with(host=address)
        extensions: dict[str, object] = {"trace": deadline.trace}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        self.pacer.wait()
        try:
            request = self._client.build_request("GET", pinned, headers={**headers, "Host": target.netloc.decode()},
                                                 extensions=extensions, timeout=min(self.timeout,
                                                                                    deadline.remaining()))
            return self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise FetchError(f"timed out after {self.timeout:.0f} s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise FetchError(f"cannot connect: {exc or type(exc).__name__}") from None

    def _read(self, url: str, response: httpx.Response) -> Fetched:
        status = response.status_code
        headers = response.headers
        validators = {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}
        if status == 304:
            return Fetched(url, status, "", None, **validators)
        if status != 200:
            raise FetchError(f"HTTP {status} {response.reason_phrase}".rstrip(), status)
        length = headers.get("content-length", "")
        declared = int(length) if length.isdigit() else 0
        if declared > self.max_bytes:
            raise FetchError(f"page is {declared / _MB:.1f} MB, over the {self.max_bytes / _MB:.1f} MB limit", status)
        try:
            codings = content_codings(headers)
            check_codings(codings)
            body = read_body(response, self.max_bytes, gzipped=bool(codings))
        except BodyError as exc:
            raise FetchError(str(exc), status) from None
        except httpx.TimeoutException:
            raise FetchError(f"timed out after {self.timeout:.0f} s while reading") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"connection lost while reading: {exc or type(exc).__name__}") from None
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        return Fetched(url, status, content_type, body, **validators)


@contextmanager
def _expiry(deadline: Deadline) -> Iterator[None]:
    """Whatever a request's failure says, once its deadline fired the deadline is the reason."""
    try:
        yield
    except FetchError as exc:
        if deadline.expired:
            raise FetchError(f"took over {deadline.seconds:.0f} s (the page deadline): stopped", exc.status) from None
        raise


def _httpx_url(url: str) -> httpx.URL:
    """httpx's parse of `url`; what it refuses (a control character, a malformed IPv4) is a FetchError."""
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise FetchError(f"not a valid URL ({exc}): {url[:200]!r}") from None
