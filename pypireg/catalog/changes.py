"""What every process sharing a catalog learns of a change, cheaply.

Triggers on the tables of :data:`.tables.WATCHED` (projects, groups, and those that say
which names may not come from upstream) give the catalog's generation, a row of ``meta``,
a new random value with every change to them, whoever makes it: this pypireg in any
process or on any host, an older one during a rolling upgrade, SQL run by hand. Each
process reads the generation at most every :data:`CHECK_INTERVAL` seconds, and while it
stands answers what it has already read of them from memory, so that a cached page costs
no statement at all. A change is seen by every other process within that interval, and at
once by the process that made it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

log = logging.getLogger("pypireg")

CHECK_INTERVAL = 0.05  # seconds between reads of the generation, in one process
MAX_KEPT = 4096  # lookups kept in each room, the least recently used forgotten first
T = TypeVar("T")


class Changes:
    """One process's view of a catalog's generation, and the lookups it keeps meanwhile."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.interval = CHECK_INTERVAL
        self._lock = threading.Lock()
        self._generation: str | None = None  # None: not read yet, or the catalog has none
        self._checked = float("-inf")  # when it was read
        self._epoch = 0  # moved as each write of this process ends: a look begun before
        # then keeps nothing, though the generation it read may be older than the write
        # What is kept, in rooms of MAX_KEPT each: lookups of any name a request makes
        # up go in a room of their own, so that they cannot push out the projects.
        self._rooms: dict[str, OrderedDict[Hashable, object]] = {}
        self._writing = threading.local()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around a write transaction: nothing is kept inside one (it may read what it has
        not committed), and the generation is read again once it ends, committed or not
        (if the write changed a project or group, a trigger has moved it). What was left
        for its commit (:meth:`after_commit`) runs once it has committed."""
        depth = getattr(self._writing, "depth", 0)
        if depth == 0:
            self._writing.committed = []
        self._writing.depth = depth + 1
        committed = False
        try:
            yield
            committed = True
        finally:
            self._writing.depth = depth
            if depth == 0:
                self.look_again()
                left, self._writing.committed = self._writing.committed, []
                for callback in left if committed else ():
                    try:
                        callback()
                    except Exception:  # the write stands: a caller must not think it failed
                        log.exception("after a catalog write committed")

    def inside_write(self) -> bool:
        """Whether this thread is inside a write transaction (not committed yet)."""
        return bool(getattr(self._writing, "depth", 0))

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once this thread's write transaction has committed (never, if
        it fails), or now outside one: for what this process keeps in memory of what the
        write made, which a write rolled back did not make. A callback that raises is
        logged, after a commit that stands."""
        if self.inside_write():
            self._writing.committed.append(callback)
        else:
            callback()

    def look_again(self) -> None:
        """Read the generation before anything kept is answered again; a look begun
        before this keeps nothing."""
        with self._lock:
            self._checked = float("-inf")
            self._epoch += 1

    def kept(self, key: Hashable, read: Callable[[], T | None],
             generation: Callable[[], str | None], room: str = "found") -> T | None:
        """What ``read`` answers for ``key``, kept in ``room`` while the generation stands.
        In the room ``found`` only what was found is kept: a miss is read again every time,
        so no request can make a thing that exists look missing, nor push out what is kept
        with names that do not exist. An answer about any name (which a request may make
        up) goes in another room."""
        if self.inside_write():
            return read()
        now = self.clock()
        with self._lock:
            epoch, seen = self._epoch, self._generation
            fresh = now - self._checked < self.interval
            kept = self._rooms.get(room)
            if fresh and seen is not None and kept and key in kept:
                return _hit(kept, key)
        if not fresh:
            seen = generation()  # read before the value, so what is kept is never older
            with self._lock:
                if self._epoch == epoch:  # no write of this process's ended meanwhile
                    if seen != self._generation:
                        self._rooms.clear()
                        self._generation = seen
                    self._checked = now
                    kept = self._rooms.get(room)
                    if seen is not None and kept and key in kept:
                        return _hit(kept, key)
        found = read()
        if found is None or seen is None:
            return found
        with self._lock:
            if self._epoch == epoch and self._generation == seen:
                kept = self._rooms.setdefault(room, OrderedDict())
                kept[key] = found
                if len(kept) > MAX_KEPT:
                    kept.popitem(last=False)
        return found


def _hit(kept: OrderedDict[Hashable, object], key: Hashable) -> Any:
    """What is kept for ``key``, now the most recently used (under the lock)."""
    kept.move_to_end(key)
    return kept[key]
