"""Every bound a request or an archive is held to, in one place (docs/limits.md).

A registry sits beside every build a team runs, and the least trusted credential it
accepts (a CI job's write token) may send it anything. Each field below caps the memory
or time one request can cost; what goes over it is refused with a 4xx that says which
bound it broke.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# SQLite's integers (and PostgreSQL's bigint) stop here: larger ids cannot exist.
MAX_ID = 2**63 - 1
_MAX_ID_DIGITS = len(str(MAX_ID))


def as_id(text: str) -> int | None:
    """The number ``text`` spells, if it is ASCII digits a database id can be; else None.

    (``str.isdigit`` also takes ``²`` and Arabic-Indic digits, which ``int`` rejects or
    reads differently, and Python refuses to convert more than 4,300 digits.)
    """
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_ID_DIGITS:
        return None
    number = int(text)
    return number if number <= MAX_ID else None


@dataclass(frozen=True)
class Limits:
    """The bounds of one registry; pass ``create_app(limits=Limits(...))`` to change them."""

    #: Size of one uploaded file (GitLab's default is 3 GiB).
    max_upload_size: int = 3 * GiB
    #: Parts of one multipart upload, fields and files together (werkzeug's default).
    max_form_parts: int = 1000
    #: All the parts but the file together: name, version, description, classifiers, ...
    max_form_fields_size: int = 8 * MiB
    #: A wheel's METADATA or an sdist's PKG-INFO.
    max_metadata_size: int = 10 * MiB
    #: A README rendered for its package page, once, at upload; a larger one is not shown.
    max_readme_size: int = 1 * MiB
    #: Members of an archive read while looking for its metadata.
    max_archive_members: int = 100_000
    #: One tar header extension (a pax header or a GNU long name).
    max_archive_header_size: int = 1 * MiB
    #: Bytes of an sdist decompressed while looking for its PKG-INFO.
    max_archive_scan_size: int = 1 * GiB
    #: Characters of an uploaded file's name, and so of its package name and version.
    max_file_name_length: int = 255
    #: Search terms in the Packages API's ``package_name``, and its length.
    max_name_terms: int = 20
    max_name_filter_length: int = 1000
    #: One project page fetched from an upstream index (docs/proxy.md); cached upstream
    #: files are bounded by ``max_upload_size``, and their metadata by ``max_metadata_size``.
    max_upstream_page_size: int = 64 * MiB


DEFAULT_LIMITS = Limits()

_SIZE = re.compile(r"([0-9]{1,19})\s*([KMGT]i?B?|B)?", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": KiB, "M": MiB, "G": GiB, "T": 1024 * GiB}


def parse_size(text: str) -> int:
    """``5368709120``, ``5G``, ``5GiB`` or ``5GB`` (all binary units, as the limits are)
    as bytes. Raises ``ValueError`` saying what it takes."""
    match = _SIZE.fullmatch(text.strip())
    size = int(match[1]) * _UNITS[(match[2] or "")[:1].upper()] if match else 0
    if not match or not 0 < size <= MAX_ID:
        raise ValueError(f"{text!r} is not a size: give bytes, or a number with K, M, G or T")
    return size
