"""Health checks for load balancers and schedulers, at GitLab's paths and in its shapes.

- ``GET /-/health``: the process answers (``pypireg OK``), nothing else is looked at;
- ``GET /-/liveness``: the same, as GitLab's JSON (``{"status": "ok"}``);
- ``GET /-/readiness``: the catalog and the storage are usable; else a 503 whose body names
  the check that failed and why.

:func:`health_checks` is a WSGI app of its own, so a host can put it wherever its load
balancer looks; :func:`pypireg.mount` can serve it beside the registry, as ``pypireg serve``
and ``pypireg.wsgi`` do.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from werkzeug.exceptions import NotFound

from .errors import error_response
from .protocols import ChecksReadiness

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .app import Registry

log = logging.getLogger("pypireg")

PATHS = ("/-/health", "/-/liveness", "/-/readiness")
PROBE_KEY = "health/probe"  # never stored: opening it shows that the storage answers
_HEADERS = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]


def health_checks(registry: Registry) -> WSGIApplication:
    """A WSGI app answering :data:`PATHS` (relative to where it is mounted) for
    ``registry``, and a JSON 404 anywhere else."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD") or path not in PATHS:
            return error_response(NotFound(), environ)(environ, start_response)
        if path == "/-/health":
            status, body, kind = "200 OK", b"pypireg OK\n", "text/plain; charset=utf-8"
        elif path == "/-/liveness":
            status, body, kind = "200 OK", _json({"status": "ok"}), "application/json"
        else:
            status, body, kind = _readiness(registry)
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body))),
                                *_HEADERS])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app


def _readiness(registry: Registry) -> tuple[str, bytes, str]:
    checks = {"catalog_check": _check(registry.catalog.check_ready),
              "storage_check": _check(lambda: _storage_ready(registry.storage))}
    ready = all(result["status"] == "ok" for result in checks.values())
    answer = {"status": "ok" if ready else "failed",
              "master_check": [{"status": "ok"}],
              **{name: [result] for name, result in checks.items()}}
    return ("200 OK" if ready else "503 SERVICE UNAVAILABLE"), _json(answer), "application/json"


def _check(run: Callable[[], None]) -> dict[str, str]:
    try:
        run()
    except Exception as exc:  # whatever it is, the answer is "not ready, because ..."
        log.warning("readiness check failed: %s", exc)
        return {"status": "failed", "message": f"{type(exc).__name__}: {exc}"[:500]}
    return {"status": "ok"}


def _storage_ready(storage: object) -> None:
    if isinstance(storage, ChecksReadiness):
        storage.check_ready()
        return
    with contextlib.suppress(KeyError):  # the storage answered: there is no such key
        storage.open(PROBE_KEY).close()  # type: ignore[attr-defined]


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
