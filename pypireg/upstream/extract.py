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

import contextlib
import functools
import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, cast

from werkzeug.datastructures import Range
from werkzeug.exceptions import ServiceUnavailable

from ..archives import ArchiveError
from ..dists import InvalidDistribution, metadata_bytes
from ..forms import STAGING_PREFIX
from . import ranges
from .blobs import keep_blob, metadata_key

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
READ_TIME = 30.0  # seconds one reading in ranges may take, in all
MAX_READINGS = 8  # wheels' metadata read at once, in one process
RANGES_PREFIX = "ranges/"  # before the key of metadata read in ranges, not verified
UNKEPT_FOR = 60.0  # seconds metadata read in ranges answers others while it is being kept


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
        self.deadline = time.monotonic() + READ_TIME
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
        if time.monotonic() > self.deadline:
            raise NoRanges(f"reading the metadata took more than {READ_TIME:g} s")
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
        chunks = []
        for chunk in found.body:  # an upstream that trickles is given up on in time
            chunks.append(chunk)
            if time.monotonic() > self.deadline:
                found.drop()
                raise NoRanges(f"reading the metadata took more than {READ_TIME:g} s")
        data = b"".join(chunks)
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


class WheelMetadata:
    """Reads, keeps and records the metadata of upstream wheels whose pages offer none:
    one reading of a wheel at a time (others asking wait for it, then have what it read,
    kept or about to be), at most :data:`MAX_READINGS` at once."""

    def __init__(self, catalog: Catalog, storage: Storage, client: UpstreamClient,
                 limits: Limits, staging_dir: str) -> None:
        self.catalog = catalog
        self.storage = storage
        self.client = client
        self.limits = limits
        self.staging_dir = staging_dir
        self._readings: weakref.WeakValueDictionary[int, threading.Lock] = (
            weakref.WeakValueDictionary())
        self._guard = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_READINGS)
        # Read in ranges, answered, not kept yet: until when it answers others, and its bytes.
        self._unkept: dict[int, tuple[float, bytes]] = {}

    def read(self, cached: CachedFile, fetch_whole: Callable[[CachedFile], None],
             later: Callable[[Callable[[], None]], object] | None = None) -> bytes | None:
        """The wheel's METADATA, None when it has none: kept already; or read from the
        wheel when it is kept; or in ranges of the upstream's file; else from the whole
        file, which ``fetch_whole`` fetches and keeps. Only a verified file can show that
        a wheel has none. Raises the upstream's 502 or 504 when it fails.

        Metadata read in ranges is kept (stored, and recorded in the catalog) by the work
        given to ``later``, when there is one, to be done once the answer is sent: on a
        cold cache the catalog's write lock is busy, and a resolver waits for each answer
        before it asks for the next packages'. Kept or not, it is the same bytes."""
        with self._guard:
            reading = self._readings.setdefault(cached.id, threading.Lock())
        if not self._slots.acquire(timeout=READ_TIME):
            raise ServiceUnavailable("too many wheels' metadata being read: try again in a"
                                     " few seconds", retry_after=5)
        try:
            with reading:
                return self._read(cached, fetch_whole, later)
        finally:
            self._slots.release()

    def _read(self, cached: CachedFile, fetch_whole: Callable[[CachedFile], None],
              later: Callable[[Callable[[], None]], object] | None) -> bytes | None:
        now = self.catalog.cached_upstream_file(cached.id) or cached  # read meanwhile?
        found = self._kept(now)
        if found is not None or now.metadata_sha256 == "":
            return found
        with self._guard:
            until, found = self._unkept.get(cached.id, (0.0, None))
        if found is not None and until > time.monotonic():
            return found
        if not now.storage_key:
            try:
                data = metadata_bytes(cast("IO[bytes]", RangedFile(self.client, now)),
                                      now.file_name, self.limits)
                if later is None:
                    return self.keep(now, data, verified=False)
                later(functools.partial(self._keep_read, now, data))
                with self._guard:  # for as long as keeping it may take, at most
                    moment = time.monotonic()
                    for file_id in [k for k, (until, _) in self._unkept.items()
                                    if until < moment]:
                        del self._unkept[file_id]
                    self._unkept[now.id] = (moment + UNKEPT_FOR, data)
                return data
            except Exception as exc:  # anything: the whole file then says
                log.info("reading the metadata of %s in ranges: %s", now.file_name, exc)
            fetch_whole(now)
            now = self.catalog.cached_upstream_file(cached.id) or now
            found = self._kept(now)
            if found is not None or now.metadata_sha256 == "" or not now.storage_key:
                return found
        with self._stored(now) as path:
            return self.from_file(now, path)

    def _kept(self, cached: CachedFile) -> bytes | None:
        if not cached.metadata_key:
            return None
        try:
            with self.storage.open(cached.metadata_key) as stream:
                return stream.read()
        except KeyError:  # gone from storage: read again
            return None

    @contextlib.contextmanager
    def _stored(self, cached: CachedFile) -> Iterator[str]:
        """A path holding the kept file's verified bytes."""
        assert cached.storage_key
        handle, path = tempfile.mkstemp(dir=self.staging_dir, prefix=f"{STAGING_PREFIX}read-")
        try:
            with os.fdopen(handle, "wb") as out, self.storage.open(cached.storage_key) as stream:
                shutil.copyfileobj(stream, out)
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def from_file(self, cached: CachedFile, path: str) -> bytes | None:
        """Read and keep the metadata of a wheel kept whole (``path``, its verified bytes),
        unless its page offers metadata: in place of what was read in ranges, which could
        not be verified. A wheel without any is marked so."""
        if not cached.file_name.endswith(".whl") or (
                cached.metadata_sha256 and not _from_ranges(cached.metadata_key)):
            return None
        try:
            return self.keep(cached, metadata_bytes(path, cached.file_name, self.limits),
                             verified=True)
        except InvalidDistribution as exc:
            log.warning("no metadata in %s from %s: %s", cached.file_name, cached.upstream, exc)
            self.catalog.note_upstream_metadata(cached.id, "", None)
            return None

    def after_kept(self, cached: CachedFile, path: str) -> None:
        """:meth:`from_file` for a wheel just kept whole; the file is kept all the same
        when reading fails (its metadata is then read on request)."""
        try:
            self.from_file(cached, path)
        except Exception:
            log.exception("reading the metadata of %s", cached.file_name)

    def _keep_read(self, cached: CachedFile, data: bytes) -> None:
        """:meth:`keep` metadata read in ranges, after its answer: a failure is logged (the
        next request reads it again)."""
        try:
            self.keep(cached, data, verified=False)
        except Exception:
            log.exception("keeping the metadata of %s read in ranges", cached.file_name)
        finally:
            with self._guard:
                self._unkept.pop(cached.id, None)

    def keep(self, cached: CachedFile, data: bytes, *, verified: bool) -> bytes:
        """Store the metadata and record it. What was read in ranges is not recorded over
        what the verified wheel gave meanwhile (its metadata, or that it has none)."""
        digest = hashlib.sha256(data).hexdigest()
        key = metadata_key(digest) if verified else RANGES_PREFIX + metadata_key(digest)

        def record() -> None:  # inside the write: nobody else records meanwhile
            if not verified:  # a digest not from ranges: the page's, or a verified wheel's
                now = self.catalog.cached_upstream_file(cached.id)
                if (now is not None and now.metadata_sha256 is not None
                        and not _from_ranges(now.metadata_key)):
                    return
            self.catalog.note_upstream_metadata(cached.id, digest, key)

        keep_blob(self.catalog, key,
                  lambda: self.storage.put_stream(key, io.BytesIO(data)),  # type: ignore[arg-type]
                  record)
        return data


def _from_ranges(key: str | None) -> bool:
    """Whether the metadata kept at ``key`` was read in ranges (not verified)."""
    return key is not None and key.startswith(RANGES_PREFIX)
