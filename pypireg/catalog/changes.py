"""What every process sharing a catalog learns of a change, cheaply: a generation in
``meta`` that every write transaction moves, read at most every :data:`CHECK_INTERVAL`
seconds. While it stands, the projects looked up by id or path are answered from memory,
so that a cached page costs no statement at all; a change made by any process or host is
seen by every other within that interval, and by its own process at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import Project

CHECK_INTERVAL = 0.05  # seconds between reads of the generation, in one process
MAX_KEPT = 4096  # project lookups kept (an unknown path is one too)
_UNKNOWN = object()


class Changes:
    """One catalog's view of the shared generation, and the lookups it keeps."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.interval = CHECK_INTERVAL
        self.enabled = False  # once the catalog's tables (and its generation row) exist
        self._lock = threading.Lock()
        self._generation: object = _UNKNOWN
        self._checked = float("-inf")
        self._projects: dict[str | int, Project | None] = {}
        self._writing = threading.local()

    @contextmanager
    def writing(self) -> Iterator[bool]:
        """Around a write transaction: yields whether it is the outermost one (which moves
        the generation); what is kept is forgotten once it ends, committed or not."""
        depth = getattr(self._writing, "depth", 0)
        self._writing.depth = depth + 1
        try:
            yield depth == 0
        finally:
            self._writing.depth = depth
            if depth == 0:
                self.forget()

    def forget(self) -> None:
        with self._lock:
            self._projects.clear()
            self._generation = _UNKNOWN

    def project(self, key: str | int, read: Callable[[], Project | None],
                generation: Callable[[], object]) -> Project | None:
        """The project ``read`` finds for ``key``, kept while the generation stands; never
        kept inside a write transaction, which may have changed it."""
        depth: int = getattr(self._writing, "depth", 0)
        if not self.enabled or depth:
            return read()
        now = self.clock()
        with self._lock:
            fresh = now - self._checked < self.interval and self._generation is not _UNKNOWN
            if fresh and key in self._projects:
                return self._projects[key]
        if not fresh:
            current = generation()
            with self._lock:
                if current != self._generation:
                    self._projects.clear()
                    self._generation = current
                self._checked = now
                if key in self._projects:
                    return self._projects[key]
                seen = self._generation
        else:
            seen = self._generation
        found = read()
        with self._lock:
            if self._generation == seen:  # nothing moved it meanwhile
                if len(self._projects) >= MAX_KEPT:
                    self._projects.clear()
                self._projects[key] = found
        return found
