"""Health checks for load balancers and schedulers, at GitLab's paths and in its shapes.

- ``GET /-/health``: the process answers (``pypireg OK``), nothing else is looked at;
- ``GET /-/liveness``: the same, as GitLab's JSON (``{"status": "ok"}``);
- ``GET /-/metrics``: Prometheus' text format, for the addresses and the token the
  registry allows (:mod:`pypireg.metrics`), a 404 for anyone else;
- ``GET /-/readiness``: the catalog and the storage are usable; else a 503 whose body names
  the check that failed and the kind of error (the details go to the log). A catalog that
  answers but cannot be written now (a full disk, a read-only mount) is still ready, for
  reads: its check says ``"read_only": true`` and why; so does the storage's, for a
  storage that is full or read-only.

:func:`health_checks` is a WSGI app of its own, so a host can put it wherever its load
balancer looks; :func:`pypireg.mount` can serve it beside the registry, as ``pypireg serve``
and ``pypireg.wsgi`` do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from concurrent.futures import Future
from typing import TYPE_CHECKING

from werkzeug.exceptions import NotFound

from .errors import NOSNIFF, error_response
from .protocols import ChecksReadiness

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .app import Registry
    from .catalog import Catalog

log = logging.getLogger("pypireg")

PATHS = ("/-/health", "/-/liveness", "/-/readiness", "/-/metrics")
DEADLINE = 2.0  # seconds a readiness probe waits for its checks
REUSE = 1.0  # seconds one readiness result answers every probe
PROBE_KEY = "health/probe"  # never stored: opening it shows that the storage answers
_HEADERS = [("Cache-Control", "no-store"), NOSNIFF]
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text format


def health_checks(registry: Registry, *, deadline: float = DEADLINE,
                  reuse: float = REUSE, otherwise: WSGIApplication | None = None
                  ) -> WSGIApplication:
    """A WSGI app answering :data:`PATHS` (relative to where it is mounted) for
    ``registry``, and passing anything else to ``otherwise`` (by default a JSON 404). A
    readiness check that has not answered within ``deadline`` seconds counts as failed,
    and one result serves every probe for ``reuse`` seconds."""
    readiness = Readiness(registry, deadline=deadline, reuse=reuse)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in PATHS and otherwise is not None:
            return otherwise(environ, start_response)
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD") or path not in PATHS:
            return error_response(NotFound(), environ)(environ, start_response)
        if path == "/-/health":
            status, body, kind = "200 OK", b"pypireg OK\n", "text/plain; charset=utf-8"
        elif path == "/-/liveness":
            status, body, kind = "200 OK", _json({"status": "ok"}), "application/json"
        elif path == "/-/metrics":  # GitLab's answer to whoever may not read them: a 404
            if not registry.metrics.allowed(environ):
                return error_response(NotFound(), environ)(environ, start_response)
            status, body, kind = "200 OK", registry.metrics.scrape(), METRICS_TYPE
        else:
            status, body, kind = readiness.answer()
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body))),
                                *_HEADERS])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app


class Readiness:
    """The catalog's and the storage's checks, each run in a thread of its own so that a
    probe answers within the deadline whatever a check waits for (a PostgreSQL pool's
    30 s, an S3 endpoint that drops packets). A check still running is not started again,
    so a dead dependency holds one thread per check however often it is probed.

    A failed check tells the caller only what kind of error it met; the message, which
    may name hosts, users and paths, goes to the log.
    """

    def __init__(self, registry: Registry, *, deadline: float, reuse: float) -> None:
        self.checks: dict[str, Callable[[], dict[str, object] | None]] = {
            "catalog_check": lambda: _catalog_ready(registry.catalog),
            "storage_check": lambda: _storage_ready(registry.storage),
        }
        self.deadline = deadline
        self.reuse = reuse
        self._running: dict[str, Future[dict[str, object]]] = {}
        self._last: tuple[float, tuple[str, bytes, str]] | None = None
        self._lock = threading.Lock()

    def answer(self) -> tuple[str, bytes, str]:
        with self._lock:
            if self._last and time.monotonic() - self._last[0] < self.reuse:
                return self._last[1]
            for name, run in self.checks.items():
                if name not in self._running or self._running[name].done():
                    self._running[name] = _in_thread(name, run)
            running = dict(self._running)
        futures.wait(running.values(), timeout=self.deadline)
        results = {name: future.result() if future.done() else {
            "status": "failed", "message": f"no answer within {self.deadline:g} s"}
            for name, future in running.items()}
        ready = all(result["status"] == "ok" for result in results.values())
        body = {"status": "ok" if ready else "failed", "master_check": [{"status": "ok"}],
                **{name: [result] for name, result in results.items()}}
        answer = (("200 OK" if ready else "503 SERVICE UNAVAILABLE"), _json(body),
                  "application/json")
        with self._lock:
            self._last = (time.monotonic(), answer)
        return answer


def _in_thread(name: str, run: Callable[[], dict[str, object] | None]) -> Future[dict[str, object]]:
    """``run``'s result, from a daemon thread: a check that never returns cannot hold up
    the server's exit."""
    future: Future[dict[str, object]] = Future()
    threading.Thread(target=lambda: future.set_result(_check(name, run)), daemon=True,
                     name=f"pypireg-{name}").start()
    return future


def _check(name: str, run: Callable[[], dict[str, object] | None]
           ) -> dict[str, object]:
    try:
        found = run()
    except Exception as exc:  # whatever it is, the answer is "not ready"
        log.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
        return {"status": "failed",
                "message": f"{type(exc).__name__} (the server's log has the details)"}
    return {"status": "ok", **(found or {})}


def _catalog_ready(catalog: Catalog) -> dict[str, object] | None:
    catalog.check_ready()
    why = catalog.why_read_only()
    return None if why is None else {"read_only": True,
                                     "message": f"the registry is read-only: {why}"}


def _storage_ready(storage: object) -> dict[str, object] | None:
    if isinstance(storage, ChecksReadiness):
        why = storage.check_ready()
        return None if why is None else {"read_only": True, "message": why}
    with contextlib.suppress(KeyError):  # the storage answered: there is no such key
        storage.open(PROBE_KEY).close()  # type: ignore[attr-defined]
    return None


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
