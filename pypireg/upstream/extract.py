"""PEP 658 metadata for upstream wheels whose page offers none (docs/proxy.md): the
wheel's ``METADATA`` read from the upstream's file with a few ranges (its end, its central
directory, the one member), never the whole wheel; or from the file itself once it is
kept. Bounded as uploads are (docs/limits.md), and in what it may fetch
(:data:`MAX_REQUESTS`, :data:`MAX_BYTES`).

The page says ``core-metadata`` for such a wheel from the start, so that pip and uv ask for
it instead of the wheel; with its sha256 once it has been read. A wheel found to hold no
readable ``METADATA`` is marked as having none (``""``), and its page stops saying so.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from typing import IO, TYPE_CHECKING, cast

from werkzeug.datastructures import Range

from ..archives import ArchiveError
from ..dists import InvalidDistribution, metadata_bytes
from . import ranges

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..limits import Limits
    from ..models import CachedFile
    from ..protocols import Storage
    from .client import UpstreamClient

log = logging.getLogger("pypireg.upstream")

TAIL = 64 * 1024 + 22  # a zip's end record, with the longest comment it may have
BLOCK = 64 * 1024  # bytes asked for at least, past what is read, so one range serves many reads
MAX_REQUESTS = 16  # ranges one wheel's metadata may take
MAX_BYTES = 8 * 1024 * 1024  # bytes they may bring, in all (a central directory is large)


class NoRanges(Exception):
    """The metadata cannot be read in ranges (the upstream answers a range with the whole
    file, or the ranges would cost more than :data:`MAX_REQUESTS` or :data:`MAX_BYTES`):
    read it from the file once it is kept."""


class RangedFile:
    """An upstream file as a seekable, read-only binary file whose reads are ranges of it,
    each at least :data:`BLOCK` bytes, kept for the reads that follow."""

    def __init__(self, client: UpstreamClient, cached: CachedFile) -> None:
        self.client = client
        self.cached = cached
        self.requests = 0
        self.fetched = 0
        self._parts: list[tuple[int, bytes]] = []
        self._pos = 0
        self.size = cached.size or 0  # else known from the first range's Content-Range
        tail = Range("bytes", [(-TAIL, None)])  # the end record (and the size)
        first = ranges.explicit(tail, self.size) if cached.size is not None else tail
        if first is None or not self._fetch(first):  # empty, or a 416 for a long suffix
            again = ranges.explicit(tail, self.size)
            if again is None or not self._fetch(again):
                raise ArchiveError("the upstream gave no part of the file")

    def _fetch(self, wanted: Range) -> bool:
        """Ask for a range, and keep its bytes; False when it is past the end (the size
        is then known)."""
        if self.requests >= MAX_REQUESTS:
            raise NoRanges(f"reading the metadata takes more than {MAX_REQUESTS} ranges")
        self.requests += 1
        found = ranges.part(self.client, self.cached, wanted)
        if found is None:
            raise NoRanges(self.cached.file_name)
        span = found.content_range
        if found.unsatisfiable:
            self.size = span.length or self.size
            return False
        if span.start is None or span.stop is None or span.length is None:
            raise ArchiveError("the upstream gave no part of the file")
        if self.fetched + span.stop - span.start > MAX_BYTES:
            found.drop()
            raise NoRanges(f"reading the metadata takes more than {MAX_BYTES:,} bytes")
        data = b"".join(found.body)
        self.fetched += len(data)
        self.size = span.length
        self._parts.append((span.start, data))
        return True

    # -- what the zip reader uses -------------------------------------------------------------

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        if end <= self._pos:
            return b""
        data = self._held(self._pos, end)
        if data is None:
            self._fetch(Range("bytes", [(self._pos, min(self.size, max(end, self._pos + BLOCK)))]))
            data = self._held(self._pos, end) or b""
        self._pos += len(data)
        return data

    def _held(self, start: int, end: int) -> bytes | None:
        for at, data in self._parts:
            if at <= start and end <= at + len(data):
                return data[start - at:end - at]
        return None

    def __enter__(self) -> RangedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._parts.clear()


class WheelMetadata:
    """Reads, keeps and records the metadata of upstream wheels whose pages offer none."""

    def __init__(self, catalog: Catalog, storage: Storage, client: UpstreamClient,
                 limits: Limits) -> None:
        self.catalog = catalog
        self.storage = storage
        self.client = client
        self.limits = limits

    def by_ranges(self, cached: CachedFile) -> bytes | None:
        """The wheel's METADATA read in ranges of the upstream's file, kept; None when it
        has none to read (then marked so). Raises :class:`NoRanges` when ranges will not
        do, and the upstream's 502 or 504 when it fails."""
        try:
            data = metadata_bytes(cast("IO[bytes]", RangedFile(self.client, cached)),
                                  cached.file_name, self.limits)
        except (InvalidDistribution, ArchiveError) as exc:
            log.warning("no metadata in %s from %s: %s", cached.file_name, cached.upstream, exc)
            self.catalog.note_upstream_metadata(cached.id, "", None)
            return None
        return self.keep(cached, data)

    def from_file(self, cached: CachedFile, path: str) -> None:
        """Read and keep the metadata of a wheel just kept whole (``path``, its verified
        bytes), unless its page offers metadata or it was read already."""
        if not cached.file_name.endswith(".whl") or cached.metadata_sha256 is not None:
            return
        try:
            self.keep(cached, metadata_bytes(path, cached.file_name, self.limits))
        except InvalidDistribution as exc:
            log.warning("no metadata in %s from %s: %s", cached.file_name, cached.upstream, exc)
            self.catalog.note_upstream_metadata(cached.id, "", None)
        except Exception:  # the file is kept all the same; its metadata is read on request
            log.exception("reading the metadata of %s", cached.file_name)

    def keep(self, cached: CachedFile, data: bytes) -> bytes:
        from .files import metadata_key  # (files imports this module)

        digest = hashlib.sha256(data).hexdigest()
        key = metadata_key(digest)
        reservations = self.catalog.reserve_blobs([key])
        try:
            self.storage.put_stream(key, io.BytesIO(data))  # type: ignore[arg-type]
            self.catalog.note_upstream_metadata(cached.id, digest, key)
        finally:
            self.catalog.release_reservations(reservations)
        return data
