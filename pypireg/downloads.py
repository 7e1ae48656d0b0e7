"""``last_downloaded_at`` without a database write per download.

Downloads are noted in memory and written in one transaction at most once per
``interval`` seconds, and whenever a reader of the value asks for a flush; a write that
fails is tried again at the next flush (:mod:`pypireg.bookkeeping`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .bookkeeping import BestEffort
from .catalog import utcnow

if TYPE_CHECKING:
    from .catalog import Catalog


class DownloadTracker:
    def __init__(
        self, catalog: Catalog, interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self.interval = interval
        self._clock = clock
        self._pending: dict[int, str] = {}
        self._lock = threading.Lock()
        self._flushed_at = clock()
        self._writes = BestEffort("download times")

    def record(self, package_id: int) -> None:
        with self._lock:
            self._pending[package_id] = utcnow()
            due = self._clock() - self._flushed_at >= self.interval
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what is pending; cheap when nothing is. A write that fails keeps the batch
        for the next flush (newer downloads win) and never fails the caller."""
        with self._lock:
            batch, self._pending = self._pending, {}
            self._flushed_at = self._clock()
        if batch and not self._writes.run(lambda: self.catalog.record_downloads(batch)):
            with self._lock:
                self._pending = {**batch, **self._pending}
