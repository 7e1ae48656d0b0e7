"""Simple index and package pages: content negotiation (PEP 691), strong ETags answered with
304 before anything is rendered, bodies rendered once per change (:mod:`pypireg.pagecache`),
and names this registry does not hold, redirected upstream or served from its cache
(:mod:`.proxied`)."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import quote

from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import NotAcceptable
from werkzeug.http import parse_accept_header
from werkzeug.routing import BuildError
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from .. import dists, protection, render
from ..errors import NOSNIFF, ResourceNotFound

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ..app import Registry, RegistryRequest
    from ..models import FileLink, IndexEntry
    from .scope import Scope

V1_JSON = "application/vnd.pypi.simple.v1+json"
V1_HTML = "application/vnd.pypi.simple.v1+html"
# What a client may ask for, and the type each answer is sent as. Ties go to the first.
OFFERS = {
    "text/html": "text/html",
    V1_HTML: V1_HTML,
    V1_JSON: V1_JSON,
    "application/vnd.pypi.simple.latest+json": V1_JSON,
    "application/vnd.pypi.simple.latest+html": V1_HTML,
}


@dataclass(frozen=True)
class Format:
    content_type: str

    @property
    def json(self) -> bool:
        return self.content_type == V1_JSON

    @property
    def header(self) -> str:
        """The Content-Type header: plain text/html names its charset."""
        return f"{self.content_type}; charset=utf-8" if self.content_type == "text/html" else (
            self.content_type)


def negotiate(request: RegistryRequest) -> Format:
    """The best offer for the request's Accept header, or ``?format=`` (PEP 691)."""
    environ = request.environ
    asked = ((environ.get("QUERY_STRING") and request.args.get("format"))
             or environ.get("HTTP_ACCEPT") or "*/*")
    fmt = _remembered_offer(asked) if len(asked) <= LONGEST_KEPT else _best_offer(asked)
    if fmt is None:
        raise NotAcceptable(
            f"none of the offered types is acceptable: offered {', '.join(OFFERS)}")
    return fmt


LONGEST_KEPT = 512  # characters of an Accept header whose answer is remembered


def _best_offer(asked: str) -> Format | None:
    best = parse_accept_header(asked, MIMEAccept).best_match(list(OFFERS))
    return None if best is None else Format(OFFERS[best])


# Parsing an Accept header costs more than serving a cached page, and a fleet of clients
# sends a handful of distinct ones, so the answers for short headers are remembered.
_remembered_offer = functools.lru_cache(maxsize=256)(_best_offer)


def index_page(registry: Registry, request: RegistryRequest, scope: Scope) -> PageResponse:
    fmt = negotiate(request)
    etag = page_etag(request, scope, fmt, "index")
    if revalidated(request, etag):
        return finish(None, fmt, registry, request, scope, etag)
    body = registry.pages.get(etag)
    if body is None:
        entries = registry.catalog.package_index(scope.project_ids)
        if fmt.json:  # PEP 691's index lists names only
            text = render.index_json(render.Project(entry.name, "") for entry in entries)
        else:
            text = scope_index_html(request, scope, entries)
        body = text.encode()
        registry.pages.put(etag, body)
    return finish(body, fmt, registry, request, scope, etag)


def package_page(
    registry: Registry, request: RegistryRequest, scope: Scope, package_name: str
) -> Response | PageResponse:
    fmt = negotiate(request)
    normalized = dists.normalize(package_name)
    upstreams = registry.upstreams
    # A merged name's page shows the upstream's files too: its ETag is not the scope's.
    merged = upstreams is not None and upstreams.may_merge(normalized)
    etag = page_etag(request, scope, fmt, "package", normalized)
    if not merged and revalidated(request, etag):
        return finish(None, fmt, registry, request, scope, etag)
    body = None if merged else registry.pages.get(etag)
    if body is None:
        links = registry.catalog.file_links(scope.project_ids, normalized)
        if upstreams and (merged or not links and forwardable(registry, scope, normalized)):
            if upstreams.caching:
                from . import proxied  # built on this module's parts

                return proxied.package_page(registry, request, scope, fmt, normalized, links)
            if not links:  # GitLab's request forwarding: a redirect to the upstream
                return redirect(upstreams.redirect_url(normalized), 302)
        if not links:
            raise ResourceNotFound("Package")
        status = registry.catalog.name_status(scope.project_ids, normalized)
        title = links[-1].package_name
        files = [] if status.status == "quarantined" else local_files(request, scope, links)
        text = (render.package_json(normalized, files, status) if fmt.json
                else render.package_html(title, files, status))
        body = text.encode()
        registry.pages.put(etag, body)
    return finish(body, fmt, registry, request, scope, etag)


def local_files(request: RegistryRequest, scope: Scope, links: list[FileLink]
                ) -> list[render.File]:
    """The scope's own files of a page, each URL built from one template."""
    # pypi.file is in every layout (docs/protocols.md): its URLs are never None.
    url = cast("Callable[[str, str], str]", file_url_builder(request, scope, "file"))
    provenance_url = file_url_builder(request, scope, "file_provenance")
    return [
        render.File(
            filename=f.file_name, url=url(f.sha256, f.file_name), sha256=f.sha256,
            version=f.version, requires_python=f.requires_python, size=f.size,
            upload_time=f.upload_time, metadata_sha256=f.metadata_sha256,
            yanked=bool(f.yanked), yanked_reason=f.yanked_reason,
            provenance_url=provenance_url(f.sha256, f.file_name) if f.provenance else None,
        )
        for f in links
    ]


def forwardable(registry: Registry, scope: Scope, normalized_name: str) -> bool:
    """Only a name the scope has never held, that no status or protection rule of it
    names and no open stage of it holds, goes upstream: a public twin of a private name
    must never be installed in its place (dependency confusion), not even while the
    private one has no live file."""
    catalog = registry.catalog
    ids = scope.project_ids

    def read() -> bool:
        return not (catalog.name_known(ids, normalized_name)
                    or protection.protects(catalog, ids, normalized_name)
                    or catalog.name_staged(ids, normalized_name))

    # Asked by every request for a cached upstream file: kept while nothing it reads
    # changes (each change to those tables moves the catalog's generation).
    return bool(catalog.kept((tuple(ids), normalized_name), read, "forwardable"))


# Never a normalized name (those are [a-z0-9-]), a digest or a file name, and left as is by
# URL building.
_NAME_SLOT = "_name_"
_DIGEST_SLOT = "_digest_"
_FILE_SLOT = "_file_"
# What werkzeug's converters leave unquoted in a path segment (the WHATWG set).
_SEGMENT_SAFE = "!$&'()*+,/:;=@"
# What quote() leaves as it is with those: they and its own unreserved characters.
_PLAIN_SEGMENT = re.compile(f"[A-Za-z0-9_.~{re.escape(_SEGMENT_SAFE)}-]*")


def scope_index_html(request: RegistryRequest, scope: Scope, entries: list[IndexEntry]
                     ) -> str:
    """Package page URLs from one template instead of a dispatcher call per name (an index
    may list 100,000); a layout that does not embed the name verbatim gets built calls."""
    head, slot, tail = scope.url(request, "simple_package", package_name=_NAME_SLOT
                                 ).rpartition(_NAME_SLOT)
    if slot:
        return render.index_html_templated(scope.title, entries, head, tail)
    return render.index_html(scope.title, (
        render.Project(e.name, scope.url(request, "simple_package", package_name=
                                         e.normalized_name), e.requires_python)
        for e in entries))


def file_url_builder(request: RegistryRequest, scope: Scope, endpoint: str
                      ) -> Callable[[str, str], str | None]:
    """A file's URLs (its ``file`` or ``file_provenance``) from one template, quoting as
    werkzeug does; checked against one real build, so a layout or converter that differs
    gets a dispatcher call per file. A layout without the endpoint gives None."""
    try:
        head, _, rest = scope.url(request, endpoint, sha256=_DIGEST_SLOT, filename=_FILE_SLOT
                                  ).partition(_DIGEST_SLOT)
    except BuildError:
        return lambda sha256, filename: None
    middle, _, tail = rest.partition(_FILE_SLOT)

    def built(sha256: str, filename: str) -> str:
        return scope.url(request, endpoint, sha256=sha256, filename=filename)

    def templated(sha256: str, filename: str) -> str:
        if not _PLAIN_SEGMENT.fullmatch(filename):  # most file names are left as they are
            filename = quote(filename, safe=_SEGMENT_SAFE)
        return f"{head}{sha256}{middle}{filename}{tail}"

    sample = ("0" * 64, "a b+c%d!-1.0.tar.gz")
    return templated if templated(*sample) == built(*sample) else built


_BASE = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME")


def page_etag(request: RegistryRequest, scope: Scope, fmt: Format, *parts: str) -> str:
    """Strong, from everything the page depends on: the scope's change serials, the caller's
    view of it, the format and its version, and the URLs' base (as the request's environ
    gives it: at least as fine as werkzeug's parsed host and root path, and cheaper)."""
    environ = request.environ
    return _etag((*parts, fmt.content_type, render.PAGE_FORMAT),
                 tuple(map(environ.get, _BASE)), tuple(sorted(scope.url_args.items())),
                 scope.state)


# Hashing costs more than finding the answer again: a fleet asks for the same pages. Each
# entry is bounded by what the server lets a Host header hold.
@functools.lru_cache(maxsize=1024)
def _etag(page: tuple[str | int, ...], base: tuple[str | None, ...],
          url_args: tuple[tuple[str, str], ...], state: str) -> str:
    key = repr((*page, list(base), list(url_args), state))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def revalidated(request: RegistryRequest, etag: str) -> bool:
    """Whether the client already holds this page (a request without If-None-Match, the
    most common kind, or with exactly this page's ETag, is told apart without parsing)."""
    sent = request.environ.get("HTTP_IF_NONE_MATCH")
    if sent is None:
        return False
    # An installer sends back the one ETag it was given: matched without parsing.
    return sent == f'"{etag}"' or request.if_none_match.contains_weak(etag)


def finish(body: bytes | None, fmt: Format, registry: Registry, request: RegistryRequest,
           scope: Scope, etag: str, extra: Iterable[tuple[str, str]] = ()) -> PageResponse:
    """The page, or a 304 without a body, with its caching headers (and ``extra``)."""
    # Shared caches may keep a page only when anyone may see all of it.
    shared = registry.caller(request) is None and all(p.is_public for p in scope.projects)
    age = registry.page_max_age
    headers = [
        ("ETag", f'"{etag}"'),
        ("Vary", "Accept"),
        ("Cache-Control", f"{'public' if shared else 'private'}, max-age={age}"
                          + (", must-revalidate" if age == 0 else "")),
        NOSNIFF,
        *extra,
    ]
    if body is None:
        return PageResponse("304 NOT MODIFIED", headers, None)
    return PageResponse("200 OK", [("Content-Type", fmt.header),
                                   ("Content-Length", str(len(body))), *headers], body)


class PageResponse:
    """A simple page, or its 304, as a WSGI response.

    Every header of a page is a string known once the page is found, so they are sent as
    they are: werkzeug's response object, which checks and copies each header, would cost
    a quarter of serving a cached page. The headers are werkzeug's own, in its order. A HEAD
    request gets them without the body.
    """

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes | None) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        start_response(self.status, list(self.headers))
        if self.body is None or environ.get("REQUEST_METHOD") == "HEAD":
            return []
        return [self.body]
