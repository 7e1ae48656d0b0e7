"""Distribution rules: names, versions and filenames that must agree, via ``packaging``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from typing import IO

from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidName,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from . import archives
from .exceptions import PypiregError
from .limits import DEFAULT_LIMITS, Limits

SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")

# GitLab truncates over-long metadata rather than refusing the upload.
METADATA_LIMITS = {"summary": 255, "description": 4000, "keywords": 1024}
METADATA_FIELDS = (
    "summary", "description", "description_content_type", "keywords", "author_email",
    "metadata_version",
)


class InvalidDistribution(PypiregError, ValueError):
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


def identify(name: str, version: str, file_name: str, limits: Limits = DEFAULT_LIMITS
             ) -> DistIdentity:
    """Check that the form's name and version match the wheel or sdist filename.

    Each of the three is at most ``limits.max_file_name_length`` characters (the name and
    the version are part of the file name), which also keeps version numbers far below
    the 4,300 digits Python refuses to turn into an integer.
    """
    longest = limits.max_file_name_length
    for what, value in (("filename", file_name), ("name", name), ("version", version)):
        if len(value) > longest:
            raise InvalidDistribution(f"the {what} is {len(value)} characters long; the limit"
                                      f" is {longest}")
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
    except ValueError:
        raise InvalidDistribution(f"version {version!r} is not a valid PEP 440 version") from None
    check_file_name(file_name)
    _refuse_variants(file_name)
    try:
        if file_name.endswith(".whl"):
            file_project, file_version, *_ = parse_wheel_filename(file_name)
        elif file_name.endswith((".tar.gz", ".zip")):
            file_project, file_version = parse_sdist_filename(file_name)
        else:
            raise InvalidDistribution(
                f"{file_name!r} is neither a wheel (.whl) nor an sdist (.tar.gz, .zip)"
            )
    except ValueError as exc:  # InvalidWheelFilename, InvalidSdistFilename, InvalidVersion
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


def _refuse_variants(file_name: str) -> None:
    """Wheel variants (the draft wheel-variant PEPs) put a variant label after the platform
    tag, ``name-1.0-py3-none-any-x86_64_v3.whl``, and describe a release's variants in
    ``name-1.0-variants.json``. Neither is a wheel or an sdist installers read today, and
    the label would be taken for a build tag, so they are refused by name."""
    if file_name.endswith("-variants.json"):
        raise InvalidDistribution(
            f"{file_name!r} is the variants index of a wheel-variant release: wheel variants"
            " are not accepted yet; upload the release's plain wheels and sdist")
    if not file_name.endswith(".whl"):
        return
    parts = file_name[:-4].split("-")
    # name-version[-build]-python-abi-platform is 5 or 6 parts, and a build tag starts
    # with a digit; a variant adds a label after the platform, and without it the name is
    # a wheel's.
    if len(parts) == 7 or (len(parts) == 6 and not parts[2][:1].isdigit()):
        plain = "-".join(parts[:-1]) + ".whl"
        try:
            parse_wheel_filename(plain)
        except ValueError:
            return  # no wheel's name either: the wheel rules say what is wrong
        raise InvalidDistribution(
            f"{file_name!r} is a wheel variant (label {parts[-1]!r}): wheel variants are not"
            f" accepted yet; upload the plain wheel, {plain}")


def check_requires_python(value: str, what: str = "requires_python") -> str:
    value = value.strip()
    if value:
        try:
            SpecifierSet(value)
        except ValueError:  # InvalidSpecifier, or a version Python cannot read
            raise InvalidDistribution(f"{what} {value!r} is not a valid version specifier"
                                      ) from None
    return value


def parse_metadata(data: bytes) -> Message:
    """Core metadata headers (Name, Version, Requires-Python, ...)."""
    return BytesHeaderParser().parsebytes(data)


def core_metadata(path: str, file_name: str = "", limits: Limits = DEFAULT_LIMITS
                  ) -> bytes | None:
    """The metadata file to serve under PEP 658, or None when there is none to trust.

    Raises :class:`InvalidDistribution` when the archive is unreadable or has none.
    """
    return trusted_metadata(metadata_bytes(path, file_name, limits), file_name or path)


def trusted_metadata(data: bytes, file_name: str) -> bytes | None:
    """``data`` if it may be served under PEP 658: always a wheel's METADATA, an sdist's
    PKG-INFO only from Metadata-Version 2.2 on (PEP 643: earlier ones may be wrong)."""
    if file_name.endswith(".whl"):
        return data
    declared = parse_metadata(data).get("Metadata-Version", "0")
    try:
        return data if Version(declared) >= Version("2.2") else None
    except ValueError:
        return None


def metadata_bytes(path: str | IO[bytes], file_name: str = "",
                   limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The raw METADATA or PKG-INFO member; only that member is read, never extracted.

    The format follows ``file_name`` (default: the path's own name); a wheel or a zip
    sdist may also be a seekable binary file instead of a path. What reading costs
    is bounded by ``limits`` (see :mod:`pypireg.archives`). Raises
    :class:`InvalidDistribution` for archives that are unreadable, hostile, over a limit
    or without metadata where the format puts it.
    """
    name = file_name or str(path)
    try:
        if name.endswith(".whl"):
            data = archives.zip_member(path, _is_wheel_metadata, limits, "METADATA")
        elif name.endswith(".zip"):
            data = archives.zip_member(path, _is_pkg_info, limits, "PKG-INFO")
        elif name.endswith(".tar.gz") and isinstance(path, str):
            data = archives.tar_member(path, _is_pkg_info, limits, "PKG-INFO")
        else:
            raise InvalidDistribution("neither a wheel (.whl) nor an sdist (.tar.gz, .zip)")
    except archives.ArchiveError as exc:
        raise InvalidDistribution(str(exc)) from None
    if data is None:
        where = "<name>.dist-info/METADATA" if name.endswith(".whl") else "<name>/PKG-INFO"
        raise InvalidDistribution(f"the archive holds no {where}")
    return data


def _is_wheel_metadata(name: str) -> bool:
    top = name.partition("/")[0]
    return top.endswith(".dist-info") and archives.is_safe_top(name, "METADATA")


def _is_pkg_info(name: str) -> bool:
    return archives.is_safe_top(name, "PKG-INFO")


def file_requires_python(form_value: str, metadata: Message) -> str:
    """The Requires-Python to record: the file's own when it has one, else the form's.

    Both are checked; the file wins where they differ, since it is what installers of the
    file will actually get.
    """
    claimed = check_requires_python(form_value)
    own = check_requires_python(metadata.get("Requires-Python", "") or "",
                                "the file's Requires-Python")
    return own or claimed


def canonical_version(version: str) -> str:
    """The form versions are matched in (``1.0`` and ``1.0.0`` are one version)."""
    try:
        return canonicalize_version(Version(version.strip()))
    except ValueError:
        return version.strip()


def normalize(name: str) -> str:
    """PEP 503 normalization, as simple page URLs use."""
    if _NORMALIZED.fullmatch(name):  # as installers ask for pages: a tenth of the cost
        return name
    return canonicalize_name(name)


_NORMALIZED = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # what canonicalize_name leaves as is


def truncate_metadata(fields: dict[str, str]) -> dict[str, str]:
    """Keep the known metadata fields, cut to GitLab's lengths."""
    kept = {}
    for key in METADATA_FIELDS:
        value = fields.get(key)
        if value:
            limit = METADATA_LIMITS.get(key)
            kept[key] = value[:limit] if limit else value
    return kept
