"""The registry as ``pypireg serve`` and ``pypireg.wsgi`` serve it: one WSGI app with the
API below its prefix, the health checks at GitLab's paths and the web pages at the root."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .app import mount, normal_prefix
from .health import health_checks
from .metrics import Observed
from .requestlog import RequestIds
from .tracing import Traced
from .ui import create_ui
from .views.root import SITE

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .app import Registry


def site(registry: Registry, *, api: str = "/api/v4", pages: bool = True,
         title: str = "pypireg") -> Site:
    """``registry``'s API under ``api``; ``/-/health``, ``/-/liveness`` and
    ``/-/readiness``; and, unless ``pages`` is False or the API has the root, the web
    pages everywhere else. Mount it under any prefix: every link carries it. Every
    answer carries its request's id in ``X-Request-Id``."""
    prefix = normal_prefix(api)
    ui = create_ui(registry, api=prefix, title=title) if pages and prefix else None
    # Each request has an id, sent back in X-Request-Id (pypireg/requestlog.py), is a span
    # of a trace when OpenTelemetry is there (pypireg/tracing.py), and is counted by its
    # endpoint (pypireg/metrics.py).
    served = mount(registry, prefix, beside=health_checks(registry, otherwise=ui))
    return Site(registry, RequestIds(Traced(Observed(served, lambda: registry.metrics))),
                pages=ui is not None)


class Site:
    """The site as a WSGI app, which tells the API's root what is served around it
    (:mod:`pypireg.views.root` links the pages and the health checks)."""

    def __init__(self, registry: Registry, app: WSGIApplication, *, pages: bool) -> None:
        self.registry = registry
        self.app = app
        self.pages = pages

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        # Only where the site is mounted and whether it has pages: the root's URL is built
        # by the one view that needs it, not on every request.
        environ[SITE] = (environ.get("SCRIPT_NAME", ""), self.pages)
        return self.app(environ, start_response)
