"""HTTP to the upstreams, through urllib3: pooled keep-alive connections, a connect and a
read timeout, and retries with backoff of what failed on the way (a refused connection,
a 502, 503 or 504), so that an upstream that is down costs a request a few hundred
milliseconds, never a hang. Failures become the registry's 502 and 504 answers."""

from __future__ import annotations

import base64
import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProxyError, TimeoutError
from urllib3.util import Retry, Timeout
from urllib3.util.ssl_ import ALPN_PROTOCOLS, create_urllib3_context
from werkzeug.exceptions import BadGateway, GatewayTimeout, HTTPException

from .parse import fetchable
from .proxies import SCHEMES, Proxies
from .settings import UpstreamSettings

# The page forms asked for: JSON first, as pip and uv ask.
PAGE_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2,"
               " text/html;q=0.01")
CHUNK = 256 * 1024  # bytes read from an upstream at a time
MAX_REDIRECTS = 5  # of a page's or a file's URL
log = logging.getLogger("pypireg.upstream")


class UpstreamUnreachable(BadGateway):
    """502: the upstream could not be reached, or gave no usable answer."""


class UpstreamTimeout(GatewayTimeout):
    """504: the upstream did not answer in time."""


class PageAnswer(NamedTuple):
    status: int  # 200, 304, or 404 (the upstream has no such name)
    body: bytes
    content_type: str
    etag: str
    last_modified: str
    url: str  # where the page was found, after any redirect


class UpstreamClient:
    """One pool of connections to every upstream, shared by the registry's threads.

    An upstream URL's credentials (``https://user:token@host/simple/``) are kept here, by
    host, and sent as Basic authentication to that host only: every URL the cache keeps,
    logs or shows is the bare one (:func:`bare`). A connection that fails, or a 502, 503
    or 504, is tried again; a read that times out is not (an upstream that hangs costs one
    timeout, not several)."""

    def __init__(self, settings: UpstreamSettings, max_page_size: int,
                 fetchable: Callable[[str, str], bool] = fetchable,
                 proxies: Proxies | None = None) -> None:
        from .. import __version__  # the package's, once it is imported

        self.settings = settings
        self.max_page_size = max_page_size
        self.fetchable = fetchable
        self.credentials = {_origin(url): header for url, header in
                            (_credentials(url) for url in settings.urls) if header}
        common: dict[str, Any] = {
            "num_pools": max(4, len(settings.urls) * 2), "maxsize": 16,
            "headers": {"User-Agent": f"pypireg/{__version__}"},
            "retries": Retry(total=settings.retries, connect=settings.retries, read=0,
                             status=settings.retries, backoff_factor=0.1,
                             status_forcelist=(502, 503, 504), allowed_methods={"GET"},
                             raise_on_status=False),
            "timeout": Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
            "ssl_context": tls_context()}
        self.pool = urllib3.PoolManager(**common)
        self.proxies = Proxies.from_environment() if proxies is None else proxies
        self._common = common
        self._through: dict[str, urllib3.ProxyManager] = {}  # by proxy URL, made when needed
        self._lock = threading.Lock()
        for proxy in {self.proxies.http, self.proxies.https} - {""}:
            if urlsplit(proxy).scheme not in SCHEMES:
                log.warning("the proxy %s is not an http:// or https:// one: upstreams that"
                            " would go through it cannot be reached", bare(proxy))

    def page(self, upstream: str, normalized_name: str, etag: str = "",
             last_modified: str = "") -> PageAnswer:
        """The upstream's page for a name (``upstream`` bare), revalidated with what the
        last fetch gave."""
        url = f"{upstream}{normalized_name}/"
        headers = {"Accept": PAGE_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        response, url = self.follow(url, headers, self.fetchable)
        try:
            if response.status in (304, 404, 410):
                return PageAnswer(404 if response.status == 410 else response.status, b"", "",
                                  etag, last_modified, url)
            if response.status != 200:
                raise UpstreamUnreachable(
                    f"upstream {upstream} answered {response.status} for {normalized_name!r}")
            body = self.read_all(response, url, self.max_page_size,
                                 f"its page of {normalized_name}")
            return PageAnswer(200, body, response.headers.get("Content-Type", ""),
                              response.headers.get("ETag", ""),
                              response.headers.get("Last-Modified", ""), url)
        finally:
            response.release_conn()

    def follow(self, url: str, headers: dict[str, str], check: Callable[[str, str], bool]
               | None = None) -> tuple[urllib3.BaseHTTPResponse, str]:
        """GET ``url``, following redirects one by one, each through the connections its
        own address takes (a proxy, or none) with its own origin's credentials, and each
        target refused unless ``check(target, source)``; the answer, and where it came
        from. The body is left to the caller: ``release_conn`` when done."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self.get(url, headers)
            location = response.get_redirect_location()
            if not location:
                return response, url
            response.release_conn()
            target = urljoin(url, location)
            if check is not None and not check(target, url):
                raise UpstreamUnreachable(
                    f"the upstream redirected {url.rpartition('/')[2]} to an address this"
                    " registry does not fetch from")
            url = target
        raise UpstreamUnreachable(f"the upstream redirected {url} more than"
                                  f" {MAX_REDIRECTS} times")

    def get(self, url: str, headers: dict[str, str] | None = None
            ) -> urllib3.BaseHTTPResponse:
        """One streaming GET, redirects not followed (:meth:`follow` does)."""
        url, credentials = _credentials(url)
        headers = dict(headers or {})
        credentials = credentials or self.credentials.get(_origin(url), "")
        if credentials:
            headers["Authorization"] = credentials
        try:
            return self.pool_for(url).request("GET", url, headers=headers,
                                              preload_content=False, redirect=False)
        except urllib3.exceptions.MaxRetryError as exc:
            raise self.failure(url, exc.reason or exc) from None
        except HTTPError as exc:
            raise self.failure(url, exc) from None

    def pool_for(self, url: str) -> urllib3.PoolManager:
        """The connections to ``url``: through the proxy set for its scheme, unless
        NO_PROXY names its host (:mod:`.proxies`)."""
        proxy = self.proxies.for_url(url)
        if not proxy:
            return self.pool
        with self._lock:
            through = self._through.get(proxy)
            if through is None:
                if urlsplit(proxy).scheme not in SCHEMES:
                    raise UpstreamUnreachable(
                        f"the proxy set for {urlsplit(url).scheme}:// upstreams is a"
                        f" {urlsplit(proxy).scheme}:// one: this registry goes through"
                        " http:// and https:// proxies only")
                through = self._through[proxy] = _proxy_manager(proxy, self._common)
        return through

    def get_file(self, url: str, headers: dict[str, str] | None = None
                 ) -> urllib3.BaseHTTPResponse:
        """A file's bytes as stored (``identity``), each redirect's target checked as a
        page's file URLs are (``fetchable``); ``headers`` add to the request's (a
        ``Range``)."""
        return self.follow(url, {"Accept-Encoding": "identity", **(headers or {})},
                           self.fetchable)[0]

    def read_all(self, response: urllib3.BaseHTTPResponse, url: str, limit: int, what: str,
                 *, decode: bool = True) -> bytes:
        """The whole body, refused past ``limit`` bytes (an upstream is not trusted);
        ``decode=False`` keeps it as sent, for bytes that are hashed."""
        chunks, size = [], 0
        try:
            for chunk in response.stream(CHUNK, decode_content=decode):
                size += len(chunk)
                if size > limit:
                    raise UpstreamUnreachable(
                        f"upstream sent more than {limit:,} bytes for {what}")
                chunks.append(chunk)
        except HTTPError as exc:
            raise self.failure(url, exc) from None
        return b"".join(chunks)

    def failure(self, url: str, exc: BaseException) -> HTTPException:
        """The registry's answer for an upstream that failed: 504 for a timeout, else 502."""
        where = bare(urlunsplit(urlsplit(url)._replace(path="/", query="", fragment="")))
        # urllib3 counts a refused connection as a connect timeout: it is not one.
        if isinstance(exc, TimeoutError) and not isinstance(exc, NewConnectionError):
            return UpstreamTimeout(f"upstream {where} did not answer within"
                                   f" {self.settings.read_timeout:g} s ({type(exc).__name__})")
        if isinstance(exc, ProxyError):  # its address is the host's business, not a client's
            cause = exc.original_error
            return UpstreamUnreachable(f"upstream {where} could not be reached: the outgoing"
                                       f" proxy failed ({type(cause).__name__})")
        reason = str(exc).split(": ", 1)[-1] if str(exc) else type(exc).__name__
        return UpstreamUnreachable(f"upstream {where} could not be reached: {reason}")


def tls_context() -> ssl.SSLContext:
    """The TLS settings of every https connection to the upstreams (in a proxy's tunnel
    too): urllib3's own, with the system's certificate authorities (``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` honoured) read once, here. Left to itself, urllib3 reads them again for
    each new connection: some 50 ms of CPU each, which a cold cache pays many times over."""
    context = create_urllib3_context()
    context.load_default_certs()
    context.__class__ = _SharedContext  # the same context, from now on left as it is
    context.set_alpn_protocols(ALPN_PROTOCOLS)  # as urllib3 sets them, before any thread
    return context


class _SharedContext(ssl.SSLContext):
    """A TLS context every thread's connections share. OpenSSL lets threads share one only
    while nobody changes it, but urllib3 sets a context's ALPN protocols and verify mode
    again for each connection it makes: replacing the protocols while another thread
    opens a connection from the context frees what that one is reading (CPython issue
    141012). A setting made again as it already is changes nothing here."""

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        wanted = list(alpn_protocols)
        if wanted != getattr(self, "_alpn", None):
            super().set_alpn_protocols(wanted)
            self._alpn = wanted

    @property  # type: ignore[override]  # typeshed's base class says int
    def verify_mode(self) -> ssl.VerifyMode:
        return super().verify_mode

    @verify_mode.setter
    def verify_mode(self, value: ssl.VerifyMode) -> None:
        if value != super().verify_mode:
            ssl.SSLContext.verify_mode.fset(self, value)  # type: ignore[attr-defined]


def _proxy_manager(url: str, common: dict[str, Any]) -> urllib3.ProxyManager:
    """A pool through the proxy at ``url``, its ``user:password@`` sent to it alone, as
    Proxy-Authorization."""
    url, credentials = _credentials(url)
    return urllib3.ProxyManager(url, proxy_headers={"Proxy-Authorization": credentials}
                                if credentials else {}, **common)


def bare(url: str) -> str:
    """The URL without its ``user:password@``: as the cache keeps and shows it."""
    return _credentials(url)[0]


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _credentials(url: str) -> tuple[str, str]:
    """The URL without its ``user:password@``, and those as a Basic Authorization header
    (urllib3 drops it on a redirect to another host)."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url, ""
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return (urlunsplit(parts._replace(netloc=netloc)),
            "Basic " + base64.b64encode(pair.encode()).decode("ascii"))
