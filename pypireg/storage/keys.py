"""Storage keys: chosen by the registry, checked by backends that map them to paths."""

from __future__ import annotations

import re

_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*")


def check_key(key: str) -> str:
    """Reject keys that could escape a directory or a bucket prefix."""
    if not _KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"invalid storage key: {key!r}")
    return key


def blob_key(sha256: str) -> str:
    """Content-addressed key for a file's bytes: identical uploads share one blob."""
    return f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"
