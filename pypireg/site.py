"""The registry as ``pypireg serve`` and ``pypireg.wsgi`` serve it: one WSGI app with the
API below its prefix, the health checks at GitLab's paths and the web pages at the root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .app import mount, normal_prefix
from .health import health_checks
from .ui import create_ui

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from .app import Registry


def site(registry: Registry, *, api: str = "/api/v4", pages: bool = True,
         title: str = "pypireg") -> WSGIApplication:
    """``registry``'s API under ``api``; ``/-/health``, ``/-/liveness`` and
    ``/-/readiness``; and, unless ``pages`` is False or the API has the root, the web
    pages everywhere else. Mount it under any prefix: every link carries it."""
    prefix = normal_prefix(api)
    ui = create_ui(registry, api=prefix, title=title) if pages and prefix else None
    return mount(registry, prefix, beside=health_checks(registry, otherwise=ui))
