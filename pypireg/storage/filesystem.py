"""Keeps file bytes in a directory tree, one file per key, written atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

from .keys import check_key

_TEMPORARY = ".tmp-"  # a write in progress, renamed over its key when complete


def from_url(url: str) -> FileSystemStorage:
    """``file:///absolute/dir``, or ``file://relative/dir``."""
    return FileSystemStorage(url.partition("://")[2])


FULL = 1 << 20  # bytes free below which the storage is reported full (GET /-/readiness)


class FileSystemStorage:
    """Files under ``root``; a key ``ab/cd/rest`` is the file ``root/ab/cd/rest``.

    Every write goes to a temporary name in the target directory, is fsynced and then
    renamed over the final name, so a reader never sees a half-written file.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_file(self, key: str, path: str) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Same file system (the registry stages uploads under the data dir): a rename.
            os.replace(path, target)
        except OSError:
            with open(path, "rb") as f:
                self.put_stream(key, f)
            os.unlink(path)
            return
        _fsync_dir(target.parent)

    def put_stream(self, key: str, stream: IO[bytes]) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_TEMPORARY)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(target.parent)

    def open(self, key: str) -> IO[bytes]:
        try:
            return open(self.path(key), "rb")
        except FileNotFoundError:
            raise KeyError(key) from None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def check_ready(self) -> str | None:
        if not self.root.is_dir():
            raise OSError(f"the storage directory {self.root} is missing")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise OSError(f"the storage directory {self.root} cannot be read")
        if not os.access(self.root, os.W_OK):  # a read-only mount too
            return "the registry's storage is read-only"
        disk = os.statvfs(self.root)
        if disk.f_bavail * disk.f_frsize < FULL:
            return "no space left on the registry's storage"
        return None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def sweep_leftovers(self, older_than: float) -> int:
        """Remove the temporary files of writes a crash interrupted (``.tmp-*``)."""
        removed = 0
        for path in self.root.rglob(f"{_TEMPORARY}*"):
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and path.stat().st_mtime < older_than:
                    path.unlink()
                    removed += 1
        return removed

    def keys(self) -> list[str]:
        """Every stored key (used by garbage collection)."""
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(_TEMPORARY)
        )


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
