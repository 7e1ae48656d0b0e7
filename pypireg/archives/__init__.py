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

from .base import ArchiveError, Wanted, is_safe_top
from .tars import tar_member
from .zips import zip_member

__all__ = ["ArchiveError", "Wanted", "is_safe_top", "tar_member", "zip_member"]
