"""Bookkeeping on the read path (a token's last use, packages' last download): best
effort. A write of it that fails (a full disk, a read-only catalog, a database restarting)
never fails the read that caused it; the failure is logged once, and again only after a
write has worked in between."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("pypireg")


class BestEffort:
    """Runs the writes of one kind of bookkeeping, named ``what`` in the log."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._failing = False
        self._lock = threading.Lock()

    def run(self, write: Callable[[], object]) -> bool:
        """Whether ``write`` worked; its failure is logged, not raised."""
        try:
            write()
        except Exception as exc:  # whatever the engine raises: the read goes on
            with self._lock:
                first, self._failing = not self._failing, True
            if first:
                log.warning("cannot record %s, so reads go on without it (logged once until"
                            " it works again): %s", self.what, exc)
            return False
        if self._failing:
            with self._lock:
                self._failing = False
            log.warning("recording %s works again", self.what)
        return True
