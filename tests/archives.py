"""Hostile wheels and sdists, built on the spot (none is stored in the repository).

Each builder writes one archive to ``path`` and returns it; sizes that would be gigabytes
unpacked stay megabytes on disk. bench/hostile_archives.py builds the same files.
"""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB
METADATA = b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n"
PKG_INFO = b"Metadata-Version: 2.2\nName: evil\nVersion: 1.0\n"
WHEEL_NAME = "evil-1.0-py3-none-any.whl"
SDIST_NAME = "evil-1.0.tar.gz"
DIST_INFO = "evil-1.0.dist-info"


def zeros_deflated(size: int, *, raw: bool = True) -> Iterator[bytes]:
    """A deflate stream of ``size`` zero bytes, made from one compressed MiB repeated.

    A full flush resets the compressor, so the piece for one MiB can be emitted again
    and again: two GiB cost two MB and a fraction of a second.
    """
    make = zlib.compressobj(9, zlib.DEFLATED, -15 if raw else 31)
    head = make.compress(b"")  # the gzip header, when not raw
    piece = make.compress(b"\0" * MiB) + make.flush(zlib.Z_FULL_FLUSH)
    yield head
    for _ in range(size // MiB):
        yield piece
    yield make.flush(zlib.Z_FINISH)  # an empty final block (and the trailer)


# -- zip ---------------------------------------------------------------------------------------


@dataclass
class ZipEntry:
    """One member, with every field a hostile archive may lie about."""

    name: bytes
    data: bytes = b""  # as stored (already compressed when method is 8)
    method: int = 0
    size: int | None = None  # declared uncompressed size (default: len(data))
    crc: int | None = None
    flags: int = 0
    version: int = 20
    external: int = 0


def write_zip(path: Path, entries: list[ZipEntry], *, count: int | None = None,
              disk: int = 0) -> Path:
    """A zip whose end record declares ``count`` members (default: the true count)."""
    central = io.BytesIO()
    with open(path, "wb") as out:
        for entry in entries:
            size = len(entry.data) if entry.size is None else entry.size
            crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
            offset = out.tell()
            out.write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", entry.version, 0, entry.flags,
                                  entry.method, 0, 0, crc, len(entry.data), size,
                                  len(entry.name), 0))
            out.write(entry.name)
            out.write(entry.data)
            central.write(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, entry.version, 0,
                                      entry.flags, entry.method, 0, 0, crc, len(entry.data),
                                      size, len(entry.name), 0, 0, 0, 0, entry.external,
                                      offset))
            central.write(entry.name)
        start = out.tell()
        out.write(central.getvalue())
        declared = len(entries) if count is None else count
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", disk, disk, min(declared, 0xFFFF),
                              min(declared, 0xFFFF), len(central.getvalue()), start, 0))
    return path


def deflated(data: bytes) -> bytes:
    make = zlib.compressobj(6, zlib.DEFLATED, -15)
    return make.compress(data) + make.flush()


def metadata_entry(**fields) -> ZipEntry:  # type: ignore[no-untyped-def]
    return ZipEntry(f"{DIST_INFO}/METADATA".encode(), **fields)


def wheel(path: Path, entry: ZipEntry, **kw) -> Path:  # type: ignore[no-untyped-def]
    return write_zip(path / WHEEL_NAME, [ZipEntry(b"evil/__init__.py"), entry], **kw)


def zip_bomb_metadata(path: Path, unpacked: int = 2 * GiB) -> Path:
    """METADATA that claims 300 bytes and inflates to ``unpacked`` zeros."""
    data = b"".join(zeros_deflated(unpacked))
    return wheel(path, metadata_entry(data=data, method=8, size=300, crc=0))


def oversized_metadata(path: Path, size: int = 20 * MiB) -> Path:
    """An honest METADATA that is simply too large."""
    data = b"".join(zeros_deflated(size))
    return wheel(path, metadata_entry(data=data, method=8, size=size, crc=0))


def many_zip_members(path: Path, members: int, *, declared: int | None = None) -> Path:
    """A central directory of ``members`` tiny entries (METADATA last), declaring
    ``declared`` in its end record: the truth by default, or a lie."""
    entries = [ZipEntry(b"m/%d" % i) for i in range(members - 1)]
    entries.append(metadata_entry(data=METADATA))
    return write_zip(path / WHEEL_NAME, entries, count=declared)


def encrypted_metadata(path: Path) -> Path:
    return wheel(path, metadata_entry(data=METADATA, flags=0x1))


def unsupported_method(path: Path) -> Path:
    return wheel(path, metadata_entry(data=METADATA, method=14))  # LZMA


def unsupported_version(path: Path) -> Path:
    return wheel(path, metadata_entry(data=METADATA, version=90))


def corrupt_deflate(path: Path) -> Path:
    return wheel(path, metadata_entry(data=b"\xff" * 64, method=8, size=len(METADATA)))


def bad_crc(path: Path) -> Path:
    return wheel(path, metadata_entry(data=METADATA, crc=12345))


def false_utf8_name(path: Path) -> Path:
    entry = metadata_entry(data=METADATA)
    return write_zip(path / WHEEL_NAME, [ZipEntry(b"evil/\xff\xfe.py", flags=0x800), entry])


def symlinked_metadata(path: Path) -> Path:
    return wheel(path, metadata_entry(data=b"/etc/passwd", external=0o120777 << 16))


def multi_disk(path: Path) -> Path:
    return wheel(path, metadata_entry(data=METADATA), disk=1)


# -- tar.gz ------------------------------------------------------------------------------------


def header(name: str, *, size: int = 0, kind: bytes = tarfile.REGTYPE, link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname, info.mtime = size, kind, link, 1577836800
    return info.tobuf(tarfile.USTAR_FORMAT)


def member(name: str, data: bytes) -> bytes:
    padding = b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    return header(name, size=len(data)) + data + padding


def write_tgz(path: Path, pieces: Iterator[bytes]) -> Path:
    """Gzip the tar ``pieces`` (headers and data, already padded) and end the archive."""
    with gzip.open(path, "wb", compresslevel=1) as out:
        for piece in pieces:
            out.write(piece)
        out.write(b"\0" * 2 * tarfile.BLOCKSIZE)
    return path


def sdist(path: Path, *members: tuple[str, bytes]) -> Path:
    return write_tgz(path / SDIST_NAME, iter([member(n, d) for n, d in members]))


def _with_bomb(path: Path, header: bytes, unpacked: int) -> Path:
    """A tar.gz whose first header is ``header``, followed by ``unpacked`` zeros."""
    target = path / SDIST_NAME
    with open(target, "wb") as out:
        member = gzip.compress(header, compresslevel=1)
        out.write(member)
        # A second gzip member: gzip readers carry on across members.
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")
        crc = 0
        for piece in zeros_deflated(unpacked):
            out.write(piece)
        for offset in range(0, unpacked, MiB):
            crc = zlib.crc32(b"\0" * min(MiB, unpacked - offset), crc)
        out.write(struct.pack("<2L", crc, unpacked & 0xFFFFFFFF))
    return target


def huge_pax_header(path: Path, size: int = 2 * GiB) -> Path:
    """A pax extended header that states ``size`` bytes, and has them (zeros)."""
    return _with_bomb(path, header("evil-1.0/././@PaxHeader", size=size, kind=tarfile.XHDTYPE),
                      size)


def huge_gnu_long_name(path: Path, size: int = 2 * GiB) -> Path:
    return _with_bomb(path, header("././@LongLink", size=size, kind=tarfile.GNUTYPE_LONGNAME),
                      size)


def pkg_info_after_zeros(path: Path, size: int = 2 * GiB) -> Path:
    """PKG-INFO placed after a member of ``size`` zeros (so past the scan limit)."""
    target = _with_bomb(path, header("evil-1.0/zeros.bin", size=size), size)
    with open(target, "ab") as out:
        out.write(gzip.compress(member("evil-1.0/PKG-INFO", PKG_INFO) + b"\0" * 1024))
    return target


def many_tar_members(path: Path, members: int) -> Path:
    """``members`` empty files, PKG-INFO last."""
    def pieces() -> Iterator[bytes]:
        block = header("evil-1.0/m")
        for _ in range(members - 1):
            yield block
        yield member("evil-1.0/PKG-INFO", PKG_INFO)
    return write_tgz(path / SDIST_NAME, pieces())


def linked_pkg_info(path: Path, kind: bytes) -> Path:
    """PKG-INFO as a symbolic link, a hard link or a device node."""
    return write_tgz(path / SDIST_NAME, iter([
        member("evil-1.0/setup.py", b""),
        header("evil-1.0/PKG-INFO", kind=kind, link="/etc/passwd"),
    ]))


def escaping_pkg_info(path: Path) -> Path:
    """PKG-INFO only outside the sdist's directory: ``../PKG-INFO`` and ``/PKG-INFO``."""
    return sdist(path, ("../PKG-INFO", PKG_INFO), ("/PKG-INFO", PKG_INFO),
                 ("evil-1.0/../../PKG-INFO", PKG_INFO))


def corrupt_gzip(path: Path) -> Path:
    """A real sdist whose second half is overwritten."""
    target = sdist(path, ("evil-1.0/PKG-INFO", PKG_INFO), ("evil-1.0/setup.py", b"x" * 4096))
    data = target.read_bytes()
    half = len(data) // 2
    target.write_bytes(data[:half] + b"\xff" * (len(data) - half))
    return target


def extension(kind: bytes, body: bytes) -> bytes:
    """A pax or GNU extension header carrying ``body``, padded to whole blocks."""
    name = "././@PaxHeader" if kind in (tarfile.XHDTYPE, tarfile.XGLTYPE) else "././@LongLink"
    return header(name, size=len(body), kind=kind) + body + b"\0" * (-len(body) % 512)


def quadratic_pax_header(path: Path, size: int = 1 * MiB) -> Path:
    """A pax header of ``2 2 2 ...``: quadratic to parse for tarfile before CVE-2024-6232."""
    body = (b"2 " * (size // 2))[:size]
    return write_tgz(path / SDIST_NAME, iter([extension(tarfile.XHDTYPE, body),
                                               member("evil-1.0/PKG-INFO", PKG_INFO)]))


def sparse_member(path: Path) -> Path:
    """A GNU sparse member before PKG-INFO (tarfile keeps every sparse map entry)."""
    return write_tgz(path / SDIST_NAME, iter([
        header("evil-1.0/holes.bin", kind=tarfile.GNUTYPE_SPARSE),
        member("evil-1.0/PKG-INFO", PKG_INFO)]))


def pax_sparse_member(path: Path) -> Path:
    record = b"22 GNU.sparse.major=1\n"
    return write_tgz(path / SDIST_NAME, iter([extension(tarfile.XHDTYPE, record),
                                               member("evil-1.0/PKG-INFO", PKG_INFO)]))


def pax_record(key: str, value: str) -> bytes:
    """One pax record, ``LENGTH key=value\\n``, its length counting itself."""
    text = f" {key}={value}\n"
    length = len(text) + 1
    while len(f"{length}{text}") != length:
        length += 1
    return f"{length}{text}".encode()


def global_pax_over_members(path: Path, keys: int = 60_000, members: int = 5_000) -> Path:
    """A 1 MiB global pax header, then ``members`` empty members and PKG-INFO last
    (tarfile applies every global key to every later member)."""
    body = b"".join(pax_record(f"k{i}", "v") for i in range(keys))[: MiB - 64]
    body = body[: body.rfind(b"\n") + 1]

    def pieces() -> Iterator[bytes]:
        yield extension(tarfile.XGLTYPE, body)
        block = header("evil-1.0/m")
        for _ in range(members):
            yield block
        yield member("evil-1.0/PKG-INFO", PKG_INFO)
    return write_tgz(path / SDIST_NAME, pieces())


def long_name_chain(path: Path, count: int = 300, size: int = MiB - 512) -> Path:
    """``count`` GNU long names of ``size`` bytes in a row before one member (tarfile holds
    every one of them on the stack, and lets the first win where GNU tar lets the last)."""
    def pieces() -> Iterator[bytes]:
        name = extension(tarfile.GNUTYPE_LONGNAME, b"n" * size)
        for _ in range(count):
            yield name
        yield header("evil-1.0/named-by-a-long-name")
        yield member("evil-1.0/PKG-INFO", PKG_INFO)
    return write_tgz(path / SDIST_NAME, pieces())


def long_names(path: Path, count: int = 300, size: int = MiB - 512) -> Path:
    """``count`` members, each named by a GNU long name of ``size`` bytes, then PKG-INFO."""
    def pieces() -> Iterator[bytes]:
        name = extension(tarfile.GNUTYPE_LONGNAME, b"n" * size)
        named = header("evil-1.0/named-by-the-long-name")
        for _ in range(count):
            yield name
            yield named
        yield member("evil-1.0/PKG-INFO", PKG_INFO)
    return write_tgz(path / SDIST_NAME, pieces())


def pax_record_flood(path: Path, headers: int = 1000) -> Path:
    """Pax headers of 1 MiB, each made of five-byte records (``5 a=\n``)."""
    body = b"5 a=\n" * ((MiB - 512) // 5)

    def pieces() -> Iterator[bytes]:
        empty = header("evil-1.0/m")
        for _ in range(headers):
            yield extension(tarfile.XHDTYPE, body)
            yield empty
        yield member("evil-1.0/PKG-INFO", PKG_INFO)
    return write_tgz(path / SDIST_NAME, pieces())


def zip_with_trailing_junk(path: Path, junk: int = 64 * MiB) -> Path:
    """METADATA whose compressed size takes in ``junk`` bytes after the deflate stream's end
    (each piece after the end used to be appended to the decompressor's leftovers)."""
    data = deflated(METADATA) + b"\0" * junk
    return wheel(path, metadata_entry(data=data, method=8, size=len(METADATA),
                                      crc=zlib.crc32(METADATA)))


# -- unusual but valid, and ambiguous ----------------------------------------------------------


def end_record_with_its_signature_inside(path: Path) -> Path:
    """19,280 members (0x4B50, 'PK') and a directory size of 0x..0605: the end record's own
    fields spell the end record's signature."""
    entries = [ZipEntry(b"m/%05d" % i) for i in range(0x4B50 - 1)]
    entries.append(metadata_entry(data=METADATA))
    size = sum(46 + len(e.name) for e in entries)
    entries[0].name += b"x" * ((0x0605 - size) % 0x10000)
    return write_zip(path / WHEEL_NAME, entries)


def two_metadata_members(path: Path) -> Path:
    return write_zip(path / WHEEL_NAME, [metadata_entry(data=METADATA),
                                          metadata_entry(data=METADATA.replace(b"1.0", b"2.0"))])


def tar_of(path: Path, *blocks: bytes) -> Path:
    return write_tgz(path / SDIST_NAME, iter(blocks))
