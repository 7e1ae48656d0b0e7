"""The cache of upstream indexes (:mod:`pypireg.upstream`): each upstream's page for a name,
as last fetched, and what the cache holds in all (its files: :mod:`.upstream_files`).

It is the registry's, not a project's: every scope that forwards a name sees the same
cached page.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import NamedTuple

from ..models import NameStatus, UpstreamFile, UpstreamPage
from ..times import parse_time, stamp
from .base import CatalogBase, utcnow
from .decoded import (
    MAX_DECODED_FILES,
    DecodedFiles,
    PageFiles,
    PageMoved,
    Row,
    rows_of,
    with_metadata,
)

ACTIVE = NameStatus()

# A page's columns but its list of files, read apart (UpstreamQueries.upstream_page).
_HEAD_COLUMNS = ("id, upstream, normalized_name, found, name, status, status_reason, etag,"
                 " last_modified, checked_at, changed_at")


class UpstreamQueries(CatalogBase):
    # -- pages -------------------------------------------------------------------------------

    def upstream_page(self, upstream: str, normalized_name: str) -> UpstreamPage | None:
        """The page as last fetched. Its files are read and decoded when first used, once
        per process for each version of the page (``changed_at``): their JSON is most of
        what reading a big page costs, and a page already rendered needs only its version."""
        head = next(self.tuples(f"SELECT {_HEAD_COLUMNS} FROM upstream_pages WHERE"
                                " upstream = ? AND normalized_name = ?",
                                [upstream, normalized_name]), None)
        if head is None:
            return None
        (page_id, at, name, found, title, status, reason, etag, modified, checked,
         changed) = head
        files = PageFiles(functools.partial(self._page_files, page_id, changed))
        return UpstreamPage(page_id, at, name, bool(found), title, files,
                            NameStatus(status, reason), etag, modified, checked, changed)

    def _page_files(self, page_id: int, changed_at: str) -> tuple[Row, ...]:
        """A version's files: the page's JSON (the upstream's page as it came), with the
        metadata learned since from wheels whose page offers none. Raises
        :class:`PageMoved` if the version is no longer the page's (replaced, or purged):
        a version's files are exactly its own, so that its ETag names one body."""
        files = self._decoded.get((page_id, changed_at))
        if files is not None:
            return files
        # A page an older process saved (a rolling upgrade) has its list in its own row.
        row = next(self.tuples("SELECT coalesce(l.files, p.files), p.upstream,"
                               " p.normalized_name FROM upstream_pages p LEFT JOIN"
                               " upstream_page_files l ON l.id = p.id"
                               " WHERE p.id = ? AND p.changed_at = ?", [page_id, changed_at]),
                   None)
        if row is None:
            raise PageMoved(page_id)
        text, upstream, normalized_name = row
        known = self.upstream_metadata_known(upstream, normalized_name)
        # Metadata is noted with a new version, in one transaction: the version still
        # standing after the rows were read says that they are its own.
        if self._page_version(upstream, normalized_name) != (page_id, changed_at):
            raise PageMoved(page_id)
        files = rows_of(with_metadata(
            tuple(UpstreamFile(*entry) for entry in json.loads(text)), known))
        self._decoded.put((page_id, changed_at), files)
        return files

    @functools.cached_property
    def _decoded(self) -> DecodedFiles:
        return DecodedFiles(MAX_DECODED_FILES)

    def save_upstream_page(self, upstream: str, normalized_name: str, *, found: bool,
                           name: str = "", files: Sequence[UpstreamFile] = (),
                           status: NameStatus = ACTIVE, etag: str = "",
                           last_modified: str = "") -> UpstreamPage:
        """Keep what the upstream answered (a page, or that it has no such name) as checked
        now; its content's ``changed_at`` moves only if the content differs, so that an
        upstream without ETags does not renew every ETag of ours on each fetch. A file's
        row is made when it is first asked for (:meth:`upstream_file`); a file the page
        stops listing gets one now, so that its URL keeps working.

        What to write is worked out before the write transaction (a big page's thousands
        of files are compared and encoded meanwhile, not while every other write waits),
        and again inside it only if the page changed in between."""
        try:
            plan: _PagePlan | None = self._plan_page(upstream, normalized_name, found, name,
                                                     files, status)
        except PageMoved:  # a version came while the last one was read: plan it inside
            plan = None
        with self.write():
            now = utcnow()
            if plan is None or self._page_version(upstream, normalized_name) != plan.before:
                plan = self._plan_page(upstream, normalized_name, found, name, files, status)
            before = plan.before
            # Each new version strictly later than the last: (page, changed_at) names it.
            changed_at = (now if before is None else before[1] if plan.same
                          else later(before[1]))
            fields = {"found": int(found), "name": name, "status": status.status,
                      "status_reason": status.reason, "etag": etag,
                      "last_modified": last_modified, "checked_at": now,
                      "changed_at": changed_at}
            if not plan.same:  # the list is its own row; none in the page's (an older
                fields["files"] = ""  # process may have left one there)
            if before is None:
                page_id = self.next_id("upstream_pages")
                self.insert("upstream_pages", {"id": page_id, "upstream": upstream,
                                               "normalized_name": normalized_name, **fields})
            else:
                page_id = before[0]
                self.update("upstream_pages", page_id, fields)
            if not plan.same:  # an unchanged list (megabytes, on a big page) stays as it is
                self.upsert("upstream_page_files", {"id": page_id, "files": plan.encoded},
                            key="id")
            self._save_files(upstream, normalized_name, plan.changed)
            self._add_rows(upstream, normalized_name, plan.dropped)
        self._decoded.put((page_id, changed_at), rows_of(plan.files))  # as a read would
        return UpstreamPage(page_id, upstream, normalized_name, found, name, plan.files,
                            NameStatus(status.status, status.reason), etag, last_modified,
                            now, changed_at)

    def _page_version(self, upstream: str, normalized_name: str) -> tuple[int, str] | None:
        """The page's id and ``changed_at`` (None: no page yet)."""
        row = next(self.tuples("SELECT id, changed_at FROM upstream_pages WHERE upstream = ?"
                               " AND normalized_name = ?", [upstream, normalized_name]), None)
        return None if row is None else (row[0], row[1])

    def _plan_page(self, upstream: str, normalized_name: str, found: bool, name: str,
                   files: Sequence[UpstreamFile], status: NameStatus) -> _PagePlan:
        """What saving a page writes, from the page as it is now. The JSON keeps the page
        as the upstream gave it; what is shown adds the metadata learned from wheels whose
        page offers none, which stays said when the page is fetched again."""
        before = self.upstream_page(upstream, normalized_name)
        known = self.upstream_metadata_known(upstream, normalized_name)
        encoded = json.dumps(list(files))  # each file a tuple: a JSON array as it is
        shown = with_metadata(tuple(files), known)
        if before is None:  # its files' rows are made as they are asked for
            return _PagePlan(None, False, shown, encoded, (), ())
        same = (before.found, before.name, before.status, before.files) == (
            found, name, status, shown)
        previous = set(before.files)
        listed = {(f.file_name, f.sha256) for f in shown}
        return _PagePlan((before.id, before.changed_at), same, shown, encoded,
                         [f for f in shown if f not in previous],
                         [f for f in before.files if (f.file_name, f.sha256) not in listed])

    def _add_rows(self, upstream: str, normalized_name: str,
                  files: Sequence[UpstreamFile]) -> None:
        """Rows for files of a page that have none: one asked for, or those the page no
        longer lists (a lock file may still name one, and its URL keeps working)."""
        if not files:
            return
        first = self.next_id("upstream_files")
        self.run_many(
            "INSERT INTO upstream_files (id, sha256, file_name, normalized_name, upstream,"
            " url, size, upload_time, metadata_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sha256, file_name) DO NOTHING",
            [(first + n, f.sha256, f.file_name, normalized_name, upstream, f.url, f.size,
              f.upload_time, f.metadata_sha256 or None) for n, f in enumerate(files)])

    def _save_files(self, upstream: str, normalized_name: str,
                    files: Sequence[UpstreamFile]) -> None:
        """The rows of files already asked for, as their page now gives them (a file gets
        its row when first asked for: :meth:`upstream_file`)."""
        if not files:
            return
        self.run_many(
            "UPDATE upstream_files SET url = ?, upstream = ?, normalized_name = ?,"
            " size = coalesce(?, size), upload_time = ?,"
            " metadata_sha256 = coalesce(?, metadata_sha256)"
            " WHERE sha256 = ? AND file_name = ?",
            [(f.url, upstream, normalized_name, f.size, f.upload_time,
              f.metadata_sha256 or None, f.sha256, f.file_name) for f in files])

    def touch_upstream_page(self, page_id: int) -> None:
        """The upstream confirmed the page unchanged (a 304): fresh again."""
        with self.write():
            self.run("UPDATE upstream_pages SET checked_at = ? WHERE id = ?", [utcnow(), page_id])

    def upstream_metadata_known(self, upstream: str, normalized_name: str
                                ) -> dict[tuple[str, str], str]:
        """What is known of the metadata of a name's files, by file name and sha256: for
        a page fetched again, whose files the upstream gives no metadata for."""
        return {(name, digest): known for name, digest, known in self.tuples(
            "SELECT file_name, sha256, metadata_sha256 FROM upstream_files WHERE upstream = ?"
            " AND normalized_name = ? AND metadata_sha256 IS NOT NULL",
            [upstream, normalized_name])}

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
            self.run("DELETE FROM upstream_page_files WHERE id IN"
                     f" (SELECT id FROM upstream_pages {where})", params)
            pages = self.run(f"DELETE FROM upstream_pages {where}", params)
            files = self.run(f"DELETE FROM upstream_files {where}", params)
        return pages, files, keys


def later(changed_at: str) -> str:
    """Now, or a millisecond past ``changed_at`` if that is not earlier: a page's content
    that changes twice within a millisecond still gets a new ETag each time."""
    now = utcnow()
    if now > changed_at:
        return now
    return stamp(parse_time(changed_at) + timedelta(milliseconds=1))


class _PagePlan(NamedTuple):
    """What saving a page writes: the version it replaces (id, changed_at; None for a
    new page), whether its content stays the same, its files as shown, the JSON kept of
    them (as the upstream gave them), the files that differ from the last version's
    (whose rows, for those asked for already, are brought up to date) and the last
    version's files it no longer lists (which get rows, if they have none)."""
    before: tuple[int, str] | None
    same: bool
    files: tuple[UpstreamFile, ...]
    encoded: str
    changed: Sequence[UpstreamFile]
    dropped: Sequence[UpstreamFile]
