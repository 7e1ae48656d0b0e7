"""Keeps file bytes in a dict: for tests and throwaway registries."""

from __future__ import annotations

import io
import shutil
import threading
from typing import IO


class MemoryStorage:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put_file(self, key: str, path: str) -> None:
        with open(path, "rb") as f:
            self.put_stream(key, f)

    def put_stream(self, key: str, stream: IO[bytes]) -> None:
        buffer = io.BytesIO()
        shutil.copyfileobj(stream, buffer)
        with self._lock:
            self._blobs[key] = buffer.getvalue()

    def open(self, key: str) -> IO[bytes]:
        with self._lock:
            return io.BytesIO(self._blobs[key])

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self._blobs

    def keys(self) -> list[str]:
        """Every stored key (used by tests and garbage collection)."""
        with self._lock:
            return sorted(self._blobs)
