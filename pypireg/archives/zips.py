"""Zip archives (wheels, zip sdists): the central directory walked one entry at a time, and
the one member inflated with a ceiling."""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import zlib
from dataclasses import dataclass
from typing import IO

from ..limits import Limits
from .base import ArchiveError, Wanted, check_size, describe

_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_MAX_COMMENT = 0xFFFF
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_MAX_ZIP_VERSION = 63  # what zipfile (and so pip) can extract
_STORED, _DEFLATED = 0, 8
_UNIX = 3  # the creating system whose file modes the high external attributes hold
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class _Entry:
    name: str
    raw_name: bytes
    flags: int
    method: int
    version: int
    crc: int
    compressed: int
    size: int
    offset: int
    mode: int


def zip_member(source: str | IO[bytes], wanted: Wanted, limits: Limits, label: str
               ) -> bytes | None:
    """The one member whose name ``wanted`` accepts, or None; ``label`` names it in errors.
    ``source`` is a path, or a seekable binary file (read from wherever it is).

    Two such members are refused: zipfile (and so pip) would take the last one.
    """
    try:
        with (open(source, "rb") if isinstance(source, str)  # noqa: SIM115
              else contextlib.nullcontext(source)) as fp:
            entry, concat = _find_entry(fp, wanted, limits)
            return None if entry is None else _read_entry(fp, entry, concat, limits, label)
    except ArchiveError:
        raise
    except Exception as exc:  # anything struct, zlib or the OS can raise on a hostile file
        raise ArchiveError(f"cannot read the zip archive: {describe(exc)}") from None


def _find_entry(fp: IO[bytes], wanted: Wanted, limits: Limits) -> tuple[_Entry | None, int]:
    count, cd_size, cd_offset, concat = _end_record(fp)
    if count > limits.max_archive_members:
        raise ArchiveError(f"the zip archive declares {count} members; the limit is"
                           f" {limits.max_archive_members}")
    fp.seek(cd_offset + concat)
    seen = consumed = 0
    found: _Entry | None = None
    while consumed < cd_size:
        seen += 1
        if seen > limits.max_archive_members:
            raise ArchiveError(f"the zip archive has more than {limits.max_archive_members}"
                               " members")
        fixed = _exact(fp, _CENTRAL.size, "central directory")
        (sig, _, system, version, _, flags, method, _, _, crc, compressed, size, name_len,
         extra_len, comment_len, _, _, external, offset) = _CENTRAL.unpack(fixed)
        if sig != b"PK\x01\x02":
            raise ArchiveError("the zip central directory is corrupt")
        variable = _exact(fp, name_len + extra_len + comment_len, "central directory")
        raw_name, extra = variable[:name_len], variable[name_len:name_len + extra_len]
        consumed += _CENTRAL.size + len(variable)
        raw_name = raw_name.split(b"\0", 1)[0]  # as zipfile cuts it
        name = _decode_name(raw_name, flags)
        if wanted(name):
            if found is not None:
                raise ArchiveError(f"the zip archive holds {found.name} and {name}: only one"
                                   " may be its metadata")
            size, compressed, offset = _zip64_sizes(extra, size, compressed, offset)
            found = _Entry(name, variable[:name_len], flags, method, version, crc, compressed,
                           size, offset, external >> 16 if system == _UNIX else 0)
    return found, concat


def _end_record(fp: IO[bytes]) -> tuple[int, int, int, int]:
    """Member count, central directory size and offset, and bytes prepended to the zip."""
    end = fp.seek(0, os.SEEK_END)
    tail_start = max(0, end - _EOCD.size - _MAX_COMMENT)
    fp.seek(tail_start)
    tail = fp.read()
    at = _end_record_at(tail)
    _, disk, cd_disk, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    eocd_pos = tail_start + at
    record_start = eocd_pos
    locator_pos = eocd_pos - _EOCD64_LOCATOR.size
    if locator_pos >= 0:
        fp.seek(locator_pos)
        locator = fp.read(_EOCD64_LOCATOR.size)
        if locator[:4] == b"PK\x06\x07":
            record_start = locator_pos - _EOCD64.size
            if record_start < 0:
                raise ArchiveError("the zip64 end record is missing")
            fp.seek(record_start)
            record = _exact(fp, _EOCD64.size, "zip64 end record")
            (sig, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset) = _EOCD64.unpack(record)
            if sig != b"PK\x06\x06":
                raise ArchiveError("the zip64 end record is corrupt")
    if disk or cd_disk:
        raise ArchiveError("zip archives that span several disks are not supported")
    concat = record_start - cd_size - cd_offset
    if concat < 0:
        raise ArchiveError("the zip central directory lies outside the file")
    return count, cd_size, cd_offset, concat


def _end_record_at(tail: bytes) -> int:
    """Where the end record starts in the file's last bytes: the signature whose comment
    runs exactly to the end of the file. (A plain search can land on the signature's bytes
    inside the record's own fields.)"""
    at = len(tail)
    while (at := tail.rfind(b"PK\x05\x06", 0, at)) >= 0:
        if len(tail) - at >= _EOCD.size and (
                at + _EOCD.size + _EOCD.unpack_from(tail, at)[-1] == len(tail)):
            return at
    raise ArchiveError("not a zip archive (no end of central directory record)")


def _zip64_sizes(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from the zip64 extra field where the 32-bit ones overflowed."""
    wanted = [v == 0xFFFFFFFF for v in (size, compressed, offset)]
    if not any(wanted):
        return size, compressed, offset
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack_from("<2H", extra, position)
        if kind == 0x0001:
            if length < 8 * sum(wanted) or position + 4 + length > len(extra):
                raise ArchiveError("a zip64 extra field is shorter than its values")
            values = list(struct.unpack_from(f"<{sum(wanted)}Q", extra, position + 4))
            size, compressed, offset = (values.pop(0) if w else v for w, v in
                                        zip(wanted, (size, compressed, offset), strict=True))
            return size, compressed, offset
        position += 4 + length
    raise ArchiveError("a zip64 member has no zip64 extra field")


def _read_entry(fp: IO[bytes], entry: _Entry, concat: int, limits: Limits, label: str) -> bytes:
    if entry.flags & _ENCRYPTED_FLAG:
        raise ArchiveError(f"{label} is encrypted")
    kind = stat.S_IFMT(entry.mode)  # zero when the archiver recorded no file type
    if kind and kind != stat.S_IFREG:
        what = "symbolic link" if kind == stat.S_IFLNK else "special file"
        raise ArchiveError(f"{label} is a {what}, not a regular file")
    if entry.version > _MAX_ZIP_VERSION:
        raise ArchiveError(f"{label} needs zip version {entry.version / 10:.1f} to extract;"
                           f" at most {_MAX_ZIP_VERSION / 10:.1f} is supported")
    if entry.method not in (_STORED, _DEFLATED):
        raise ArchiveError(f"{label} uses compression method {entry.method}; only deflate (8)"
                           " and stored (0) are supported")
    check_size(entry.size, limits, label)
    fp.seek(entry.offset + concat)
    local = _exact(fp, _LOCAL.size, "local header")
    if local[:4] != b"PK\x03\x04":
        raise ArchiveError(f"the local header of {label} is corrupt")
    name_len, extra_len = _LOCAL.unpack(local)[-2:]
    if _exact(fp, name_len, "local header") != entry.raw_name:
        raise ArchiveError(f"{label} has another name in its local header than in the"
                           " central directory")
    fp.seek(extra_len, os.SEEK_CUR)
    inflate = zlib.decompressobj(-15) if entry.method == _DEFLATED else None
    out = bytearray()
    left = entry.compressed
    while left > 0:
        chunk = fp.read(min(_CHUNK, left))
        if not chunk:
            raise ArchiveError(f"{label} is truncated")
        left -= len(chunk)
        if inflate is None:
            out += chunk
        else:
            out += inflate.decompress(chunk, entry.size + 1 - len(out))
            while inflate.unconsumed_tail and len(out) <= entry.size:
                out += inflate.decompress(inflate.unconsumed_tail, entry.size + 1 - len(out))
        if len(out) > entry.size:
            raise ArchiveError(f"{label} unpacks to more than the {entry.size} bytes it declares")
        if inflate is not None and inflate.eof:
            break  # what follows the stream's end is not part of it: never read on

    if len(out) != entry.size or zlib.crc32(out) != entry.crc:
        raise ArchiveError(f"{label} is corrupt (its size or CRC does not match)")
    return bytes(out)


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & _UTF8_FLAG:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ArchiveError(f"the member name {raw[:80]!r} is flagged UTF-8 but is not"
                               ) from None
    return raw.decode("cp437")


def _exact(fp: IO[bytes], size: int, what: str) -> bytes:
    data = fp.read(size)
    if len(data) != size:
        raise ArchiveError(f"the zip {what} is truncated")
    return data
