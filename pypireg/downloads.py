"""``last_downloaded_at`` and the download statistics, without a database write per
download.

Downloads are noted in memory (the package's last download, and one more for the file on
today's date, UTC) and written in one transaction at most once per ``interval`` seconds,
whenever a reader of the values asks for a flush, and when the process stops; a write
that fails is tried again at the next flush (:mod:`pypireg.bookkeeping`), its counts
added to those noted since.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from .bookkeeping import BestEffort
from .catalog import utcnow
from .catalog.downloads import FileDay

if TYPE_CHECKING:
    from .catalog import Catalog
    from .models import CachedFile, PackageFile


class DownloadTracker:
    def __init__(
        self, catalog: Catalog, interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self.interval = interval
        self._clock = clock
        self._pending: dict[int, str] = {}
        self._counts: Counter[FileDay] = Counter()
        self._lock = threading.Lock()
        self._flushed_at = clock()
        self._writes = BestEffort("download times")

    def record(self, package_file: PackageFile) -> None:
        now = utcnow()
        with self._lock:
            self._pending[package_file.package_id] = now
            self._counts[FileDay(package_file.project_id, package_file.package_id,
                                 package_file.id, now[:10])] += 1
            due = self._clock() - self._flushed_at >= self.interval
        if due:
            self.flush()

    def record_upstream(self, cached: CachedFile) -> None:
        """A download of a file of the cache of upstream indexes (docs/proxy.md)."""
        with self._lock:
            self._counts[FileDay(None, None, None, utcnow()[:10], cached.id)] += 1
            due = self._clock() - self._flushed_at >= self.interval
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what is pending; cheap when nothing is. A write that fails keeps the batch
        for the next flush (newer download times win; counts add up) and never fails the
        caller."""
        with self._lock:
            batch, self._pending = self._pending, {}
            counts, self._counts = self._counts, Counter()
            self._flushed_at = self._clock()
        if (batch or counts) and not self._writes.run(
                lambda: self.catalog.record_downloads(batch, counts)):
            with self._lock:
                self._pending = {**batch, **self._pending}
                self._counts.update(counts)
