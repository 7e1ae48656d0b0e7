"""Real faults, not mocks: the data directory on a small tmpfs, filled to the last byte
(tests/disks.py: mounting needs root, as CI runs)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from webtest import TestApp

import pypireg

from .disks import fill, tmpfs
from .distributions import wheel_bytes, wheel_name
from .helpers import API, basic, sha256


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 16 MiB tmpfs for the test."""
    with tmpfs(tmp_path / "disk") as disk:
        yield disk


def test_reads_with_tokens_go_on_when_the_disk_is_full(small_disk, caplog) -> None:
    registry = pypireg.create_app(small_disk / "data")
    registry.create_group("acme", "private")
    registry.create_project("acme/tools", "private")
    writer = registry.create_token("writer", ["acme/tools:write"])
    readers = [registry.create_token(f"reader{n}", ["acme/tools:read"]) for n in range(3)]
    app = TestApp(registry)
    data = wheel_bytes("pkg", "1.0")
    app.post(API.format(project="acme/tools"), params=[("name", "pkg"), ("version", "1.0")],
             upload_files=[("content", wheel_name("pkg", "1.0"), data)],
             headers=basic(writer), status=201)
    page = "/projects/acme%2Ftools/packages/pypi/simple/pkg/"
    download = f"/projects/acme/tools/packages/pypi/files/{sha256(data)}/{wheel_name('pkg', '1.0')}"
    listing = "/projects/acme%2Ftools/packages"
    app.get(download, headers=basic(writer), status=200)  # a download time, not yet written
    # The write-ahead log back to nothing, so that the next write must grow it.
    registry.catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fill(small_disk)

    with caplog.at_level(logging.WARNING, logger="pypireg"):
        for reader in readers:  # each first use of a token would write its last use
            app.get(page, headers=basic(reader), status=200)
            app.get(download, headers=basic(reader), status=200)
            (listed,) = app.get(listing, headers=basic(reader), status=200).json
            assert listed["last_downloaded_at"] is None  # flushing it failed, quietly
    failures = [r.getMessage() for r in caplog.records if "cannot record" in r.getMessage()]
    assert len([m for m in failures if "tokens' last use" in m]) == 1  # once, not per request
    assert len([m for m in failures if "download times" in m]) == 1
    assert all("no space left on the catalog's disk" in m for m in failures), failures

    (small_disk / "fill").unlink()  # the disk has room again: the kept times are written
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pypireg"):
        (listed,) = app.get(listing, headers=basic(readers[0]), status=200).json
    assert listed["last_downloaded_at"] is not None
    assert any("download times works again" in r.getMessage() for r in caplog.records)
    used = {t.name: t.last_used_at for t in registry.list_tokens()}
    assert used["reader0"] is not None  # its next sign-in wrote it


def test_an_upload_to_a_full_disk_is_a_507_and_leaves_nothing(small_disk) -> None:
    registry = pypireg.create_app(small_disk / "data")
    registry.create_group("acme", "private")
    registry.create_project("acme/tools", "private")
    writer = registry.create_token("writer", ["acme/tools:write"])
    app = TestApp(registry)

    def upload(version: str, payload: str = ""):  # type: ignore[no-untyped-def]
        data = wheel_bytes("pkg", version, payload=payload)
        return app.post(API.format(project="acme/tools"),
                        params=[("name", "pkg"), ("version", version)],
                        upload_files=[("content", wheel_name("pkg", version), data)],
                        headers=basic(writer), status="*")

    assert upload("1.0").status_int == 201
    files_before = sorted(p.name for p in (small_disk / "data" / "files").rglob("*"))
    fill(small_disk)
    small = upload("1.5")  # held in a buffer until the staging file is closed
    assert small.status_int == 507, small
    assert list(Path(registry.staging_dir).iterdir()) == []
    refused = upload("2.0", payload="#" + os.urandom(256 * 1024).hex())  # no room for it
    assert refused.status_int == 507
    assert refused.json == {"message": "507 Insufficient Storage - no space left on the"
                                       " registry's storage"}
    assert refused.status == refused.json["message"]  # twine prints the status line
    # Nothing of it is left: no staging file, no blob, no row.
    assert list(Path(registry.staging_dir).iterdir()) == []
    assert sorted(p.name for p in (small_disk / "data" / "files").rglob("*")) == files_before
    assert registry.catalog.value("SELECT count(*) FROM package_files") == 1
    page = app.get("/projects/acme%2Ftools/packages/pypi/simple/pkg/", headers=basic(writer))
    assert "pkg-1.0-py3-none-any.whl" in page.text and "2.0" not in page.text

    (small_disk / "fill").unlink()
    assert upload("2.0", payload="#" + os.urandom(256 * 1024).hex()).status_int == 201


def test_a_full_catalog_takes_no_change_and_says_why(small_disk, tmp_path) -> None:
    """The catalog alone on the full disk: its files and staging have room."""
    from pypireg.storage import FileSystemStorage

    registry = pypireg.create_app(catalog=f"sqlite:///{small_disk}/catalog.db",
                                  storage=FileSystemStorage(str(tmp_path / "files")),
                                  staging_dir=str(tmp_path / "staging"))
    registry.create_group("acme", "private")
    registry.create_project("acme/tools", "private")
    writer = registry.create_token("writer", ["acme/tools:delete"])
    app = TestApp(registry)
    data = wheel_bytes("pkg", "1.0")
    fields = [("name", "pkg"), ("version", "1.0")]
    registry.catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fill(small_disk)
    refused = app.post(API.format(project="acme/tools"), params=fields,
                       upload_files=[("content", wheel_name("pkg", "1.0"), data)],
                       headers=basic(writer), status=503)
    assert refused.json == {"message": "503 Service Unavailable - the registry is read-only:"
                                       " no space left on the catalog's disk"}
    assert list((tmp_path / "staging").iterdir()) == []
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []  # no blob
    app.get("/projects/acme%2Ftools/packages", headers=basic(writer), status=200)  # reads go on

    (small_disk / "fill").unlink()
    app.post(API.format(project="acme/tools"), params=fields,
             upload_files=[("content", wheel_name("pkg", "1.0"), data)],
             headers=basic(writer), status=201)
