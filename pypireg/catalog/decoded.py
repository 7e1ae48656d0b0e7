"""What a process keeps of the cache's pages in memory (pypireg/catalog/upstream.py): their
lists of files, decoded once per version of a page and loaded only when used.

The files are kept as plain tuples of their fields (:data:`Row`), made
:class:`~pypireg.models.UpstreamFile` as they are read. Python's garbage collector stops
tracking a plain tuple of strings and numbers once it has seen it, but tracks a tuple
subclass such as UpstreamFile for as long as it lives: 35,000 of them kept made every full
collection 27 ms longer, a pause that lands on whichever request happens to trigger it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

from ..exceptions import PypiregError
from ..models import UpstreamFile

MAX_DECODED_FILES = 100_000  # files of the pages each process keeps decoded (~80 MiB)
Row = tuple[Any, ...]  # an UpstreamFile's fields, as a plain tuple
_NAME, _SHA256, _VERSION, _METADATA = (
    UpstreamFile._fields.index(field)
    for field in ("file_name", "sha256", "version", "metadata_sha256"))


def rows_of(files: Iterable[UpstreamFile]) -> tuple[Row, ...]:
    return tuple(map(tuple, files))


def version_of(row: Row) -> str:
    return row[_VERSION]  # type: ignore[no-any-return]


def listed_file(rows: tuple[Row, ...], file_name: str, sha256: str) -> UpstreamFile | None:
    """The file of that name and digest among the rows, if any."""
    for row in rows:
        if row[_NAME] == file_name and row[_SHA256] == sha256:
            return UpstreamFile._make(row)
    return None


class PageMoved(PypiregError):
    """A page's version was replaced, or the page purged, while its files were read:
    read the page again."""


class PageFiles(Sequence[UpstreamFile]):
    """A page's files, loaded on first use (``load``) and kept with the page. Not with
    functools.cached_property, which up to Python 3.11 loads one instance's at a time in
    the whole process: two threads may both load one page's files, never wait on
    another page's."""

    def __init__(self, load: Callable[[], tuple[Row, ...]]) -> None:
        self._load = load
        self._loaded: tuple[Row, ...] | None = None

    @property
    def rows(self) -> tuple[Row, ...]:
        """The files as they are kept: plain tuples of their fields."""
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    @overload
    def __getitem__(self, index: int) -> UpstreamFile: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[UpstreamFile, ...]: ...

    def __getitem__(self, index: int | slice) -> UpstreamFile | tuple[UpstreamFile, ...]:
        if isinstance(index, slice):
            return tuple(map(UpstreamFile._make, self.rows[index]))
        return UpstreamFile._make(self.rows[index])

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[UpstreamFile]:
        return map(UpstreamFile._make, self.rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self.rows == tuple(
            tuple(f) if isinstance(f, tuple) else f for f in other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PageFiles({tuple(self)!r})"


class DecodedFiles:
    """Pages' files by (page id, changed_at), the least recently used forgotten first once
    they hold more than ``limit`` files in all; a version of a page never changes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pages: OrderedDict[tuple[int, str], tuple[Row, ...]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> tuple[Row, ...] | None:
        with self._lock:
            files = self._pages.get(key)
            if files is not None:
                self._pages.move_to_end(key)
            return files

    def put(self, key: tuple[int, str], files: tuple[Row, ...]) -> None:
        if len(files) > self.limit:
            return
        with self._lock:
            gone = self._pages.pop(key, ())
            self._pages[key] = files
            self._held += len(files) - len(gone)
            while self._held > self.limit:
                _, gone = self._pages.popitem(last=False)
                self._held -= len(gone)


def with_metadata(files: tuple[UpstreamFile, ...], known: dict[tuple[str, str], str]
                   ) -> tuple[UpstreamFile, ...]:
    """The files, each with the metadata digest learned of it where its page gives none."""
    if not known:
        return files
    return tuple(f._replace(metadata_sha256=known[(f.file_name, f.sha256)])
                 if f.metadata_sha256 is None and (f.file_name, f.sha256) in known else f
                 for f in files)


def noted(rows: tuple[Row, ...], file_name: str, sha256: str, metadata_sha256: str,
          said: str | None) -> tuple[Row, ...]:
    """The rows with a file's learned metadata digest, where its page gives none or gives
    the one learned before (``said``)."""
    return tuple((*row[:_METADATA], metadata_sha256, *row[_METADATA + 1:])
                 if row[_NAME] == file_name and row[_SHA256] == sha256
                 and row[_METADATA] in (None, said) else row for row in rows)
