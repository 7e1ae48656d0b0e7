"""Which upstream page serves a name, fetched or revalidated when older than the TTL.

The upstreams are asked in priority order and the first that has the name serves it;
later ones are asked only when an earlier one said it has no such name. An upstream that
fails keeps serving what it last gave (stale, and said so); one that fails for a name it
was never asked about is an error (502 or 504), never a reason to ask the next one, which
might hold a different project of the same name.
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime, timezone
from typing import NamedTuple

from werkzeug.exceptions import HTTPException

from ..catalog import Catalog, redacted
from ..models import UpstreamPage
from ..times import parse_time
from .client import UpstreamClient, UpstreamUnreachable
from .parse import NotAPage, parse_page
from .settings import UpstreamSettings


class Found(NamedTuple):
    """The page that serves a name, and why it may be out of date ("" when fresh)."""
    page: UpstreamPage
    stale: str


class UpstreamPages:
    def __init__(self, settings: UpstreamSettings, catalog: Catalog,
                 client: UpstreamClient) -> None:
        self.settings = settings
        self.catalog = catalog
        self.client = client
        # One fetch of a page at a time in this process; others wait for its answer.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], threading.Lock] = (
            weakref.WeakValueDictionary())
        self._guard = threading.Lock()

    def find(self, normalized_name: str) -> Found | None:
        """The page of the first upstream that has the name, or None when none has it.
        Raises the upstream's 502 or 504 when one that comes first cannot say."""
        for upstream in self.settings.urls:
            found = self._page(upstream, normalized_name)
            if found is not None and found.page.found:
                return found
        return None

    def _page(self, upstream: str, name: str) -> Found | None:
        page = self.catalog.upstream_page(upstream, name)
        if page is not None and self._fresh(page):
            return Found(page, "")
        with self._lock(upstream, name):
            again = self.catalog.upstream_page(upstream, name)
            if again is not None and (page is None or again.checked_at != page.checked_at):
                return Found(again, "")  # fetched meanwhile by another request
            return self._fetch(upstream, name, again)

    def _fetch(self, upstream: str, name: str, page: UpstreamPage | None) -> Found | None:
        try:
            answer = self.client.page(upstream, name, page.etag if page else "",
                                      page.last_modified if page else "")
            if answer.status == 304 and page is not None:
                self.catalog.touch_upstream_page(page.id)
                return Found(page, "")
            if answer.status in (304, 404):
                return Found(self.catalog.save_upstream_page(upstream, name, found=False), "")
            try:
                title, files, status = parse_page(answer.body, answer.content_type, answer.url)
            except NotAPage as exc:
                raise UpstreamUnreachable(
                    f"upstream {redacted(upstream)} sent no usable page for {name!r}: {exc}"
                ) from None
        except HTTPException as exc:
            if page is None:
                raise
            return Found(page, f"upstream {redacted(upstream)} failed ({exc.description});"
                               f" serving what it gave at {page.checked_at}")
        return Found(self.catalog.save_upstream_page(
            upstream, name, found=True, name=title or name, files=files, status=status,
            etag=answer.etag, last_modified=answer.last_modified), "")

    def _fresh(self, page: UpstreamPage) -> bool:
        age = datetime.now(timezone.utc) - parse_time(page.checked_at)
        return age < self.settings.ttl

    def _lock(self, upstream: str, name: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get((upstream, name))
            if lock is None:
                lock = self._locks[(upstream, name)] = threading.Lock()
            return lock
