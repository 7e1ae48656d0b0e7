"""The files of the cache of upstream indexes: each file of a cached page that was asked
for gets its row when first asked for, with the bytes kept of it once fetched and verified.

A fetch in flight is claimed in the row of its file, so that one process on one host
fetches it while the others wait (``fetch_owner``, kept alive by ``fetch_heartbeat``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..dists import normalize
from ..models import CachedFile, UpstreamFile
from .base import utcnow
from .decoded import PageMoved, listed_file, noted
from .upstream import UpstreamQueries, later

_FILE_COLUMNS = ("id, sha256, file_name, normalized_name, upstream, url, size, upload_time,"
                 " metadata_sha256, storage_key, metadata_key, cached_size,"
                 " (SELECT p.status FROM upstream_pages p WHERE p.upstream = f.upstream"
                 " AND p.normalized_name = f.normalized_name)")


class UpstreamFileQueries(UpstreamQueries):
    """The cache's files, beside its pages (whose lists they are found in)."""

    def upstream_file(self, sha256: str, file_name: str, upstreams: Sequence[str] = ()
                      ) -> CachedFile | None:
        """A file a cached page lists. It gets its row when first asked for, from the page
        of the first of ``upstreams`` that lists it (any, when none are given): a page
        lists thousands of files, and installers ask for a few of them."""
        cached = self._upstream_file_row(sha256, file_name)
        if cached is not None:
            return cached
        for _ in range(3):  # a page given a new version meanwhile is looked at again
            try:
                listed = self._listed(sha256, file_name, upstreams)
            except PageMoved:
                continue
            if listed is None:
                return None
            (page_id, changed_at), upstream, normalized_name, f = listed
            with self.write():  # one statement: its row, if the page is still that version
                self.run(
                    "INSERT INTO upstream_files (id, sha256, file_name, normalized_name,"
                    " upstream, url, size, upload_time, metadata_sha256) SELECT"
                    f" {self._next_id_of('upstream_files')}, ?, ?, ?, ?, ?, ?, ?, ?"
                    " WHERE EXISTS (SELECT 1 FROM upstream_pages WHERE id = ? AND upstream = ?"
                    " AND normalized_name = ? AND changed_at = ?)"
                    " ON CONFLICT (sha256, file_name) DO NOTHING",
                    [f.sha256, f.file_name, normalized_name, upstream, f.url, f.size,
                     f.upload_time, f.metadata_sha256 or None,
                     page_id, upstream, normalized_name, changed_at])
            cached = self._upstream_file_row(sha256, file_name)
            if cached is not None:  # made now, or meanwhile by another request
                return cached
            # its page changed (or was purged) since: what it lists now is the row's
        raise PageMoved(0)  # its page keeps changing: ask again later

    def _listed(self, sha256: str, file_name: str, upstreams: Sequence[str]
                ) -> tuple[tuple[int, str], str, str, UpstreamFile] | None:
        """The version, upstream, name and entry of the first cached page that lists the
        file (the upstreams in their order; without one, those of the catalog's pages)."""
        names = _names_of(file_name)
        if not names:
            return None
        order = list(upstreams) or [upstream for (upstream,) in self.tuples(
            "SELECT DISTINCT upstream FROM upstream_pages ORDER BY upstream")]
        for upstream in order:
            pages = self.tuples(
                "SELECT id, normalized_name, changed_at FROM upstream_pages WHERE"
                f" upstream = ? AND normalized_name IN ({', '.join('?' * len(names))})"
                " AND found = 1 ORDER BY normalized_name", [upstream, *names])
            for page_id, normalized_name, changed_at in list(pages):
                entry = listed_file(self._page_files(page_id, changed_at), file_name, sha256)
                if entry is not None:
                    return (page_id, changed_at), upstream, normalized_name, entry
        return None

    def _upstream_file_row(self, sha256: str, file_name: str) -> CachedFile | None:
        row = next(self.tuples(
            f"SELECT {_FILE_COLUMNS} FROM upstream_files f WHERE sha256 = ? AND file_name = ?",
            [sha256, file_name]), None)
        return None if row is None else CachedFile(*row)

    def cached_upstream_file(self, file_id: int) -> CachedFile | None:
        row = next(self.tuples(f"SELECT {_FILE_COLUMNS} FROM upstream_files f WHERE id = ?",
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
        the file says so from now on: its ``changed_at`` moves (a new ETag), unless the file
        said so already (metadata read in ranges, then again from the verified wheel). The
        page's list of files is not written again: it is read with what its files' rows
        know (``_page_files``)."""
        with self.write():
            row = next(self.tuples("SELECT upstream, normalized_name, metadata_sha256,"
                                   " file_name, sha256 FROM upstream_files WHERE id = ?",
                                   [file_id]), None)
            if row is None:
                return
            upstream, normalized_name, said, file_name, digest = row
            self.run("UPDATE upstream_files SET metadata_sha256 = ?, metadata_key = ?"
                     " WHERE id = ?", [sha256, metadata_key, file_id])
            version = self._page_version(upstream, normalized_name)
            if version is None or said == sha256:
                return
            page_id, last = version
            changed_at = later(last)
            self.run("UPDATE upstream_pages SET changed_at = ? WHERE id = ?",
                     [changed_at, page_id])

            # The new version's files, as a read would decode them, from the last one's if
            # this process holds it: the file's digest where the page gives none (or the
            # one learned before, replaced). Once committed (a caller's write may hold this
            # one): a version rolled back is no version, and the next takes its changed_at.
            def derive() -> None:
                before = self._decoded.get((page_id, last))
                if before is not None:
                    self._decoded.put((page_id, changed_at),
                                      noted(before, file_name, digest, sha256, said))

            self.changes.after_commit(derive)

    def keep_upstream_metadata(self, file_id: int, metadata_key: str) -> None:
        with self.write():
            self.run("UPDATE upstream_files SET metadata_key = ? WHERE id = ?",
                     [metadata_key, file_id])


MAX_NAMES = 32  # names a file's name may give its project, at most (one per dash)
MAX_FILE_NAME = 255  # longer names are no file a page lists (upstream/parse.py)


def _names_of(file_name: str) -> list[str]:
    """The normalized names a file's project may have: its name up to a dash (a wheel's
    up to the first; an sdist's project name may hold dashes itself). At a bounded cost:
    the name comes from a request's URL."""
    if len(file_name) > MAX_FILE_NAME:
        return []
    dashes = [i for i, c in enumerate(file_name) if c == "-" and i][:MAX_NAMES]
    return sorted({normalize(file_name[:i]) for i in dashes})
