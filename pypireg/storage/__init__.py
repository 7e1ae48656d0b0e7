"""Built-in storage backends, one module each."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from .filesystem import FileSystemStorage
from .keys import blob_key, check_key
from .memory import MemoryStorage

if TYPE_CHECKING:
    from ..protocols import Storage

__all__ = ["FileSystemStorage", "MemoryStorage", "blob_key", "check_key", "open_storage"]


GROUP = "pypireg.storage"  # entry points: a URL scheme, and a callable of the URL
# The built-ins, registered in pyproject.toml too; found here first, so that they work
# from a source tree or a stale install, whose entry points may be missing.
BUILT_IN = {"file": "pypireg.storage.filesystem:from_url",
            "s3": "pypireg.storage.s3:S3Storage.from_url"}


def open_storage(url: str) -> Storage:
    """The storage a URL names, found by its scheme among the ``pypireg.storage`` entry
    points: the built-in ``file:///absolute/dir`` (or ``file://relative/dir``) and
    ``s3://bucket/prefix`` (``pypireg[s3]``; endpoint, region and credentials from the
    standard AWS settings, ``AWS_ENDPOINT_URL`` included), or any an installed package
    registers (docs/protocols.md)."""
    scheme, sep, rest = url.partition("://")
    if sep and rest and scheme in BUILT_IN:
        found: Any = [EntryPoint(scheme, BUILT_IN[scheme], GROUP)]
    else:
        found = entry_points(group=GROUP, name=scheme) if sep and rest else ()
    if not found:
        known = sorted({*BUILT_IN, *(e.name for e in entry_points(group=GROUP))})
        raise ValueError(f"storage {url!r}: give a URL of an installed storage"
                         f" ({', '.join(f'{name}://' for name in known)}), such as"
                         " file:///PATH or s3://BUCKET/PREFIX")
    opener = next(iter(found)).load()  # the module only now: boto3 only when asked for
    return opener(url)  # type: ignore[no-any-return]
