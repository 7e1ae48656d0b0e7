"""The web pages as a WSGI app of their own, beside the API: its URL map, its templates,
its static files, and its errors as pages."""

from __future__ import annotations

import gzip
import hashlib
import logging
import mimetypes
import re
from collections.abc import Callable, Iterable
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from ..access import PRINCIPAL
from ..errors import NOSNIFF, error_response, message_for, status_line, unanswered, wants_html
from ..requestlog import ENDPOINT
from . import formats, signin, views
from .sessions import SESSION, SIGNED_IN, Sessions

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ..app import Registry
    from ..protocols import URLAdapter

log = logging.getLogger("pypireg")

# The pages run no script but the copy buttons' file, and load nothing from elsewhere
# but a README's images: whatever a README's HTML holds, a browser runs none of it.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' {images} data:;"
       " form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
STATIC = ("ui.css", "copy.js")
TEMPLATES = ("base.html", "error.html", "home.html", "macros.html", "namespace.html",
             "package.html", "search.html", "sign_in.html")


def routes() -> Map:
    """The pages, relative to where the UI is mounted. ``/-/packages/ID`` is GitLab's
    ``web_path`` for a package, which the Packages API's ``_links`` name."""
    return Map([
        Rule("/", endpoint="home"),
        Rule("/-/search", endpoint="search"),
        Rule("/-/static/<name>", endpoint="static"),
        Rule("/users/sign_in", endpoint="sign_in", methods=["GET", "POST"]),
        Rule("/users/sign_out", endpoint="sign_out", methods=["POST"]),
        Rule("/<path:namespace>/-/packages/<int:package_id>", endpoint="package"),
        Rule("/<path:namespace>/-/packages/pypi/<name>", endpoint="package_by_name"),
        Rule("/<path:namespace>", endpoint="namespace"),  # the first is the one built
        Rule("/<path:namespace>/-/packages", endpoint="namespace"),
    ], strict_slashes=False, merge_slashes=False)


class UI:
    """Pages for people, reading ``registry`` with the caller's rights: ``create_ui``
    builds one. ``api`` is where the registry's API is mounted: a path below the UI's
    own mount point (``/api/v4``, as ``pypireg serve`` has it), or an absolute URL."""

    def __init__(self, registry: Registry, *, api: str = "/api/v4", title: str = "pypireg"
                 ) -> None:
        self.registry = registry
        self.api = api.rstrip("/")
        self.title = title
        self.map = routes()
        self.templates = Environment(
            loader=PackageLoader("pypireg.ui"), autoescape=select_autoescape(default=True),
            trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["size"] = formats.human_size
        self.templates.filters["when"] = formats.short_time
        self.templates.tests["prerelease"] = formats.is_prerelease
        self.templates.filters["readme"] = self.readme
        self.static = {name: files("pypireg.ui").joinpath("static").joinpath(name).read_bytes()
                       for name in STATIC}
        # What every kept page's ETag holds: a change of the templates or static files makes
        # new ETags, so a browser never keeps a page of an older pypireg.
        templates = files("pypireg.ui").joinpath("templates")
        self.format = hashlib.sha256(b"".join(
            [templates.joinpath(name).read_bytes() for name in TEMPLATES]
            + [self.static[name] for name in STATIC])).hexdigest()[:16]
        self.images = registry.ui_external_images
        self.sessions = Sessions(registry)
        # Where people sign in when the auth provider has no sessions of ours (SignsIn).
        self.sign_in_url: str | None = getattr(registry.auth, "sign_in_url", None)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        request = Request(environ)
        try:
            self.registry.check_request(request)
            path = request.path
            if len(path) > 1 and path.endswith("/"):  # /acme/tools/ is /acme/tools
                raise RequestRedirect(request.host_url.rstrip("/") + request.script_root
                                      + path.rstrip("/") + _query_suffix(request))
            adapter = self.map.bind_to_environ(environ)
            endpoint, args = adapter.match()
            if request.method not in ("GET", "HEAD") and endpoint not in signin.POSTS:
                raise MethodNotAllowed(valid_methods=["GET", "HEAD"])
            self.signed_in(request)
            environ[ENDPOINT] = f"ui.{endpoint}"  # for the request log and the metrics
            view = getattr(signin if endpoint in signin.VIEWS else views, endpoint)
            response = view(self, request, adapter, **args)
        except RequestRedirect as redirect:
            response = redirect.get_response(environ)
        except HTTPException as exc:
            response = self.error_page(request, exc)
        except Exception as exc:  # a fault of the disks or catalog under it, or a bug
            response = self.error_page(request, unanswered(exc, request.method, request.path))
        response.headers.set(*NOSNIFF)
        return response(environ, start_response)

    def signed_in(self, request: Request) -> None:
        """The caller of a request that carries no credentials of its own is whom its
        session cookie signs in, if anyone: the registry's views then answer for them."""
        if "HTTP_AUTHORIZATION" in request.environ or SESSION not in request.cookies:
            return
        principal = self.sessions.principal(request)
        if principal is not None:
            request.environ[PRINCIPAL] = principal
            request.environ[SIGNED_IN] = principal.name

    def who(self, request: Request) -> str:
        """Who a page is for, as its header says: the session's name, or whether the
        request carried credentials of its own."""
        return request.environ.get(SIGNED_IN) or ("(credentials)" if request.authorization
                                                   else "")

    # -- answers -------------------------------------------------------------------------

    def page(self, request: Request, urls: Any, template: str, status: int = 200,
             **context: Any) -> Response:
        name = request.environ.get(SIGNED_IN)
        body = self.templates.get_template(template).render(
            ui=self, request=request, urls=urls, signed_in=name,
            sign_out_csrf=self.sessions.sign_out_token(name) if name else "",
            sign_in=self.sessions.available or self.sign_in_url is not None, **context)
        return self.html(body, status)

    def kept_page(self, request: Request, parts: tuple[Any, ...],
                  render: Callable[[], Response]) -> Response:
        """A page whose content ``parts`` name exactly (with the URLs' base and this
        version's templates), rendered once and kept in the registry's page cache until a
        part changes (a project's serial moves with every change to what it holds).

        Its ETag is that name, so a browser holding the page is answered 304; a client
        that takes gzip gets the page compressed, once, when it was kept."""
        key = hashlib.sha256(repr((request.host_url, request.script_root, self.api,
                                   self.format, self.images, self.who(request),
                                   *parts)).encode()).hexdigest()
        gzipped = request.accept_encodings["gzip"] > 0
        etag = key[:40] + ("-gzip" if gzipped else "")
        if request.if_none_match.contains(etag) or request.if_none_match.star_tag:
            response = Response(status=304)
        else:
            body = self.registry.pages.get(f"ui:{key}:{gzipped:d}")
            if body is None:
                plain = render().get_data()
                packed = gzip.compress(plain, compresslevel=6, mtime=0)
                self.registry.pages.put(f"ui:{key}:0", plain)
                self.registry.pages.put(f"ui:{key}:1", packed)
                body = packed if gzipped else plain
            response = self.html(body)
            if gzipped:
                response.headers["Content-Encoding"] = "gzip"
        response.headers["ETag"] = f'"{etag}"'
        response.headers["Cache-Control"] = "private, no-cache"
        response.headers["Vary"] = "Authorization, Cookie, Accept-Encoding"
        return response

    def html(self, body: str | bytes, status: int = 200) -> Response:
        response = Response(body, status=status, mimetype="text/html")
        response.headers["Content-Security-Policy"] = CSP.format(
            images="https:" if self.images == "allow" else "")
        response.headers["Referrer-Policy"] = "same-origin"  # README images learn nothing
        response.headers["Cache-Control"] = "private, no-cache"
        response.headers["Vary"] = "Authorization, Cookie"
        return response

    def readme(self, html: str) -> Markup:
        """A rendered README as the page shows it. Its images from other hosts load lazily
        and send no referrer, or, with ``ui_external_images="block"``, become their alt
        text; a heading's empty link to itself (GitHub's flavour of Markdown) gets a name
        that screen readers say."""
        def image(match: re.Match[str]) -> str:
            tag = match.group(0)
            found = _SRC.search(tag)
            source = found.group(1) if found else ""
            here = source.startswith(("/", "data:")) and not source.startswith("//")
            if self.images == "block" and not here:
                alt = _ALT.search(tag)
                said = f": {alt.group(1)}" if alt and alt.group(1) else ""
                return f'<span class="blocked-image">[image{said}, not loaded]</span>'
            return tag.replace("<img", '<img loading="lazy" referrerpolicy="no-referrer"', 1)

        return Markup(_EMPTY_LINK.sub(r'\1 aria-label="Link to this heading"></a>',
                                      _IMAGE.sub(image, html)))

    def error_page(self, request: Request, exc: HTTPException) -> Response:
        """The error as a page for a browser; as the API's JSON for any other client."""
        if not wants_html(request.environ):
            return error_response(exc, request.environ)
        urls = self.map.bind_to_environ(request.environ)
        response = self.page(request, urls, "error.html", status=exc.code or 500,
                             code=exc.code or 500, message=message_for(exc),
                             here=request.full_path.rstrip("?"))
        response.status = status_line(exc)
        for name, value in exc.get_headers(request.environ):
            # A browser that can sign in here gets the page's link, not its own prompt.
            if name.lower() != "content-type" and not (
                    name.lower() == "www-authenticate" and self.sessions.available):
                response.headers.add(name, value)
        return response

    def static_file(self, name: str) -> Response:
        if name not in self.static:
            raise NotFound()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = Response(self.static[name], mimetype=kind)
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    # -- the API's URLs ------------------------------------------------------------------

    def api_urls(self, request: Request) -> URLAdapter:
        """The registry's dispatcher, bound to where the API is mounted beside the UI."""
        environ = dict(request.environ)
        if "://" in self.api:
            parts = urlsplit(self.api)
            environ.update({"wsgi.url_scheme": parts.scheme, "HTTP_HOST": parts.netloc,
                            "SCRIPT_NAME": parts.path})
        else:
            environ["SCRIPT_NAME"] = request.script_root + self.api
        environ["PATH_INFO"] = "/"
        return self.registry.dispatcher.bind_to_environ(environ)


_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_EMPTY_LINK = re.compile(r'(<a href="#[^"<>]*"[^<>]*)></a>')
_SRC = re.compile(r'(?<![\w-])src="([^"]*)"', re.IGNORECASE)
_ALT = re.compile(r'(?<![\w-])alt="([^"]*)"', re.IGNORECASE)


def _query_suffix(request: Request) -> str:
    query = request.environ.get("QUERY_STRING", "")
    return f"?{query}" if query else ""
