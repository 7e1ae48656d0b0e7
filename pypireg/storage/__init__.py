"""Built-in storage backends, one module each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .filesystem import FileSystemStorage
from .keys import blob_key, check_key
from .memory import MemoryStorage

if TYPE_CHECKING:
    from ..protocols import Storage

__all__ = ["FileSystemStorage", "MemoryStorage", "blob_key", "check_key", "open_storage"]


def open_storage(url: str) -> Storage:
    """The storage a URL names: ``file:///absolute/dir`` (or ``file://relative/dir``) or
    ``s3://bucket/prefix`` (``pypireg[s3]``; endpoint, region and credentials from the
    standard AWS settings, ``AWS_ENDPOINT_URL`` included)."""
    scheme, sep, rest = url.partition("://")
    if scheme == "file" and sep and rest:
        return FileSystemStorage(rest)
    if scheme == "s3" and sep and rest:
        from .s3 import S3Storage  # boto3 only when asked for

        return S3Storage.from_url(url)
    raise ValueError(f"storage {url!r}: use file:///PATH or s3://BUCKET/PREFIX")
