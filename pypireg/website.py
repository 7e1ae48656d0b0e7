"""The registry as ``pypireg serve`` and ``pypireg.wsgi`` serve it: one WSGI app with the
API below its prefix, the health checks at GitLab's paths, trusted publishing's token
exchange at PyPI's and the web pages at the root; and :func:`mount`, which puts an app
under a prefix with another beside it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import NotFound

from . import metrics
from .errors import error_response
from .exchange import token_exchange
from .health import health_checks
from .requestlog import CURRENT, ENDPOINT, request_id
from .tracing import traced, tracer
from .ui import create_ui
from .views.root import SITE

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .app import Registry


def site(registry: Registry, *, api: str = "/api/v4", pages: bool = True,
         title: str = "pypireg") -> Site:
    """``registry``'s API under ``api``; ``/-/health``, ``/-/liveness``, ``/-/readiness``
    and ``/-/metrics``; trusted publishing's ``/_/oidc/`` routes; and, unless ``pages`` is
    False or the API has the root, the web pages everywhere else. Mount it under any
    prefix: every link carries it (but clients look for ``/_/oidc/`` at the host's root
    alone: docs/trusted-publishing.md). Every answer carries its request's id in
    ``X-Request-Id``."""
    prefix = normal_prefix(api)
    ui = create_ui(registry, api=prefix, title=title) if pages and prefix else None
    beside = health_checks(registry, otherwise=token_exchange(registry, otherwise=ui))
    served = mount(registry, prefix, beside=beside)
    return Site(registry, served, pages=ui is not None)


TRACER_LOOK = 1.0  # seconds between looks for a tracer provider while there is none


class Site:
    """The site as a WSGI app. Around each request it tells the API's root what is served
    around it (:mod:`pypireg.views.root` links the pages and the health checks), gives
    the request its id and sends it back in ``X-Request-Id`` (:mod:`pypireg.requestlog`),
    counts and times the answer by its endpoint (:mod:`pypireg.metrics`), and makes it a
    span of a trace when the process has a tracer provider (:mod:`pypireg.tracing`). All
    in this one layer, each part of it as cheap as it can be: bench/metrics_cost.py."""

    def __init__(self, registry: Registry, app: WSGIApplication, *, pages: bool) -> None:
        self.registry = registry
        self.app = app
        self.pages = pages
        # A tracer provider, once set, is the process's for good; while there is none,
        # looking again on every request would cost more than all the rest here.
        self._tracer: Any = None
        self._next_look = 0.0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        began = time.perf_counter()
        # Only where the site is mounted and whether it has pages: the root's URL is built
        # by the one view that needs it, not on every request.
        environ[SITE] = (environ.get("SCRIPT_NAME", ""), self.pages)
        rid = request_id(environ)
        if self.registry.log_format == "json":  # only JSON log lines name their request
            CURRENT.set(rid)
        answered = self.registry.metrics.answered

        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: OptExcInfo | None = None) -> Callable[[bytes], object]:
            if environ.get("PATH_INFO") != metrics.PATH:  # a scrape counts no request
                answered(environ.get(ENDPOINT) or "unmatched", environ.get("REQUEST_METHOD", ""),
                         int(status[:3]), time.perf_counter() - began)
            return start_response(status, [*headers, ("X-Request-Id", rid)], exc_info)

        found = self._tracer
        if found is None and began >= self._next_look:
            found = self._tracer = tracer()
            self._next_look = began + TRACER_LOOK
        if found is None:
            return self.app(environ, start)
        return traced(found, self.app, environ, start)


OUTSIDE = ("/-/", "/_/")  # paths no layout has, for what is beside an API at the root


def mount(app: WSGIApplication, prefix: str, *,
          beside: WSGIApplication | None = None) -> WSGIApplication:
    """``app`` under ``prefix`` (its SCRIPT_NAME), as ``serve`` runs it.

    ``beside`` answers every path outside the prefix (by default a JSON 404), e.g.
    :func:`pypireg.health.health_checks`. With no prefix, ``app`` has the root and
    ``beside`` the paths under ``/-/`` (GitLab's own) and ``/_/`` (PyPI's), which no
    layout uses.
    """
    prefix = normal_prefix(prefix)
    if prefix:
        return _Under(prefix, app, beside or _not_found)
    if beside is None:
        return app

    def at_root(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        outside = environ.get("PATH_INFO", "").startswith(OUTSIDE)
        return (beside if outside else app)(environ, start_response)

    return at_root


class _Under:
    """``app`` at ``prefix``, which moves from PATH_INFO to SCRIPT_NAME as werkzeug's
    DispatcherMiddleware moves it (a path segment at a time: ``/api/v4x`` is not under
    ``/api/v4``), and ``beside`` for every other path; one comparison instead of a
    lookup per segment of the path, on every request."""

    def __init__(self, prefix: str, app: WSGIApplication, beside: WSGIApplication) -> None:
        self.prefix, self.app, self.beside = prefix, app, beside
        self._under = prefix + "/"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(self._under) or path == self.prefix:
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            environ["PATH_INFO"] = path[len(self.prefix):]
            return self.app(environ, start_response)
        return self.beside(environ, start_response)


def normal_prefix(prefix: str) -> str:
    """``api/v4/`` -> ``/api/v4``; ``/`` or empty -> ``""`` (the root)."""
    return "/" + prefix.strip("/") if prefix.strip("/") else ""


def _not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return error_response(NotFound(), environ)(environ, start_response)
