"""Distribution rules: names, versions and filenames that must agree, via ``packaging``."""

from __future__ import annotations

import re
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidName,
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")

# GitLab truncates over-long metadata rather than refusing the upload.
METADATA_LIMITS = {"summary": 255, "description": 4000, "keywords": 1024}
METADATA_FIELDS = (
    "summary", "description", "description_content_type", "keywords", "author_email",
    "metadata_version",
)


class InvalidDistribution(ValueError):
    """The upload's name, version or filename is wrong; the message says how."""


@dataclass(frozen=True)
class DistIdentity:
    name: str
    normalized_name: str
    version: str
    canonical_version: str
    file_name: str


def check_file_name(file_name: str) -> str:
    """A bare file name: no directories, no traversal, no control characters."""
    if not file_name:
        raise InvalidDistribution("the content part has no filename")
    if "/" in file_name or "\\" in file_name or file_name in (".", ".."):
        raise InvalidDistribution(f"filename {file_name!r} must not contain a path")
    if any(ord(c) < 32 or ord(c) == 127 for c in file_name):
        raise InvalidDistribution(f"filename {file_name!r} contains control characters")
    return file_name


def identify(name: str, version: str, file_name: str) -> DistIdentity:
    """Check that the form's name and version match the wheel or sdist filename."""
    if not name.strip():
        raise InvalidDistribution("the 'name' field is missing")
    if not version.strip():
        raise InvalidDistribution("the 'version' field is missing")
    name, version = name.strip(), version.strip()
    try:
        normalized = canonicalize_name(name, validate=True)
    except InvalidName:
        raise InvalidDistribution(f"{name!r} is not a valid package name") from None
    try:
        parsed_version = Version(version)
    except InvalidVersion:
        raise InvalidDistribution(f"version {version!r} is not a valid PEP 440 version") from None
    check_file_name(file_name)
    try:
        if file_name.endswith(".whl"):
            file_project, file_version, *_ = parse_wheel_filename(file_name)
        elif file_name.endswith((".tar.gz", ".zip")):
            file_project, file_version = parse_sdist_filename(file_name)
        else:
            raise InvalidDistribution(
                f"{file_name!r} is neither a wheel (.whl) nor an sdist (.tar.gz, .zip)"
            )
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise InvalidDistribution(str(exc)) from None
    if file_project != normalized:
        raise InvalidDistribution(
            f"filename {file_name!r} is for package {file_project!r}, not {name!r}"
        )
    if file_version != parsed_version:
        raise InvalidDistribution(
            f"filename {file_name!r} is for version {file_version}, not {version}"
        )
    return DistIdentity(
        name=name,
        normalized_name=normalized,
        version=version,
        canonical_version=canonicalize_version(parsed_version),
        file_name=file_name,
    )


def check_requires_python(value: str) -> str:
    value = value.strip()
    if value:
        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            raise InvalidDistribution(
                f"requires_python {value!r} is not a valid version specifier"
            ) from None
    return value


MAX_METADATA = 10 * 1024 * 1024  # a METADATA larger than this is not a real one


def parse_metadata(data: bytes) -> Message:
    """Core metadata headers (Name, Version, Requires-Python, ...)."""
    return BytesHeaderParser().parsebytes(data)


def core_metadata(path: str, file_name: str = "") -> bytes | None:
    """The metadata file to serve under PEP 658, or None when there is none to trust.

    A wheel must have one (an unreadable wheel raises :class:`InvalidDistribution`); for
    an sdist, see :func:`trusted_metadata`. An unreadable sdist has none.
    """
    if (file_name or path).endswith(".whl"):
        return metadata_bytes(path, file_name)
    try:
        data = metadata_bytes(path, file_name)
    except InvalidDistribution:
        return None
    return trusted_metadata(data, file_name or path)


def trusted_metadata(data: bytes, file_name: str) -> bytes | None:
    """``data`` if it may be served under PEP 658: always a wheel's METADATA, an sdist's
    PKG-INFO only from Metadata-Version 2.2 on (PEP 643: earlier ones may be wrong)."""
    if file_name.endswith(".whl"):
        return data
    declared = parse_metadata(data).get("Metadata-Version", "0")
    try:
        return data if Version(declared) >= Version("2.2") else None
    except InvalidVersion:
        return None


def metadata_bytes(path: str, file_name: str = "") -> bytes:
    """The raw METADATA or PKG-INFO member; only that member is read, never extracted.

    The format follows ``file_name`` (default: the path's own name). Raises
    :class:`InvalidDistribution` for archives that are unreadable or have no metadata
    where the format puts it.
    """
    name = file_name or path
    try:
        if name.endswith(".whl"):
            data = _zip_member(path, lambda n: n.count("/") == 1
                               and n.endswith(".dist-info/METADATA"))
        elif name.endswith(".zip"):
            data = _zip_member(path, lambda n: n.count("/") == 1 and n.endswith("/PKG-INFO"))
        elif name.endswith(".tar.gz"):
            data = _tar_member(path)
        else:
            raise InvalidDistribution("neither a wheel (.whl) nor an sdist (.tar.gz, .zip)")
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise InvalidDistribution(f"cannot read the archive: {exc}") from None
    if data is None:
        raise InvalidDistribution("the archive holds no METADATA or PKG-INFO")
    return data


def _zip_member(path: str, wanted) -> bytes | None:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if wanted(info.filename) and info.file_size <= MAX_METADATA:
                return archive.read(info)
    return None


def _tar_member(path: str) -> bytes | None:
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if (member.isfile() and member.name.count("/") == 1
                    and member.name.endswith("/PKG-INFO") and member.size <= MAX_METADATA):
                stream = archive.extractfile(member)
                return stream.read() if stream else None
    return None


def canonical_version(version: str) -> str:
    """The form versions are matched in (``1.0`` and ``1.0.0`` are one version)."""
    try:
        return canonicalize_version(Version(version.strip()))
    except InvalidVersion:
        return version.strip()


def normalize(name: str) -> str:
    """PEP 503 normalization, as simple page URLs use."""
    return canonicalize_name(name)


def truncate_metadata(fields: dict[str, str]) -> dict[str, str]:
    """Keep the known metadata fields, cut to GitLab's lengths."""
    kept = {}
    for key in METADATA_FIELDS:
        value = fields.get(key)
        if value:
            limit = METADATA_LIMITS.get(key)
            kept[key] = value[:limit] if limit else value
    return kept
