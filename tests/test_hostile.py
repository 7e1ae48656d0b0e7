"""Hostile archives: each is refused with a 400 that says why, at a bounded cost.

Every file is built in the test (tests/archives.py). The peak memory growth of the whole
upload (request encoding included) is read from the kernel's high-water mark, reset
before each upload, so allocations inside zlib count too (tests/helpers.py's
peak_growth).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from werkzeug.test import Client

import pypireg
from pypireg import dists

from . import archives
from .distributions import sdist_bytes, wheel_bytes, wheel_name
from .helpers import API, Env, peak_growth, stored_state

MEMORY_BOUND = 64 * 1024 * 1024


def upload_file(env: Env, path: Path, name: str = "evil", version: str = "1.0", **fields):  # type: ignore[no-untyped-def]
    """POST ``path`` as twine would; werkzeug spools the body to disk, not to memory."""
    with open(path, "rb") as stream:
        return Client(env.registry).post(
            API.format(project="acme/tools"),
            data={"name": name, "version": version, **fields, "content": (stream, path.name)},
            headers={"PRIVATE-TOKEN": env.writer},
        )


HOSTILE = {
    "zip-bomb-metadata": (archives.zip_bomb_metadata,
                          "METADATA unpacks to more than the 300 bytes it declares"),
    "oversized-metadata": (archives.oversized_metadata, "METADATA is 20971520 bytes; the limit"),
    "zip-central-directory-of-110k": (lambda p: archives.many_zip_members(p, 110_000),
                                      "more than 100000 members"),
    "zip-member-count-that-lies": (lambda p: archives.many_zip_members(p, 110_000, declared=2),
                                   "more than 100000 members"),
    "zip-encrypted": (archives.encrypted_metadata, "METADATA is encrypted"),
    "zip-unsupported-method": (archives.unsupported_method, "compression method 14"),
    "zip-unsupported-version": (archives.unsupported_version, "needs zip version 9.0"),
    "zip-corrupt-deflate": (archives.corrupt_deflate, "cannot read the zip archive"),
    "zip-bad-crc": (archives.bad_crc, "size or CRC does not match"),
    "zip-name-flagged-utf8": (archives.false_utf8_name, "is flagged UTF-8 but is not"),
    "zip-symlinked-metadata": (archives.symlinked_metadata, "METADATA is a symbolic link"),
    "zip-multi-disk": (archives.multi_disk, "span several disks"),
    "not-a-zip": (lambda p: _write(p / archives.WHEEL_NAME, b"PK\x03\x04 truncated"),
                  "not a zip archive"),
    "tar-huge-pax-header": (archives.huge_pax_header,
                            "header extension (pax header or long name) of 2147483648 bytes"),
    "tar-huge-gnu-long-name": (archives.huge_gnu_long_name,
                               "header extension (pax header or long name) of 2147483648"),
    "tar-pkg-info-after-2-gib-of-zeros": (archives.pkg_info_after_zeros,
                                          "no PKG-INFO in the first 1073741824 unpacked bytes"),
    "tar-110k-members": (lambda p: archives.many_tar_members(p, 110_000),
                         "more than 100000 members"),
    "tar-symlinked-pkg-info": (lambda p: archives.linked_pkg_info(p, tarfile.SYMTYPE),
                               "PKG-INFO is a symbolic link"),
    "tar-hard-linked-pkg-info": (lambda p: archives.linked_pkg_info(p, tarfile.LNKTYPE),
                                 "PKG-INFO is a hard link"),
    "tar-device-pkg-info": (lambda p: archives.linked_pkg_info(p, tarfile.CHRTYPE),
                            "PKG-INFO is a device, not a regular file"),
    "tar-pkg-info-outside-its-directory": (archives.escaping_pkg_info,
                                           "holds no <name>/PKG-INFO"),
    "tar-corrupt-gzip": (archives.corrupt_gzip, "cannot read the tar.gz archive"),
    "tar-quadratic-pax-header": (archives.quadratic_pax_header, "pax header of the tar archive"
                                                                " is corrupt"),
    "tar-sparse-member": (archives.sparse_member, "sparse member"),
    "tar-pax-sparse-member": (archives.pax_sparse_member, "sparse member"),
    "tar-pax-record-flood": (archives.pax_record_flood, "has more than 64 records"),
    "tar-global-pax-header-of-60k-records": (archives.global_pax_over_members,
                                             "has more than 64 records"),
    "tar-300-long-names-in-a-row": (archives.long_name_chain,
                                    "more than one long name or pax header"),
}

# Hostile, yet valid: read (and stored) at the same bounded cost.
HOSTILE_BUT_VALID = {
    "tar-300-members-named-by-1-mib-long-names": archives.long_names,
    "zip-64-mib-after-the-deflate-stream": archives.zip_with_trailing_junk,
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archive_is_refused_with_its_reason(fs_env: Env, tmp_path, case: str) -> None:
    build, reason = HOSTILE[case]
    (tmp_path / "in").mkdir()
    path = build(tmp_path / "in")
    before = stored_state(fs_env)
    response, growth = peak_growth(lambda: upload_file(fs_env, path))
    assert response.status_code == 400, response.text
    assert reason in response.json["message"]
    assert growth < MEMORY_BOUND, f"memory grew by {growth / 2**20:.0f} MiB"
    assert stored_state(fs_env) == before  # nothing stored, no staging file left


@pytest.mark.parametrize("case", list(HOSTILE_BUT_VALID))
def test_hostile_but_valid_archive_is_read_at_bounded_cost(fs_env: Env, tmp_path,
                                                          case: str) -> None:
    (tmp_path / "in").mkdir()
    path = HOSTILE_BUT_VALID[case](tmp_path / "in")
    response, growth = peak_growth(lambda: upload_file(fs_env, path))
    assert response.status_code == 201, response.text
    assert growth < MEMORY_BOUND, f"memory grew by {growth / 2**20:.0f} MiB"
    metadata = fs_env.registry.catalog.db.execute(
        "SELECT metadata_key FROM package_files").fetchone()[0]
    with fs_env.registry.storage.open(metadata) as stored:
        assert stored.read() in (archives.METADATA, archives.PKG_INFO)


def test_nothing_is_extracted_from_an_sdist(fs_env: Env, tmp_path) -> None:
    """Members with ``..`` or absolute paths are never written anywhere."""
    (tmp_path / "in").mkdir()
    path = archives.escaping_pkg_info(tmp_path / "in")
    assert upload_file(fs_env, path).status_code == 400
    # Where an extraction would have put them: the staging and data dirs, or here.
    written = [p for p in tmp_path.rglob("PKG-INFO")] + list(Path.cwd().glob("PKG-INFO"))
    assert written == []


def test_the_limits_are_the_registrys_own(tmp_path) -> None:
    """A registry can tighten (or loosen) any bound; the message follows it."""
    limits = pypireg.Limits(max_metadata_size=100, max_archive_members=4)  # a wheel has 4
    env = Env(pypireg.create_app(staging_dir=str(tmp_path / "s"), limits=limits))
    (tmp_path / "in").mkdir()
    response = upload_file(env, archives.many_zip_members(tmp_path / "in", 6))
    assert "declares 6 members; the limit is 4" in response.json["message"]
    big = wheel_bytes("pkg", "1.0", payload="")
    response = env.upload("acme/tools", wheel_name("pkg", "1.0"), big, token=env.writer,
                          name="pkg", version="1.0")
    assert response.status_int == 201  # its METADATA is under 100 bytes
    roomy = wheel_bytes("pkg", "1.1", requires_python=">=3.8,!=3.9.*,!=3.10.*,<4" * 2)
    response = env.upload("acme/tools", wheel_name("pkg", "1.1"), roomy, token=env.writer,
                          name="pkg", version="1.1")
    assert response.status_int == 400
    assert "METADATA is" in response.json["message"] and "the limit is 100" in response.text


def test_a_real_zip64_wheel_is_read(tmp_path) -> None:
    """More than 65,535 members: the zip64 end record is followed to the directory."""
    import zipfile

    path = tmp_path / archives.WHEEL_NAME
    with zipfile.ZipFile(path, "w") as wheel:
        for i in range(70_000):
            wheel.writestr(f"evil/m{i}", b"")
        wheel.writestr(f"{archives.DIST_INFO}/METADATA", archives.METADATA)
    assert dists.metadata_bytes(str(path)) == archives.METADATA


def test_prepended_bytes_are_allowed_as_zipfile_allows_them(tmp_path) -> None:
    path = tmp_path / "plain.whl"
    path.write_bytes(wheel_bytes("evil", "1.0"))
    shifted = tmp_path / archives.WHEEL_NAME
    shifted.write_bytes(b"#!/bin/sh\n" * 10 + path.read_bytes())
    assert b"Name: evil" in dists.metadata_bytes(str(shifted))


def test_import_and_gc_read_archives_under_the_same_bounds(tmp_path, capsys) -> None:
    from pypireg.cli import main

    data = tmp_path / "data"
    registry = pypireg.create_app(data)
    registry.create_project("mirror", "private")
    source = tmp_path / "packages"
    source.mkdir()
    archives.zip_bomb_metadata(source)
    assert main(["import", str(source), "--project", "mirror", "--data", str(data)]) == 1
    assert "unpacks to more than the 300 bytes" in capsys.readouterr().err
    assert registry.catalog.value("SELECT count(*) FROM package_files") == 0


# -- Requires-Python comes from the file -------------------------------------------------------


def _requires_python(env: Env, name: str) -> str:
    page = env.app.get(API.format(project="acme/tools") + f"/simple/{name}/",
                       headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    (only,) = page.json["files"]
    return only.get("requires-python", "")


def test_requires_python_comes_from_the_wheel_when_the_form_has_none(env: Env) -> None:
    data = wheel_bytes("pkg", "1.0", ">=3.9")
    env.upload("acme/tools", wheel_name("pkg", "1.0"), data, token=env.writer, name="pkg",
               version="1.0", status=201)  # as curl would: no requires_python field
    assert _requires_python(env, "pkg") == ">=3.9"
    page = env.app.get(API.format(project="acme/tools") + "/simple/pkg/")
    assert 'data-requires-python="&gt;=3.9"' in page.text


def test_the_files_requires_python_wins_over_the_forms(env: Env) -> None:
    data = sdist_bytes("pkg", "1.0", ">=3.10")
    env.upload("acme/tools", "pkg-1.0.tar.gz", data, token=env.writer, name="pkg",
               version="1.0", requires_python=">=2.7", status=201)
    assert _requires_python(env, "pkg") == ">=3.10"


def test_the_forms_requires_python_stands_when_the_file_has_none(env: Env) -> None:
    data = wheel_bytes("pkg", "1.0")
    env.upload("acme/tools", wheel_name("pkg", "1.0"), data, token=env.writer, name="pkg",
               version="1.0", requires_python=">=3.8", status=201)
    assert _requires_python(env, "pkg") == ">=3.8"


def test_an_invalid_requires_python_in_the_file_is_refused(env: Env) -> None:
    data = wheel_bytes("pkg", "1.0", "three or later")
    response = env.upload("acme/tools", wheel_name("pkg", "1.0"), data, token=env.writer,
                          name="pkg", version="1.0")
    assert response.status_int == 400
    assert "the file's Requires-Python 'three or later'" in response.json["message"]


# -- what tarfile and zipfile read, read the same; what they would read differently, refused --

TAR_AGREES = {
    "a directory with a size holds no data": lambda p: archives.tar_of(
        p, archives.header("evil-1.0/docs", size=4096, kind=tarfile.DIRTYPE),
        archives.member("evil-1.0/PKG-INFO", archives.PKG_INFO)),
    "a symbolic link with a size holds no data": lambda p: archives.tar_of(
        p, archives.header("evil-1.0/l", size=600, kind=tarfile.SYMTYPE, link="x"),
        archives.member("evil-1.0/PKG-INFO", archives.PKG_INFO)),
    "a Solaris X header names the member": lambda p: archives.tar_of(
        p, archives.extension(b"X", archives.pax_record("path", "evil-1.0/PKG-INFO")),
        archives.member("evil-1.0/renamed", archives.PKG_INFO)),
    "a pax path loses its trailing slash": lambda p: archives.tar_of(
        p, archives.extension(tarfile.XHDTYPE, archives.pax_record("path", "evil-1.0/PKG-INFO/")),
        archives.member("evil-1.0/renamed", archives.PKG_INFO)),
    "a long name stops at its first NUL": lambda p: archives.tar_of(
        p, archives.extension(tarfile.GNUTYPE_LONGNAME, b"evil-1.0/PKG-INFO\0junk"),
        archives.member("evil-1.0/renamed", archives.PKG_INFO)),
    "the last member may lack its padding": lambda p: _write(
        p / archives.SDIST_NAME, __import__("gzip").compress(
            archives.header("evil-1.0/PKG-INFO", size=len(archives.PKG_INFO))
            + archives.PKG_INFO)),
}


@pytest.mark.parametrize("case", list(TAR_AGREES))
def test_the_tar_reader_agrees_with_tarfile(tmp_path, case: str) -> None:
    path = TAR_AGREES[case](tmp_path)
    with tarfile.open(path) as archive:  # read only as far as the member
        member = next(m for m in archive if m.name == "evil-1.0/PKG-INFO")
        expected = archive.extractfile(member).read()  # type: ignore[union-attr]
    assert dists.metadata_bytes(str(path)) == expected == archives.PKG_INFO


TAR_AMBIGUOUS = {
    "two long names for one member": (lambda p: archives.tar_of(
        p, archives.extension(tarfile.GNUTYPE_LONGNAME, b"evil-1.0/PKG-INFO"),
        archives.extension(tarfile.GNUTYPE_LONGNAME, b"evil-1.0/other"),
        archives.member("evil-1.0/x", archives.PKG_INFO)),
        "more than one long name or pax header"),
    "a long name and a pax path": (lambda p: archives.tar_of(
        p, archives.extension(tarfile.GNUTYPE_LONGNAME, b"evil-1.0/PKG-INFO"),
        archives.extension(tarfile.XHDTYPE, archives.pax_record("path", "evil-1.0/other")),
        archives.member("evil-1.0/x", archives.PKG_INFO)),
        "more than one long name or pax header"),
    "a global header that renames": (lambda p: archives.tar_of(
        p, archives.extension(tarfile.XGLTYPE, archives.pax_record("path", "evil-1.0/PKG-INFO")),
        archives.member("evil-1.0/x", archives.PKG_INFO)),
        "a global pax header of the tar archive renames members"),
}


@pytest.mark.parametrize("case", list(TAR_AMBIGUOUS))
def test_tar_archives_readers_disagree_on_are_refused(tmp_path, case: str) -> None:
    build, reason = TAR_AMBIGUOUS[case]
    with pytest.raises(dists.InvalidDistribution, match=reason):
        dists.metadata_bytes(str(build(tmp_path)))


def test_an_end_record_whose_fields_spell_its_signature_is_found(tmp_path) -> None:
    import zipfile

    path = archives.end_record_with_its_signature_inside(tmp_path)
    tail = path.read_bytes()[-22:]
    assert tail.count(b"PK\x05\x06") == 2  # the record's own, and one in its fields
    with zipfile.ZipFile(path) as wheel:
        assert wheel.read(f"{archives.DIST_INFO}/METADATA") == archives.METADATA
    assert dists.metadata_bytes(str(path)) == archives.METADATA


def test_a_second_metadata_member_is_refused(tmp_path) -> None:
    with pytest.raises(dists.InvalidDistribution, match="only one may be its metadata"):
        dists.metadata_bytes(str(archives.two_metadata_members(tmp_path)))


def test_a_local_header_naming_another_member_is_refused(tmp_path) -> None:
    path = archives.wheel(tmp_path, archives.metadata_entry(data=archives.METADATA))
    data = path.read_bytes()
    name = f"{archives.DIST_INFO}/METADATA".encode()
    local = data.index(name)  # the first occurrence is the local header's
    path.write_bytes(data[:local] + name.replace(b"METADATA", b"METADATX") + data[local
                                                                               + len(name):])
    with pytest.raises(dists.InvalidDistribution, match="another name in its local header"):
        dists.metadata_bytes(str(path))
