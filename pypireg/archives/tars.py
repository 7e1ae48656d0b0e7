"""tar.gz sdists: headers read one 512-byte block at a time, under every budget.

Only what finding one member needs is understood: ustar, GNU and v7 headers, GNU long
names, and the ``path`` and ``size`` records of pax headers (parsed in one linear pass).
Global pax headers are skipped, and sparse members are refused: no sdist builder writes
them. Member data is skipped by unpacking and discarding it in bounded pieces, and no more
than ``Limits.max_archive_scan_size`` bytes are ever unpacked.
"""

from __future__ import annotations

import gzip
import itertools
from dataclasses import dataclass

from ..limits import Limits
from .base import ArchiveError, Wanted, check_size, describe

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_SKIP_CHUNK = 1024 * 1024
_REGULAR = (b"0", b"\0", b"7")  # regular file, old regular file, contiguous file
_PAX = (b"x", b"X")  # POSIX pax header, and Solaris's older spelling of it
_MAX_PAX_RECORDS = 64  # real pax headers carry a dozen at most
_KINDS = {b"1": "hard link", b"2": "symbolic link", b"3": "device", b"4": "device",
          b"5": "directory", b"6": "pipe"}
_MAX_SIZE_DIGITS = 20  # a pax size beyond this is no real member's


def tar_member(path: str, wanted: Wanted, limits: Limits, label: str) -> bytes | None:
    """The first regular-file member ``wanted`` accepts, or None; links are refused."""
    try:
        with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as unpacked:
            return _scan(_Blocks(unpacked, limits), wanted, limits, label)
    except ArchiveError:
        raise
    except Exception as exc:  # anything gzip, zlib or the OS can raise on a hostile file
        raise ArchiveError(f"cannot read the tar.gz archive: {describe(exc)}") from None


def _scan(blocks: _Blocks, wanted: Wanted, limits: Limits, label: str) -> bytes | None:
    pending = _Pending()  # long name or pax records, for the next member
    for seen in itertools.count(1):
        if seen > limits.max_archive_members:
            raise ArchiveError(f"the tar archive has more than {limits.max_archive_members}"
                               " members")
        block = blocks.header()
        if block is None and seen == 1:
            raise ArchiveError("the tar.gz archive is empty")
        if block is None or block == _ZERO_BLOCK:
            return None  # the end of the archive
        header = _Header.parse(block, first=seen == 1)
        if header.kind == b"L":
            pending.long_name(blocks.extension(header.size))
        elif header.kind in _PAX:
            pending.pax(_pax_records(blocks.extension(header.size)))
        elif header.kind == b"g":
            if set(_pax_records(blocks.extension(header.size))) & {"path", "size"}:
                raise ArchiveError("a global pax header of the tar archive renames members")
        elif header.kind == b"K":  # GNU long link name: links are never read
            blocks.extension(header.size)
        elif header.kind == b"S":
            raise ArchiveError("the tar archive has a sparse member; sdists have none")
        else:
            name, size = pending.take(header)
            if wanted(name):
                if header.kind not in _REGULAR:
                    kind = _KINDS.get(header.kind, "special member")
                    raise ArchiveError(f"{label} is a {kind}, not a regular file")
                check_size(size, limits, label)
                return blocks.data(size, label)
            if header.kind in _REGULAR or header.kind not in _KINDS:
                blocks.skip(size)  # as tarfile: links, devices and directories hold no data
    return None  # not reached: count() never ends


class _Pending:
    """What extension headers say about the next member. One of them at most: tarfile and
    GNU tar disagree on which wins when there are several, so several are refused."""

    _name: str | None
    _size: int | None
    _given: bool

    def __init__(self) -> None:
        self._clear()

    def long_name(self, body: bytes) -> None:
        self._once()
        self._name = _text(body.split(b"\0", 1)[0])

    def pax(self, records: dict[str, str]) -> None:
        self._once()
        if "path" in records:
            self._name = records["path"].rstrip("/")
        if "size" in records:
            self._size = _pax_size(records["size"])

    def take(self, header: _Header) -> tuple[str, int]:
        name = self._name if self._name is not None else header.name
        size = self._size if self._size is not None else header.size
        self._clear()
        return name, size

    def _clear(self) -> None:
        self._name = None
        self._size = None
        self._given = False

    def _once(self) -> None:
        if self._given:
            raise ArchiveError("a tar member has more than one long name or pax header")
        self._given = True


@dataclass(frozen=True)
class _Header:
    name: str
    size: int
    kind: bytes

    @classmethod
    def parse(cls, block: bytes, *, first: bool) -> _Header:
        stored = _octal(block[148:156], "checksum")
        rest = block[:148] + block[156:]
        unsigned = sum(rest) + 8 * ord(" ")  # the checksum field itself counts as spaces
        # Some old tars summed the bytes as signed.
        if stored != unsigned and stored != unsigned - 256 * sum(b > 127 for b in rest):
            raise ArchiveError("not a tar archive" if first else
                               "a tar header is corrupt (its checksum does not match)")
        name = _text(block[:100].split(b"\0", 1)[0])
        kind = block[156:157]
        if kind == b"\0" and name.endswith("/"):
            kind = b"5"  # an old-style directory
        if kind == b"5":
            name = name.rstrip("/")
        # As tarfile reads it, whatever the magic: the POSIX prefix of a long name.
        prefix = _text(block[345:500].split(b"\0", 1)[0])
        if prefix and kind not in (b"L", b"K", b"S"):
            name = f"{prefix}/{name}"
        return cls(name, _size(block[124:136]), kind)


class _Blocks:
    """The unpacked stream, read forward only, never past the scan budget."""

    def __init__(self, stream: gzip.GzipFile, limits: Limits) -> None:
        self._stream = stream
        self._limits = limits
        self._position = 0

    def header(self) -> bytes | None:
        block = self._read(BLOCK)
        if not block:
            return None
        if len(block) != BLOCK:
            raise ArchiveError("the tar archive ends in the middle of a header")
        return block

    def extension(self, size: int) -> bytes:
        """A pax header's or long name's body with its padding, as tarfile reads it (up to
        the first NUL of the whole block); refused before reading when too large."""
        if size > self._limits.max_archive_header_size:
            raise ArchiveError(
                f"the tar archive has a header extension (pax header or long name) of {size}"
                f" bytes; the limit is {self._limits.max_archive_header_size}")
        padded = _padded(size)
        return self.data(padded, "a tar header extension")

    def data(self, size: int, label: str) -> bytes:
        self._check_budget(_padded(size))
        data = self._read(size)
        if len(data) != size:
            raise ArchiveError(f"{label} is truncated")
        self._read(_padded(size) - size)  # the padding (a last member may lack it)
        return data

    def skip(self, size: int) -> None:
        left = _padded(size)
        self._check_budget(left)
        while left:
            piece = self._read(min(left, _SKIP_CHUNK))
            if not piece:
                raise ArchiveError("the tar archive ends in the middle of a member")
            left -= len(piece)

    def _check_budget(self, more: int) -> None:
        if self._position + more > self._limits.max_archive_scan_size:
            raise ArchiveError(
                f"no PKG-INFO in the first {self._limits.max_archive_scan_size} unpacked bytes"
                " of the archive (the scan limit)")

    def _read(self, size: int) -> bytes:
        self._check_budget(size)
        data = self._stream.read(size)
        self._position += len(data)
        return data


def _pax_records(body: bytes) -> dict[str, str]:
    """The ``path`` and ``size`` of a pax header's ``LENGTH key=value\\n`` records."""
    found: dict[str, str] = {}
    position = records = 0
    while position < len(body) and body[position:position + 1] != b"\0":
        records += 1
        if records > _MAX_PAX_RECORDS:
            raise ArchiveError(f"a pax header of the tar archive has more than"
                               f" {_MAX_PAX_RECORDS} records")
        space = body.find(b" ", position, position + 12)
        length = body[position:space]
        if space < 0 or not length.isdigit() or int(length) < space - position + 3:
            raise ArchiveError("a pax header of the tar archive is corrupt")
        end = position + int(length)
        record = body[space + 1:end]
        if end > len(body) or not record.endswith(b"\n") or b"=" not in record:
            raise ArchiveError("a pax header of the tar archive is corrupt")
        key, _, value = record[:-1].partition(b"=")
        if key.startswith(b"GNU.sparse."):
            raise ArchiveError("the tar archive has a sparse member; sdists have none")
        if key in (b"path", b"size"):
            found[key.decode()] = _text(value)
        position = end
    return found


def _size(field: bytes) -> int:
    if field[:1] == b"\x80":  # GNU base-256 for sizes of 8 GiB and more
        return int.from_bytes(field[1:], "big")
    if field[:1] == b"\xff":
        raise ArchiveError("a tar header has a negative size")
    return _octal(field, "size")


def _octal(field: bytes, what: str) -> int:
    digits = field.split(b"\0", 1)[0].strip()
    if not digits:
        return 0
    if not all(48 <= c <= 55 for c in digits):  # 0-7 only
        raise ArchiveError(f"a tar header's {what} is not a number")
    return int(digits, 8)


def _pax_size(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > _MAX_SIZE_DIGITS:
        raise ArchiveError(f"a pax header's size {value[:40]!r} is not a size")
    return int(value)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
