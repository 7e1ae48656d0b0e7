"""What a process keeps of the cache's pages in memory (pypireg/catalog/upstream.py): their
lists of files, decoded once per version of a page and loaded only when used."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from ..exceptions import PypiregError
from ..models import UpstreamFile

MAX_DECODED_FILES = 100_000  # files of the pages each process keeps decoded (~80 MiB)


class PageMoved(PypiregError):
    """A page's version was replaced, or the page purged, while its files were read:
    read the page again."""


class PageFiles(Sequence[UpstreamFile]):
    """A page's files, loaded on first use (``load``) and kept with the page. Not with
    functools.cached_property, which up to Python 3.11 loads one instance's at a time in
    the whole process: two threads may both load one page's files, never wait on
    another page's."""

    def __init__(self, load: Callable[[], tuple[UpstreamFile, ...]]) -> None:
        self._load = load
        self._loaded: tuple[UpstreamFile, ...] | None = None

    @property
    def _files(self) -> tuple[UpstreamFile, ...]:
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    @overload
    def __getitem__(self, index: int) -> UpstreamFile: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[UpstreamFile, ...]: ...

    def __getitem__(self, index: int | slice) -> UpstreamFile | tuple[UpstreamFile, ...]:
        return self._files[index]

    def __len__(self) -> int:
        return len(self._files)

    def __iter__(self) -> Iterator[UpstreamFile]:
        return iter(self._files)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self._files == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PageFiles({self._files!r})"


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


def with_metadata(files: tuple[UpstreamFile, ...], known: dict[tuple[str, str], str]
                   ) -> tuple[UpstreamFile, ...]:
    """The files, each with the metadata digest learned of it where its page gives none."""
    if not known:
        return files
    return tuple(f._replace(metadata_sha256=known[(f.file_name, f.sha256)])
                 if f.metadata_sha256 is None and (f.file_name, f.sha256) in known else f
                 for f in files)
