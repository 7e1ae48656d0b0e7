"""OpenTelemetry tracing, optional (``pip install pypireg[otel]``; docs/monitoring.md).

With opentelemetry's API installed, every request through :func:`pypireg.site` is a span
named by its method and endpoint (``GET pypi.simple_package``, its ``http.route`` the
endpoint's name), and the catalog's statements, the storage's operations and the fetches
from upstream indexes are spans within it. They go wherever the host's tracer provider
sends them (``opentelemetry-instrument``, or a provider it sets up); without one, no span
is made (the API would drop them, at a cost per request), and without the API nothing here
runs at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from .requestlog import ENDPOINT

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


@functools.cache
def _api() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def tracer() -> Any:
    """pypireg's tracer while the process has a tracer provider; else None (spans would
    go nowhere, and even dropping them costs)."""
    trace = _api()
    if trace is None or isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None
    return trace.get_tracer("pypireg")


_NO_SPAN: AbstractContextManager[None] = nullcontext()


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A span within the current request's, when that one is recorded; else a context
    that does nothing (and costs next to nothing)."""
    trace = _api()
    if trace is None or not trace.get_current_span().is_recording():
        return _NO_SPAN
    return trace.get_tracer("pypireg").start_as_current_span(  # type: ignore[no-any-return]
        name, attributes=attributes)


def traced(found: Any, app: WSGIApplication, environ: WSGIEnvironment,
           start_response: StartResponse) -> Iterable[bytes]:
    """``app``'s answer to the request within a server span of tracer ``found``, named
    once the endpoint is known (by the time the answer starts)."""
    from opentelemetry.trace import SpanKind

    method = environ.get("REQUEST_METHOD", "")
    with found.start_as_current_span(method, kind=SpanKind.SERVER, attributes={
            "http.request.method": method,
            "url.path": environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    }) as current:
        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: OptExcInfo | None = None) -> Callable[[bytes], object]:
            endpoint = environ.get(ENDPOINT) or "unmatched"
            current.update_name(f"{method} {endpoint}")
            current.set_attribute("http.route", endpoint)
            current.set_attribute("http.response.status_code", int(status[:3]))
            return start_response(status, headers, exc_info)

        return app(environ, start)
