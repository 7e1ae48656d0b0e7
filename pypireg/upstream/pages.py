"""Which upstream page serves a name, fetched or revalidated when older than the TTL.

The upstreams are asked in priority order and the first that has the name serves it;
later ones are asked only when an earlier one said it has no such name. An upstream that
fails keeps serving what it last gave (stale, and said so); one that fails for a name it
was never asked about is an error (502 or 504), never a reason to ask the next one, which
might hold a different project of the same name.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import NamedTuple

from werkzeug.exceptions import HTTPException

from ..catalog import Catalog
from ..models import UpstreamPage
from ..times import parse_time
from ..tracing import span
from .client import UpstreamClient, UpstreamUnreachable, bare
from .parse import NotAPage, parse_page
from .settings import UpstreamSettings

DOWN_FOR = 30.0  # seconds an upstream that failed is not asked again


class Found(NamedTuple):
    """The page that serves a name, and why it may be out of date ("" when fresh)."""
    page: UpstreamPage
    stale: str


Observe = Callable[[str, str, "float | None"], None]  # kind, result, seconds of a fetch


def ignore(kind: str, result: str, seconds: float | None) -> None:
    """What a cache observes when nobody counts."""


class UpstreamPages:
    """Each upstream's pages, as the catalog caches them. An upstream that could not be
    reached is remembered as down for ``DOWN_FOR`` seconds: meanwhile its cached pages are
    served stale at once and names it never served answer its error at once, rather than
    each request waiting out a timeout of its own."""

    def __init__(self, settings: UpstreamSettings, catalog: Catalog,
                 client: UpstreamClient, observe: Observe = ignore) -> None:
        self.settings = settings
        self.catalog = catalog
        self.client = client
        self.observe = observe  # each page asked for: "page", its result, fetch seconds
        # One fetch of a page at a time in this process; others wait for its answer.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], threading.Lock] = (
            weakref.WeakValueDictionary())
        self._guard = threading.Lock()
        self._down: dict[str, tuple[float, HTTPException]] = {}

    def find(self, normalized_name: str) -> Found | None:
        """The page of the first upstream that has the name, or None when none has it.
        Raises the upstream's 502 or 504 when one that comes first cannot say."""
        for upstream in self.settings.urls:
            found = self._page(bare(upstream), normalized_name)
            if found is not None and found.page.found:
                return found
        return None

    def _page(self, upstream: str, name: str) -> Found | None:
        page = self.catalog.upstream_page(upstream, name)
        if page is not None and self._fresh(page):
            self.observe("page", "hit", None)
            return Found(page, "")
        with self._lock(upstream, name):
            again = self.catalog.upstream_page(upstream, name)
            if again is not None and (page is None or again.checked_at != page.checked_at):
                return Found(again, "")  # fetched meanwhile by another request
            down = self._down_now(upstream)
            if down is not None:
                return self._stale(upstream, again, down)
            return self._fetch(upstream, name, again)

    def _fetch(self, upstream: str, name: str, page: UpstreamPage | None) -> Found | None:
        began = time.monotonic()
        try:
            with span("upstream.page", **{"pypireg.upstream": upstream}):
                answer = self.client.page(upstream, name, page.etag if page else "",
                                          page.last_modified if page else "")
        except HTTPException as exc:
            self.observe("page", "error", time.monotonic() - began)
            with self._guard:
                self._down[upstream] = (time.monotonic() + DOWN_FOR, exc)
            return self._stale(upstream, page, exc)
        self.observe("page", "not_modified" if answer.status == 304 else "fetched",
                     time.monotonic() - began)
        if answer.status == 304 and page is not None:
            self.catalog.touch_upstream_page(page.id)
            return Found(page, "")
        if answer.status in (304, 404):
            return Found(self.catalog.save_upstream_page(upstream, name, found=False), "")
        try:
            title, files, status = parse_page(answer.body, answer.content_type, answer.url,
                                              name)
        except NotAPage as exc:
            failed = UpstreamUnreachable(
                f"upstream {upstream} sent no usable page for {name!r}: {exc}")
            return self._stale(upstream, page, failed)
        return Found(self.catalog.save_upstream_page(
            upstream, name, found=True, name=title or name, files=files, status=status,
            etag=answer.etag, last_modified=answer.last_modified), "")

    def _stale(self, upstream: str, page: UpstreamPage | None, error: HTTPException
               ) -> Found:
        """What the upstream gave last, said to be stale; its error if it gave nothing."""
        if page is None:
            raise error
        return Found(page, f"upstream {upstream} failed ({error.description}); serving what"
                           f" it gave at {page.checked_at}")

    def _down_now(self, upstream: str) -> HTTPException | None:
        with self._guard:
            until, error = self._down.get(upstream, (0.0, None))
            return error if until > time.monotonic() else None

    def _fresh(self, page: UpstreamPage) -> bool:
        age = datetime.now(timezone.utc) - parse_time(page.checked_at)
        return age < self.settings.ttl

    def _lock(self, upstream: str, name: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get((upstream, name))
            if lock is None:
                lock = self._locks[(upstream, name)] = threading.Lock()
            return lock
