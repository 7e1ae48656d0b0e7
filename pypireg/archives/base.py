"""What both archive readers share: the error they raise and the checks they make."""

from __future__ import annotations

from collections.abc import Callable

from ..exceptions import PypiregError
from ..limits import Limits

Wanted = Callable[[str], bool]


class ArchiveError(PypiregError, ValueError):
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
