"""Prometheus metrics (docs/monitoring.md): ``GET /-/metrics`` beside the API.

Each registry has its own collectors (prometheus_client's ``CollectorRegistry``, never the
library's global one). Under several worker processes, prometheus_client's multiprocess
mode adds every worker's counts up: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
before the workers start, as that library documents. Label values are bounded: endpoint
names (the routes' and the web pages'), methods, status classes, scope kinds and refusal
reasons; never a path, a project or a package name.

Who may read them: an address in ``metrics_allow`` (by default loopback only), or a
caller sending ``Authorization: Bearer <metrics_token>``; anyone else gets a 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .tracing import span

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .app import Registry

PATH = "/-/metrics"
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_AGE = 60.0  # seconds the registry's size is reused between scrapes
REFUSALS = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            409: "conflict", 413: "too_large", 422: "invalid", 503: "unavailable",
            507: "storage_full"}


class Metrics:
    """One registry's counters, and what a scrape reads of its state."""

    def __init__(self, registry: Registry) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry
        self.collectors = CollectorRegistry(auto_describe=True)
        into = self.collectors
        self.requests = Counter("pypireg_http_requests", "Requests answered, by endpoint",
                                ["endpoint", "method", "status"], registry=into)
        self.durations = Histogram(
            "pypireg_http_request_duration_seconds", "Seconds until an answer started",
            ["endpoint"], buckets=BUCKETS, registry=into)
        self.downloads = Counter("pypireg_downloads", "Files downloaded", ["scope"], registry=into)
        self.download_bytes = Counter("pypireg_download_bytes", "Bytes of files downloaded",
                                      ["scope"], registry=into)
        self.uploads = Counter("pypireg_uploads", "Files uploaded", ["scope"], registry=into)
        self.upload_bytes = Counter("pypireg_upload_bytes", "Bytes of files uploaded",
                                    ["scope"], registry=into)
        self.refused = Counter("pypireg_uploads_refused", "Uploads refused, by reason",
                               ["reason"], registry=into)
        self.upstream_requests = Counter(
            "pypireg_upstream_requests", "Pages and files asked of the cache of upstream"
            " indexes, by result (hit, fetched, not_modified, error)", ["kind", "result"],
            registry=into)
        self.fetch_seconds = Histogram(
            "pypireg_upstream_fetch_seconds", "Seconds of each fetch from an upstream",
            ["kind"], buckets=BUCKETS, registry=into)
        self.storage_operations = Counter(
            "pypireg_storage_operations", "Operations of the storage, by backend",
            ["backend", "operation"], registry=into)
        self.storage_errors = Counter(
            "pypireg_storage_errors", "Operations of the storage that raised, by backend",
            ["backend", "operation"], registry=into)
        self.storage_seconds = Histogram(
            "pypireg_storage_seconds", "Seconds of each operation of the storage",
            ["backend", "operation"], buckets=BUCKETS, registry=into)
        self.state = State(registry)
        self.collectors.register(self.state)
        # Labelled children, each found once rather than on every request.
        self._answers: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._operations: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._downloads: dict[str, tuple[Any, Any]] = {}

    def answered(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method if method in METHODS else "other", status // 100)
        children = self._answers.get(key)
        if children is None:
            children = self._answers[key] = (
                self.requests.labels(key[0], key[1], f"{key[2]}xx"),
                self.durations.labels(endpoint))
        children[0].inc()
        children[1].observe(seconds)

    def upstream(self, kind: str, result: str, seconds: float | None) -> None:
        self.upstream_requests.labels(kind, result).inc()
        if seconds is not None:
            self.fetch_seconds.labels(kind).observe(seconds)

    def storage(self, backend: str, operation: str, seconds: float, failed: bool) -> None:
        children = self._operations.get((backend, operation))
        if children is None:
            children = self._operations[(backend, operation)] = (
                self.storage_operations.labels(backend, operation),
                self.storage_seconds.labels(backend, operation))
        children[0].inc()
        children[1].observe(seconds)
        if failed:
            self.storage_errors.labels(backend, operation).inc()

    def downloaded(self, scope: str, size: int) -> None:
        children = self._downloads.get(scope)
        if children is None:
            children = self._downloads[scope] = (self.downloads.labels(scope),
                                                 self.download_bytes.labels(scope))
        children[0].inc()
        children[1].inc(size)

    def upload_refused(self, status: int) -> None:
        self.refused.labels(REFUSALS.get(status, "other")).inc()

    def scrape(self) -> bytes:
        """The text format; every worker's counts added up in multiprocess mode."""
        from prometheus_client import CollectorRegistry, generate_latest

        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.collectors)
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        merged.register(self.state)
        return generate_latest(merged)

    def allowed(self, environ: WSGIEnvironment) -> bool:
        """Whether this caller may read the metrics."""
        token = self.registry.metrics_token
        sent = environ.get("HTTP_AUTHORIZATION", "")
        if token and sent.startswith("Bearer ") and hmac.compare_digest(
                sent[7:].strip().encode(), token.encode()):
            return True
        try:
            address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in self.registry.metrics_networks)


class State:
    """What a scrape reads of the registry now: its page cache, and its size (reused for
    :data:`SIZE_AGE` seconds, so scrapes never count the catalog each time)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._size: tuple[float, dict[str, int]] = (0.0, {})
        self._lock = threading.Lock()

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        pages = self.registry.pages
        yield CounterMetricFamily("pypireg_page_cache_hits", "Pages answered from the cache",
                                  value=pages.hits)
        yield CounterMetricFamily("pypireg_page_cache_misses", "Pages rendered anew",
                                  value=pages.misses)
        yield GaugeMetricFamily("pypireg_page_cache_bytes", "Bytes of pages and pieces held",
                                value=pages.size)
        for name, value in self.size().items():
            yield GaugeMetricFamily(f"pypireg_{name}", f"Live {name.replace('_', ' ')}",
                                    value=value)

    def size(self) -> dict[str, int]:
        with self._lock:
            taken, found = self._size
            if time.monotonic() - taken >= SIZE_AGE or not found:
                found = self.registry.catalog.registry_size()
                self._size = (time.monotonic(), found)
            return found


def networks(allow: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The addresses or CIDR blocks ``metrics_allow`` lists; ValueError for a bad one."""
    found = []
    for text in allow:
        try:
            found.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"metrics_allow {text!r} is not an address or a CIDR block"
                             " (127.0.0.1, 10.0.0.0/8, ::1)") from None
    return tuple(found)


MEASURED = ("put_file", "put_stream", "open", "delete", "exists", "keys", "download_response")


class MeasuredStorage:
    """A storage whose operations are counted and timed, by backend and operation; every
    other attribute, and every optional method the protocols look for, is the storage's
    own (``isinstance(measured, ListsKeys)`` says what it says of the storage, and
    ``isinstance(measured, FileSystemStorage)`` too). ``storage`` is the storage itself."""

    def __init__(self, storage: Any, metrics: Callable[[], Metrics]) -> None:
        self.storage = storage
        self._metrics = metrics
        self._backend = type(storage).__name__

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # what isinstance() asks: the storage's own class
        return type(self.storage)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.storage, name)
        if name not in MEASURED or not callable(found):
            return found

        title, backend = f"storage.{name}", self._backend

        def measured(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            failed = True
            try:
                with span(title, **{"pypireg.storage": backend}):
                    # The storage's method as it is now, should it have been replaced.
                    result = getattr(self.storage, name)(*args, **kwargs)
                failed = False
                return result
            finally:
                self._metrics().storage(backend, name, time.perf_counter() - began, failed)

        self.__dict__[name] = measured  # made once: found without __getattr__ from now on
        return measured

    def __repr__(self) -> str:
        return repr(self.storage)
