"""The cache of upstream indexes (:mod:`pypireg.upstream`): each upstream's page for a name,
and each file those pages list, with the bytes kept of it once fetched and verified.

It is the registry's, not a project's: every scope that forwards a name sees the same
cached page. A fetch in flight is claimed in the row of its file, so that one process on
one host fetches it while the others wait (``fetch_owner``, kept alive by
``fetch_heartbeat``).
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta

from ..models import CachedFile, NameStatus, UpstreamFile, UpstreamPage
from ..times import parse_time, stamp
from .base import CatalogBase, utcnow

ACTIVE = NameStatus()

# A page's columns but its list of files, read apart (UpstreamQueries.upstream_page).
_HEAD_COLUMNS = ("id, upstream, normalized_name, found, name, status, status_reason, etag,"
                 " last_modified, checked_at, changed_at")
MAX_DECODED_FILES = 30_000  # files of the pages each process keeps decoded
_FILE_COLUMNS = ("id, sha256, file_name, normalized_name, upstream, url, size, upload_time,"
                 " metadata_sha256, storage_key, metadata_key, cached_size")


class UpstreamQueries(CatalogBase):
    # -- pages -------------------------------------------------------------------------------

    def upstream_page(self, upstream: str, normalized_name: str) -> UpstreamPage | None:
        """The page as last fetched. Its files are decoded once per process for each of its
        versions (``changed_at``): their JSON is most of what reading a big page costs."""
        head = next(self.tuples(f"SELECT {_HEAD_COLUMNS} FROM upstream_pages WHERE"
                                " upstream = ? AND normalized_name = ?",
                                [upstream, normalized_name]), None)
        if head is None:
            return None
        version = (head[0], head[-1])  # id, changed_at
        files = self._decoded.get(version)
        if files is None:
            text = self.value("SELECT files FROM upstream_pages WHERE id = ?"
                              " AND changed_at = ?", list(version))
            if text is None:  # a newer version came meanwhile
                return self.upstream_page(upstream, normalized_name)
            files = tuple(UpstreamFile(*entry) for entry in json.loads(text))
            self._decoded.put(version, files)
        (page_id, at, name, found, title, status, reason, etag, modified, checked,
         changed) = head
        return UpstreamPage(page_id, at, name, bool(found), title, files,
                            NameStatus(status, reason), etag, modified, checked, changed)

    @functools.cached_property
    def _decoded(self) -> DecodedFiles:
        return DecodedFiles(MAX_DECODED_FILES)

    def save_upstream_page(self, upstream: str, normalized_name: str, *, found: bool,
                           name: str = "", files: Sequence[UpstreamFile] = (),
                           status: NameStatus = ACTIVE, etag: str = "",
                           last_modified: str = "") -> UpstreamPage:
        """Keep what the upstream answered (a page, or that it has no such name) as checked
        now; its content's ``changed_at`` moves only if the content differs, so that an
        upstream without ETags does not renew every ETag of ours on each fetch. Every file
        the page lists gets (or keeps) its row, with what is known of its bytes."""
        now = utcnow()
        with self.write():
            # Metadata read from wheels whose pages offer none stays said on the page.
            known = self.upstream_metadata_known(upstream, normalized_name)
            files = tuple(f._replace(metadata_sha256=known[(f.file_name, f.sha256)])
                          if f.metadata_sha256 is None and (f.file_name, f.sha256) in known
                          else f for f in files)
            before = self.upstream_page(upstream, normalized_name)
            same = before is not None and (before.found, before.name, before.status,
                                           before.files) == (found, name, status, files)
            # Each new version strictly later than the last: (page, changed_at) names it.
            changed_at = (now if before is None else before.changed_at if same
                          else _later(before.changed_at))
            fields = {"found": int(found), "name": name,
                      "files": json.dumps([list(f) for f in files]),
                      "status": status.status, "status_reason": status.reason,
                      "etag": etag, "last_modified": last_modified, "checked_at": now,
                      "changed_at": changed_at}
            if before is None:
                page_id = self.next_id("upstream_pages")
                self.insert("upstream_pages", {"id": page_id, "upstream": upstream,
                                               "normalized_name": normalized_name, **fields})
            else:
                page_id = before.id
                self.update("upstream_pages", page_id, fields)
            if not same:
                self._save_files(upstream, normalized_name, files)
        self._decoded.put((page_id, changed_at), files)  # committed: as a read would decode
        return UpstreamPage(page_id, upstream, normalized_name, found, name, files,
                            NameStatus(status.status, status.reason), etag, last_modified,
                            now, changed_at)

    def _save_files(self, upstream: str, normalized_name: str,
                    files: Sequence[UpstreamFile]) -> None:
        first = self.next_id("upstream_files")
        self.run_many(
            "INSERT INTO upstream_files (id, sha256, file_name, normalized_name, upstream,"
            " url, size, upload_time, metadata_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sha256, file_name) DO UPDATE SET url = excluded.url,"
            " upstream = excluded.upstream, normalized_name = excluded.normalized_name,"
            " size = coalesce(excluded.size, upstream_files.size),"
            " upload_time = excluded.upload_time,"
            " metadata_sha256 = coalesce(excluded.metadata_sha256,"
            " upstream_files.metadata_sha256)",
            [(first + n, f.sha256, f.file_name, normalized_name, upstream, f.url, f.size,
              f.upload_time, f.metadata_sha256 or None) for n, f in enumerate(files)])

    def touch_upstream_page(self, page_id: int) -> None:
        """The upstream confirmed the page unchanged (a 304): fresh again."""
        with self.write():
            self.run("UPDATE upstream_pages SET checked_at = ? WHERE id = ?", [utcnow(), page_id])

    # -- files -------------------------------------------------------------------------------

    def upstream_file(self, sha256: str, file_name: str) -> CachedFile | None:
        row = next(self.tuples(
            f"SELECT {_FILE_COLUMNS} FROM upstream_files WHERE sha256 = ? AND file_name = ?",
            [sha256, file_name]), None)
        return None if row is None else CachedFile(*row)

    def cached_upstream_file(self, file_id: int) -> CachedFile | None:
        row = next(self.tuples(f"SELECT {_FILE_COLUMNS} FROM upstream_files WHERE id = ?",
                               [file_id]), None)
        return None if row is None else CachedFile(*row)

    def claim_upstream_fetch(self, file_id: int, owner: str, stale_before: str) -> bool:
        """Whether ``owner`` (one fetch's token) may fetch the file now: it is not kept yet,
        and nobody holds it, or its holder last showed signs of life before
        ``stale_before``."""
        with self.write():
            return self.run(
                "UPDATE upstream_files SET fetch_owner = ?, fetch_heartbeat = ? WHERE id = ?"
                " AND storage_key IS NULL AND (fetch_owner IS NULL OR fetch_heartbeat < ?)",
                [owner, utcnow(), file_id, stale_before]) == 1

    def upstream_fetch_alive(self, file_id: int, owner: str) -> None:
        with self.write():
            self.run("UPDATE upstream_files SET fetch_heartbeat = ? WHERE id = ?"
                     " AND fetch_owner = ?", [utcnow(), file_id, owner])

    def upstream_page_status(self, upstream: str, normalized_name: str) -> str | None:
        """The PEP 792 status the upstream's page of a name gave last (None: no page)."""
        return self.value("SELECT status FROM upstream_pages WHERE upstream = ?"
                          " AND normalized_name = ?", [upstream, normalized_name])

    def release_upstream_fetch(self, file_id: int, owner: str) -> None:
        with self.write():
            self.run("UPDATE upstream_files SET fetch_owner = NULL, fetch_heartbeat = NULL"
                     " WHERE id = ? AND fetch_owner = ?", [file_id, owner])

    def keep_upstream_file(self, file_id: int, storage_key: str, size: int) -> None:
        """Its bytes are stored and verified: serve them from now on."""
        with self.write():
            self.run("UPDATE upstream_files SET storage_key = ?, cached_size = ?,"
                     " cached_at = ?, fetch_owner = NULL, fetch_heartbeat = NULL WHERE id = ?",
                     [storage_key, size, utcnow(), file_id])

    def note_upstream_metadata(self, file_id: int, sha256: str, metadata_key: str | None
                               ) -> None:
        """The metadata read from a wheel whose page offers none: its sha256 and where it
        is kept, or ``""`` and None for a wheel that has none. Every cached page listing
        the file says so from now on (its ``changed_at`` moves, a new ETag, unless the page
        said so already: metadata read in ranges, then from the verified wheel)."""
        with self.write():
            row = next(self.tuples("SELECT file_name, sha256, upstream, normalized_name"
                                   " FROM upstream_files WHERE id = ?", [file_id]), None)
            if row is None:
                return
            file_name, digest, upstream, normalized_name = row
            self.run("UPDATE upstream_files SET metadata_sha256 = ?, metadata_key = ?"
                     " WHERE id = ?", [sha256, metadata_key, file_id])
            page = self.upstream_page(upstream, normalized_name)
            if page is None:
                return
            files = [f._replace(metadata_sha256=sha256)
                     if (f.file_name, f.sha256) == (file_name, digest) else f
                     for f in page.files]
            if files == list(page.files):  # read again from the verified wheel, say
                return
            self.update("upstream_pages", page.id, {
                "files": json.dumps([list(f) for f in files]),
                "changed_at": _later(page.changed_at)})

    def upstream_metadata_known(self, upstream: str, normalized_name: str
                                ) -> dict[tuple[str, str], str]:
        """What is known of the metadata of a name's files, by file name and sha256: for
        a page fetched again, whose files the upstream gives no metadata for."""
        return {(name, digest): known for name, digest, known in self.tuples(
            "SELECT file_name, sha256, metadata_sha256 FROM upstream_files WHERE upstream = ?"
            " AND normalized_name = ? AND metadata_sha256 IS NOT NULL",
            [upstream, normalized_name])}

    def keep_upstream_metadata(self, file_id: int, metadata_key: str) -> None:
        with self.write():
            self.run("UPDATE upstream_files SET metadata_key = ? WHERE id = ?",
                     [metadata_key, file_id])

    # -- accounting and purging --------------------------------------------------------------

    def upstream_cache_usage(self, normalized_name: str | None = None) -> tuple[int, int, int]:
        """Pages cached, files kept and their bytes (of one name, or of all)."""
        where, params = ("WHERE normalized_name = ?", [normalized_name]) if normalized_name \
            else ("", [])
        pages = self.value(f"SELECT count(*) FROM upstream_pages {where}", params)
        kept = f"{where} {'AND' if where else 'WHERE'} storage_key IS NOT NULL"
        files, size = next(self.tuples(
            f"SELECT count(*), coalesce(sum(cached_size), 0) FROM upstream_files {kept}",
            params))
        return int(pages), int(files), int(size)

    def purge_upstream(self, normalized_name: str | None = None) -> tuple[int, int, list[str]]:
        """Forget the cached pages and files (of one name, or all): returns how many of
        each went, and the storage keys they held, for the caller to release."""
        where, params = ("WHERE normalized_name = ?", [normalized_name]) if normalized_name \
            else ("", [])
        with self.write():
            keys = [key for row in self.tuples(
                f"SELECT storage_key, metadata_key FROM upstream_files {where}", params)
                for key in row if key]
            for table in ("upstream_pages", "upstream_files"):
                self.remember_last_id(table)
            self.run("DELETE FROM download_counts WHERE upstream_file_id IN"
                     f" (SELECT id FROM upstream_files {where})", params)
            pages = self.run(f"DELETE FROM upstream_pages {where}", params)
            files = self.run(f"DELETE FROM upstream_files {where}", params)
        return pages, files, keys


class DecodedFiles:
    """Pages' files by (page id, changed_at), the least recently used forgotten first once
    they hold more than ``limit`` files in all; a version of a page never changes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pages: OrderedDict[tuple[int, str], tuple[UpstreamFile, ...]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> tuple[UpstreamFile, ...] | None:
        with self._lock:
            files = self._pages.get(key)
            if files is not None:
                self._pages.move_to_end(key)
            return files

    def put(self, key: tuple[int, str], files: tuple[UpstreamFile, ...]) -> None:
        if len(files) > self.limit:
            return
        with self._lock:
            gone = self._pages.pop(key, ())
            self._pages[key] = files
            self._held += len(files) - len(gone)
            while self._held > self.limit:
                _, gone = self._pages.popitem(last=False)
                self._held -= len(gone)


def _later(changed_at: str) -> str:
    """Now, or a millisecond past ``changed_at`` if that is not earlier: a page's content
    that changes twice within a millisecond still gets a new ETag each time."""
    now = utcnow()
    if now > changed_at:
        return now
    return stamp(parse_time(changed_at) + timedelta(milliseconds=1))
