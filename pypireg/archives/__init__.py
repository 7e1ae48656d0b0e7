"""One metadata member out of an untrusted zip or tar.gz, at a bounded cost.

``zipfile`` reads a whole central directory into objects (about 500 bytes per entry: a
million entries cost half a gigabyte) and inflates a member in one call however far it
expands. ``tarfile`` reads pax headers and GNU long names whole whatever size they state,
keeps every member it passes, parses pax records in quadratic time on some Python
versions, and lets global pax headers and sparse maps grow without end. So both formats
are walked here, one header at a time, by small readers of our own (:mod:`.zips`,
:mod:`.tars`) that bound every read. Nothing is ever extracted: only the bytes of the one
member are returned.
"""

from __future__ import annotations

from collections.abc import Callable

from ..limits import Limits

Wanted = Callable[[str], bool]


class ArchiveError(ValueError):
    """The archive is unreadable, hostile or over a limit; the message says which."""


def is_safe_top(name: str, leaf: str) -> bool:
    """``<dir>/<leaf>`` with a plain directory name: no ``..``, no absolute path."""
    top, sep, rest = name.partition("/")
    return bool(sep) and rest == leaf and top not in ("", ".", "..") and "\\" not in top


def check_size(size: int, limits: Limits, label: str) -> None:
    if size > limits.max_metadata_size:
        raise ArchiveError(f"{label} is {size} bytes; the limit is {limits.max_metadata_size}")


def describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


from .tars import tar_member  # noqa: E402 - they use the names above
from .zips import zip_member  # noqa: E402

__all__ = ["ArchiveError", "Wanted", "is_safe_top", "tar_member", "zip_member"]
