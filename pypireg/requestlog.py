"""Request ids and structured logs (docs/monitoring.md).

Every request through :func:`pypireg.site` has an id: the client's ``X-Request-Id`` when
it sends a usable one (up to 64 letters, digits and ``._:-``), else a new one; the
response carries it back, and every log line of the request names it.

With ``log_format="json"`` (``--log-format json``, ``PYPIREG_LOG_FORMAT``), the request
log is one JSON object per request (:class:`JsonAccessLog`), and the registry's own log
lines (warnings, errors, and an event per change the audit log records: uploads,
deletes, yanks, tokens) are JSON objects too (:class:`JsonFormatter`). No line ever holds
a secret: a caller is named by its token's id and kind.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REQUEST_ID = "pypireg.request_id"  # where a request keeps its id
ENDPOINT = "pypireg.endpoint"  # where the registry notes the endpoint it routed to
PRINCIPAL = "pypireg.principal"  # who the request signed in as (access.PRINCIPAL)
_USABLE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# The id of the request this thread serves, for the log lines written while it does.
CURRENT: ContextVar[str | None] = ContextVar("pypireg_request_id", default=None)
LOG_FORMATS = ("text", "json")


# A made id: this process's random prefix and a count, unique without a random draw each.
_PREFIX = uuid.uuid4().hex[:16]
_COUNT = itertools.count(1)


def request_id(environ: WSGIEnvironment) -> str:
    """The request's id, made (or taken from the client) on first use."""
    found = environ.get(REQUEST_ID)
    if found is None:
        sent = environ.get("HTTP_X_REQUEST_ID", "")
        found = environ[REQUEST_ID] = (sent if sent and _USABLE.fullmatch(sent)
                                       else f"{_PREFIX}{next(_COUNT):016x}")
    return str(found)


class JsonAccessLog:
    """One JSON object per request, on ``stream`` (stderr), written when the response
    starts: time (UTC), request_id, method, endpoint (the route's name, or null), path,
    status, bytes (its Content-Length, or null), seconds (until the response started),
    remote_addr, and the caller's token_id and token_kind (null when anonymous)."""

    def __init__(self, app: WSGIApplication, stream: IO[str] | None = None) -> None:
        self.app = app
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        began = time.perf_counter()

        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: OptExcInfo | None = None) -> Callable[[bytes], object]:
            write = start_response(status, headers, exc_info)
            size = next((v for k, v in headers if k.lower() == "content-length"), None)
            self._log(environ, int(status[:3]), int(size) if size else None, began)
            return write

        try:
            return self.app(environ, start)
        except Exception:
            self._log(environ, 500, None, began)
            raise

    def _log(self, environ: WSGIEnvironment, status: int, size: int | None,
             began: float) -> None:
        principal = environ.get(PRINCIPAL)
        line = json.dumps({
            "time": _now(), "request_id": request_id(environ),
            "method": environ.get("REQUEST_METHOD"), "endpoint": environ.get(ENDPOINT),
            "path": _path(environ),
            "status": status, "bytes": size,
            "seconds": round(time.perf_counter() - began, 6),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "token_id": getattr(principal, "id", None) or None,
            "token_kind": getattr(principal, "kind", None)}, ensure_ascii=False)
        with self._lock:
            (self.stream or sys.stderr).write(line + "\n")


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message, the event and its
    fields when it is one (``extra={"event": {...}}``), and the traceback of an error."""

    def format(self, record: logging.LogRecord) -> str:
        found: dict[str, Any] = {"time": _now(record.created), "level": record.levelname.lower(),
                                 "logger": record.name, "message": record.getMessage()}
        if CURRENT.get() is not None:
            found["request_id"] = CURRENT.get()
        event = getattr(record, "event", None)
        if isinstance(event, dict):
            found.update(event)
        if record.exc_info:
            found["error"] = self.formatException(record.exc_info)
        return json.dumps(found, ensure_ascii=False, default=str)


def configure(log_format: str, stream: IO[str] | None = None) -> None:
    """The registry's log lines (logger ``pypireg``) on ``stream`` (stderr): bare messages,
    warnings and up; or, for ``json``, JSON objects, events included."""
    handler = logging.StreamHandler(stream or sys.stderr)
    logger = logging.getLogger("pypireg")
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
        logger.setLevel(logging.INFO)
    else:
        handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers = [handler]
    logger.propagate = False


def _path(environ: WSGIEnvironment) -> str:
    """The path as the client sent it (``acme%2Ftools`` stays so), without its query."""
    sent = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if sent:
        return str(sent).split("?", 1)[0]
    return quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))


def _now(when: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if when is None else when, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
