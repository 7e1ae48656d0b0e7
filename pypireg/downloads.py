"""``last_downloaded_at`` without a database write per download.

Downloads are noted in memory and written in one transaction at most once per
``interval`` seconds, and whenever a reader of the value asks for a flush.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

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

    def record(self, package_id: int) -> None:
        with self._lock:
            self._pending[package_id] = utcnow()
            due = self._clock() - self._flushed_at >= self.interval
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what is pending; cheap when nothing is."""
        with self._lock:
            batch, self._pending = self._pending, {}
            self._flushed_at = self._clock()
        if batch:
            self.catalog.record_downloads(batch)
