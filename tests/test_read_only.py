"""A registry started on a disk that cannot be written (full, or mounted read-only, or a
read-only catalog file such as a restored backup) serves reads, answers changes with a
503 that says why, reports it at /-/readiness, and takes changes again once the disk
does, without a restart. Real mounts, as in test_faults.py."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from webtest import TestApp

import pypireg
from pypireg import health_checks, mount

from .disks import fill, read_only, tmpfs, writable, written_before
from .distributions import wheel_bytes, wheel_name
from .helpers import API, basic, sha256

PAGE = "/api/v4/projects/acme%2Ftools/packages/pypi/simple/pkg/"
LISTING = "/api/v4/projects/acme%2Ftools/packages"
ONE = wheel_bytes("pkg", "1.0")
TWO = wheel_bytes("pkg", "2.0")


def served(data: Path, **options: object) -> tuple[pypireg.Registry, TestApp]:
    registry = pypireg.create_app(data, **options)  # type: ignore[arg-type]
    return registry, TestApp(mount(registry, "/api/v4",
                                   beside=health_checks(registry, reuse=0)))


def upload(app: TestApp, token: str, version: str = "2.0", data: bytes = TWO):
    return app.post("/api/v4" + API.format(project="acme/tools"),
                    params=[("name", "pkg"), ("version", version)],
                    upload_files=[("content", wheel_name("pkg", version), data)],
                    headers=basic(token), status="*")


def assert_reads(app: TestApp, token: str) -> int:
    """Pages, downloads and the Packages API answer; returns pkg 1.0's package id."""
    page = app.get(PAGE, headers=basic(token), status=200)
    assert wheel_name("pkg", "1.0") in page.text
    download = (f"/api/v4/projects/acme/tools/packages/pypi/files/{sha256(ONE)}/"
                f"{wheel_name('pkg', '1.0')}")
    assert app.get(download, headers=basic(token), status=200).body == ONE
    (package,) = app.get(LISTING, headers=basic(token), status=200).json
    return package["id"]


def assert_read_only(app: TestApp, token: str, package_id: int, why: str,
                     storage: str | None = None) -> None:
    message = f"503 Service Unavailable - the registry is read-only: {why}"
    refused = upload(app, token)
    assert refused.status_int == 503 and refused.json == {"message": message}
    assert refused.status == message  # twine prints the status line
    # What is refused for another reason says that reason.
    assert upload(app, "not-a-token").status_int == 401
    app.post("/api/v4/projects/acme%2Ftools/nowhere", status=404)
    app.post(PAGE, headers=basic(token), status=405)
    deleted = app.delete(f"{LISTING}/{package_id}", headers=basic(token), status=503)
    assert deleted.json == {"message": message}
    ready = app.get("/-/readiness", status=200).json  # ready: it serves reads
    assert ready["status"] == "ok"
    assert ready["catalog_check"] == [{"status": "ok", "read_only": True,
                                       "message": f"the registry is read-only: {why}"}]
    assert ready["storage_check"] == [{"status": "ok", **(
        {"read_only": True, "message": storage} if storage else {})}]


def assert_writable(app: TestApp, token: str, registry: pypireg.Registry) -> None:
    assert app.get("/-/readiness").json["catalog_check"] == [{"status": "ok"}]
    assert upload(app, token).status_int == 201
    versions = {p["version"] for p in app.get(LISTING, headers=basic(token)).json}
    assert versions == {"1.0", "2.0"}
    assert list(Path(registry.staging_dir).iterdir()) == []


def test_started_on_a_full_disk_it_serves_reads_and_writes_once_there_is_room(tmp_path):
    with tmpfs(tmp_path / "disk") as disk:
        token = written_before(disk / "data")
        fill(disk)
        registry, app = served(disk / "data")
        package_id = assert_reads(app, token)
        assert_read_only(app, token, package_id, "no space left on the catalog's disk",
                         "no space left on the registry's storage")
        # Nothing of the refused upload is left: no staging file, no blob, no row.
        assert list((disk / "data" / "staging").iterdir()) == []
        assert not [p for p in (disk / "data" / "files").rglob("*")
                    if p.is_file() and sha256(p.read_bytes()) == sha256(TWO)]
        assert registry.catalog.value("SELECT count(*) FROM package_files") == 1

        (disk / "fill").unlink()  # room again: no restart needed
        assert_writable(app, token, registry)


def test_started_on_a_read_only_data_directory_it_serves_reads(tmp_path):
    token = written_before(tmp_path / "data")
    with read_only(tmp_path / "data", tmp_path / "mounted") as data:
        registry, app = served(data)
        package_id = assert_reads(app, token)
        assert_read_only(app, token, package_id, "the catalog file is read-only",
                         "the registry's storage is read-only")
        assert registry.catalog.value("SELECT count(*) FROM package_files") == 1

        writable(data)  # the mount made writable again: no restart needed
        assert_writable(app, token, registry)


def test_a_read_only_catalog_file_takes_no_upload_and_stages_nothing(tmp_path):
    """A backup restored read-only, beside writable files: the upload is refused before
    its body is staged, so no blob is stored for a row that cannot be written."""
    token = written_before(tmp_path / "data")
    with read_only(tmp_path / "data" / "catalog.db"):
        registry, app = served(tmp_path / "data")
        blobs = sorted(p.name for p in (tmp_path / "data" / "files").rglob("*"))
        package_id = assert_reads(app, token)
        assert_read_only(app, token, package_id, "the catalog file is read-only")
        assert sorted(p.name for p in (tmp_path / "data" / "files").rglob("*")) == blobs
        assert list((tmp_path / "data" / "staging").iterdir()) == []


def test_read_only_files_while_serving_are_a_503_that_leaves_nothing(tmp_path):
    registry, app = served(tmp_path / "data")
    registry.create_group("acme", "private")
    registry.create_project("acme/tools", "private")
    token = registry.create_token("maintainer", ["acme/tools:delete"])
    assert upload(app, token, "1.0", ONE).status_int == 201
    with read_only(tmp_path / "data" / "files") as files:
        refused = upload(app, token)
        assert refused.status_int == 503
        assert refused.json == {"message": "503 Service Unavailable - the registry's storage"
                                           " is read-only"}
        assert_reads(app, token)
        assert registry.catalog.value("SELECT count(*) FROM package_files") == 1
        assert list((tmp_path / "data" / "staging").iterdir()) == []
        assert app.get("/-/readiness").json["storage_check"] == [
            {"status": "ok", "read_only": True, "message": "the registry's storage is read-only"}]
        writable(files)
        assert upload(app, token).status_int == 201


def test_a_catalog_to_be_migrated_on_a_read_only_disk_is_refused_with_the_reason(tmp_path):
    token = written_before(tmp_path / "data")
    assert token
    registry = pypireg.create_app(tmp_path / "data")
    registry.catalog.run("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    del registry
    gc.collect()
    with read_only(tmp_path / "data", tmp_path / "mounted") as data, \
            pytest.raises(pypireg.catalog.CatalogError) as refused:
        pypireg.create_app(data)
    assert str(refused.value) == (
        f"the catalog {data / 'catalog.db'} must be brought to schema version"
        f" {pypireg.catalog.SCHEMA_VERSION} and cannot be written: the catalog file is"
        " read-only")


def test_web_pages_read_a_read_only_registry(tmp_path):
    token = written_before(tmp_path / "data")
    with read_only(tmp_path / "data", tmp_path / "mounted") as data:
        site = TestApp(pypireg.site(pypireg.create_app(data)))
        page = site.get("/acme/tools", headers={"Accept": "text/html", **basic(token)})
        assert "pkg" in page.text
        site.post("/acme/tools", headers=basic(token), status=405)


def test_the_wsgi_module_starts_on_a_read_only_data_directory(tmp_path):
    """What gunicorn's workers import: they boot and serve reads."""
    from pypireg.wsgi import from_environ

    token = written_before(tmp_path / "data")
    with read_only(tmp_path / "data", tmp_path / "mounted") as data:
        app = TestApp(from_environ({"PYPIREG_DATA": str(data)}))
        assert wheel_name("pkg", "1.0") in app.get(PAGE, headers=basic(token)).text
        [check] = app.get("/-/readiness").json["catalog_check"]
        assert check["read_only"] is True


def test_a_write_ahead_log_that_cannot_be_read_is_refused(tmp_path):
    """A backup copied as files, with changes still in its write-ahead log and no shared
    memory beside it, on a read-only mount: served without the log, a revoked token
    would work again; the start is refused instead, saying what to do."""
    import shutil
    import sqlite3

    token = written_before(tmp_path / "data")
    live = sqlite3.connect(tmp_path / "data" / "catalog.db")
    live.execute("PRAGMA wal_autocheckpoint = 0")
    live.execute("UPDATE tokens SET revoked = 1")
    live.commit()
    backup = tmp_path / "backup"
    backup.mkdir()
    for name in ("catalog.db", "catalog.db-wal"):  # the log holds the revocation
        shutil.copy(tmp_path / "data" / name, backup / name)
    live.close()
    assert token
    with read_only(backup, tmp_path / "mounted") as data, \
            pytest.raises(pypireg.catalog.CatalogError, match="write-ahead log"):
        pypireg.create_app(data)


def test_a_read_only_write_is_known_by_its_words_where_errors_carry_no_code(tmp_path) -> None:
    """Python 3.10's sqlite3 errors carry no result code: SQLite's own message says the
    same, and is read the same way."""
    import sqlite3

    from pypireg.catalog.sqlite import SQLiteEngine

    path = tmp_path / "c.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(sqlite3.OperationalError) as refused:
        sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("INSERT INTO t VALUES (1)")
    real = refused.value
    assert SQLiteEngine.read_only_reason(real) == "the catalog file is read-only"
    for words, why in ((str(real), "the catalog file is read-only"),
                       ("database or disk is full", "no space left on the catalog's disk"),
                       ("UNIQUE constraint failed: t.x", None)):
        assert SQLiteEngine.read_only_reason(sqlite3.OperationalError(words)) == why
