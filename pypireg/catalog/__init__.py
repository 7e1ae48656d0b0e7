"""The catalog: groups, projects, packages, files, tokens, audit events, cleanup
policies, name statuses, protection rules and the cache of upstream indexes.

This package is the only place that speaks SQL, so another database can implement the
same methods. One connection per thread, WAL mode and a busy timeout let several threads
and processes (gunicorn workers) share one data directory.
"""

from __future__ import annotations

import logging

from .audit import GROUP, INSTANCE, PROJECT, AuditQueries
from .base import CatalogError, CatalogReadOnly, CatalogUnavailable, Engine, redacted, utcnow
from .blobs import BlobQueries
from .browsing import BrowsingQueries
from .copying import CopyQueries
from .downloads import DownloadQueries
from .hooks import HookQueries
from .listing import DEFAULT_LISTED_STATUSES, ORDER_COLUMNS, ListingQueries
from .namespaces import NamespaceQueries, NotEmpty
from .packages import PackageQueries
from .protection import ProtectionQueries
from .publishers import PublisherQueries
from .retention import RetentionQueries
from .sqlite import SQLiteEngine
from .stages import StageExists, StageQueries
from .statuses import StatusQueries
from .tables import SCHEMA_VERSION
from .tokens import TokenQueries
from .upstream_files import UpstreamFileQueries

log = logging.getLogger("pypireg")

__all__ = [
    "DEFAULT_LISTED_STATUSES", "GROUP", "INSTANCE", "ORDER_COLUMNS", "PROJECT", "SCHEMA_VERSION",
    "Catalog", "CatalogError", "CatalogReadOnly", "CatalogUnavailable", "NotEmpty", "StageExists",
    "open_catalog", "utcnow",
]


def open_catalog(url: str, *, create: bool = True) -> Catalog:
    """The catalog a URL names: ``sqlite:///relative/catalog.db`` or
    ``sqlite:////absolute/catalog.db`` (``sqlite://`` alone: in memory), as SQLAlchemy
    spells them, or ``postgresql://user:password@host:port/database``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise CatalogError(f"catalog {redacted(url)!r} is not a URL: use sqlite:///PATH or"
                           " postgresql://USER@HOST/DATABASE")
    if scheme == "sqlite":
        return Catalog(rest[1:] if rest.startswith("/") and len(rest) > 1 else None,
                       create=create)
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresEngine

        return Catalog(engine=PostgresEngine(url), create=create)
    raise CatalogError(f"catalog {redacted(url)!r}: the engines are sqlite:// and"
                       " postgresql://")


class Catalog(NamespaceQueries, PackageQueries, ListingQueries, TokenQueries, AuditQueries,
              RetentionQueries, CopyQueries, BlobQueries, BrowsingQueries, StatusQueries,
              ProtectionQueries, UpstreamFileQueries, DownloadQueries, PublisherQueries,
              StageQueries, HookQueries):
    """The catalog in SQLite at ``path`` (``None``: a private in-memory one), or on any
    other ``engine``. Its tables are created or migrated when it opens; with
    ``create=False`` a database without them is refused (:class:`CatalogError`)."""

    def __init__(self, path: str | None = None, *, engine: Engine | None = None,
                 create: bool = True) -> None:
        super().__init__(engine or SQLiteEngine(path))
        try:
            known = create or self.engine.has_schema(self)
            if known:
                self._complete()
        except self.engine.unavailable as exc:
            self.close()
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CatalogError(f"cannot open the catalog {self.engine}: {why}") from None
        if not known:
            self.close()
            raise CatalogError(f"no registry in the catalog {self.engine}: create one with"
                               " pypireg init --catalog URL")

    def _complete(self) -> None:
        """Create or migrate the tables; a catalog that cannot be written now is served
        as it is, for reads, if this pypireg reads it as it is."""
        try:
            self.engine.migrate(self)
            self.build_names()
        except CatalogReadOnly as exc:
            found = self.value("SELECT value FROM meta WHERE key = 'schema_version'")
            built = self.value("SELECT value FROM meta WHERE key = 'names_built'")
            if found != str(SCHEMA_VERSION) or built is None:
                raise CatalogError(f"the catalog {self.engine} must be brought to schema"
                                   f" version {SCHEMA_VERSION} and cannot be written: {exc}"
                                   ) from None
            log.warning("the catalog %s cannot be written (%s): the registry serves reads,"
                        " and takes changes again once it can", self.engine, exc)

    def close(self) -> None:
        """Close the engine's connections (a PostgreSQL pool); SQLite's close with their
        threads."""
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()

    def refresh_statistics(self, *, force: bool = False) -> bool:
        """Gather the query planner's statistics once the catalog has grown (or
        ``force``); returns whether it did."""
        return self.engine.refresh_statistics(self, force=force)
