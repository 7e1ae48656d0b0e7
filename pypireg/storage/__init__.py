"""Built-in storage backends, one module each."""

from __future__ import annotations

from .filesystem import FileSystemStorage
from .keys import blob_key, check_key
from .memory import MemoryStorage

__all__ = ["FileSystemStorage", "MemoryStorage", "blob_key", "check_key"]
