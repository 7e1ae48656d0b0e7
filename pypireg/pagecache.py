"""Rendered simple pages, kept until what they show changes.

A page's ETag already names its content exactly (the scope's change serials, the
caller's readable projects, the format, the URLs' base), so a body rendered once serves
every request with the same ETag. Nothing needs invalidating: a change moves a serial,
which makes a new ETag. Each process keeps its own cache, and processes sharing one
catalog agree because they compute the same ETags from it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .defaults import PAGE_CACHE_SIZE

DEFAULT_PAGE_CACHE_SIZE = PAGE_CACHE_SIZE  # bytes of rendered pages per process


class PageCache:
    """A bounded least-recently-used map from ETag to rendered body, safe across threads."""

    def __init__(self, max_bytes: int = DEFAULT_PAGE_CACHE_SIZE) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0  # for the metrics

    @property
    def size(self) -> int:
        """Bytes of pages held."""
        return self._size

    def get(self, etag: str) -> bytes | None:
        with self._lock:
            body = self._bodies.get(etag)
            if body is not None:
                self._bodies.move_to_end(etag)
                self.hits += 1
            else:
                self.misses += 1
            return body

    def put(self, etag: str, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:
            return  # one huge index must not push out every other page
        with self._lock:
            if etag in self._bodies:
                return
            self._bodies[etag] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, old = self._bodies.popitem(last=False)
                self._size -= len(old)

    def __len__(self) -> int:
        return len(self._bodies)
