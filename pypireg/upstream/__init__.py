"""Upstream indexes (docs/proxy.md): names this registry does not hold, redirected to an
upstream or served from a cache of it.

- :mod:`.settings`: which upstreams, in what order, how.
- :mod:`.client`: HTTP to them (urllib3), and their failures as 502 and 504.
- :mod:`.parse`: their pages, JSON or HTML, read into what the cache keeps.
- :mod:`.pages`: which upstream serves a name; fetching, revalidating, stale-if-error.
- :mod:`.files`: files fetched once on first download, verified, then kept.
- :mod:`.ranges`: parts of files not kept yet, from the upstream's ranges.
- :mod:`.extract`: the metadata of wheels whose pages offer none, read from the wheels.

What a scope may take from upstream (never a name it holds, or that a status or a
protection rule of it names) is decided by the views, which know the scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..times import stamp
from .client import UpstreamClient, UpstreamTimeout, UpstreamUnreachable, bare
from .extract import WheelMetadata
from .files import UpstreamFiles
from .pages import Found, Observe, UpstreamPages, ignore
from .settings import MODES, UpstreamSettings, spelled, upstream_settings

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..limits import Limits
    from ..models import UpstreamFile
    from ..protocols import Storage

__all__ = ["MODES", "Found", "UpstreamSettings", "UpstreamTimeout", "UpstreamUnreachable",
           "Upstreams", "upstream_settings"]


class Upstreams:
    """A registry's upstreams: the settings, and in cache mode the cache's parts."""

    def __init__(self, settings: UpstreamSettings, catalog: Catalog, storage: Storage,
                 staging_dir: str, limits: Limits, observe: Observe = ignore) -> None:
        self.settings = settings
        self.order = tuple(bare(url) for url in settings.urls)  # as the catalog names them
        self.client = UpstreamClient(settings, limits.max_upstream_page_size)
        self.pages = UpstreamPages(settings, catalog, self.client, observe)
        self.metadata = WheelMetadata(catalog, storage, self.client, limits, staging_dir)
        self.files = UpstreamFiles(catalog, storage, self.client, staging_dir,
                                   limits.max_upload_size, settings.max_fetches, observe,
                                   kept=self.metadata.after_kept)

    @property
    def caching(self) -> bool:
        return self.settings.caching

    def redirect_url(self, normalized_name: str) -> str:
        """Where redirect mode sends a client: the first upstream's page of the name
        (without the upstream's credentials, which are the registry's)."""
        return f"{bare(self.settings.urls[0])}{normalized_name}/"

    def may_merge(self, normalized_name: str) -> bool:
        return self.caching and normalized_name in self.settings.merge

    def cutoff(self) -> str | None:
        """Files uploaded upstream after this (the catalog's form) are held back."""
        if self.settings.min_age is None:
            return None
        return stamp(datetime.now(timezone.utc) - self.settings.min_age)

    def old_enough(self, upload_time: str, cutoff: str | None) -> bool:
        """Whether a file uploaded then may be offered; without an upload time it may
        not be while a cooldown is set (as uv treats such a file). To the second: an
        upload time keeps the upstream's fraction of a second, of any length."""
        return cutoff is None or bool(upload_time) and upload_time[:19] <= cutoff[:19]

    def offered(self, files: Sequence[UpstreamFile]) -> Sequence[UpstreamFile]:
        """The files old enough to be offered (all of them, as given, without a cooldown)."""
        cutoff = self.cutoff()
        if cutoff is None:
            return files
        return [f for f in files if self.old_enough(f.upload_time, cutoff)]

    def describe(self) -> str:
        """The settings in a line, as ``serve`` prints them and the web pages show them."""
        settings = self.settings
        urls = ", then ".join(bare(url) for url in settings.urls)
        if not self.caching:
            return f"a redirect to {bare(settings.urls[0])}"
        text = f"a cache of {urls} (pages revalidated after {spelled(settings.ttl)}"
        if settings.min_age is not None:
            text += f"; files uploaded less than {spelled(settings.min_age)} ago held back"
        if settings.merge:
            text += f"; merged with local files: {', '.join(sorted(settings.merge))}"
        return text + ")"
