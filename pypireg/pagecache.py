"""Rendered simple pages, kept until what they show changes.

A page's ETag already names its content exactly (the scope's change serials, the
caller's readable projects, the format, the URLs' base), so a body rendered once serves
every request with the same ETag. Nothing needs invalidating: a change moves a serial,
which makes a new ETag. Each process keeps its own cache, and processes sharing one
catalog agree because they compute the same ETags from it.

A cached upstream page's version moves when one of its thousands of files changes (a
learned metadata digest): :class:`PagePieces` keeps what each file rendered to, so that
the next version renders only that file.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

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
        self.pieces = PagePieces(max_bytes)

    @property
    def size(self) -> int:
        """Bytes of pages held, and of their pieces (:class:`PagePieces`)."""
        return self._size + self.pieces.size

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


# Bytes a kept piece costs beyond its text: the file's fields it was rendered from (about
# 800 bytes for a wheel's, when the process's decoded lists no longer hold the same ones)
# and its slots; and a page's beyond its pieces.
PIECE_OVERHEAD = 1000
LINEAGE_OVERHEAD = 1000
Pieces = tuple[tuple[Hashable, ...], tuple[str, ...]]  # each piece, and what it came from


class PagePieces:
    """The pieces (one per file: a link, or a JSON entry) each page was last rendered from,
    by the page's lineage (what stays when its version moves: the name, the upstream, the
    format, the URLs' base), each beside the value it was rendered from, in page order. A
    page's next version renders only the files that changed: a metadata digest learned of
    one wheel changes one entry of a page of thousands. Bounded like :class:`PageCache`,
    the least recently rendered lineage forgotten first, but a page may take half (a big
    page is the one that gains most)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Hashable, tuple[Pieces, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes the pieces held take, about."""
        return self._size

    def get(self, lineage: Hashable) -> Pieces:
        """The pieces of the lineage's last rendered version (none: empty); not to change."""
        with self._lock:
            found = self._pages.get(lineage)
            return found[0] if found else ((), ())

    def put(self, lineage: Hashable, pieces: Pieces) -> None:
        """Keep a lineage's pieces in place of its last ones: none, for a page that lists
        no file (nothing to render again), leaves the last ones as they are."""
        if not pieces[1]:
            return
        size = sum(map(len, pieces[1])) + PIECE_OVERHEAD * len(pieces[1]) + LINEAGE_OVERHEAD
        with self._lock:
            _, gone = self._pages.pop(lineage, (((), ()), 0))
            self._size -= gone
            if size > self.max_bytes // 2:
                return
            self._pages[lineage] = (pieces, size)
            self._size += size
            while self._size > self.max_bytes:
                _, (_, old) = self._pages.popitem(last=False)
                self._size -= old

    def __len__(self) -> int:
        return len(self._pages)
