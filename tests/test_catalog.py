"""The catalog and storages: schema rules, concurrency, several processes, independence."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import sqlite3
import threading
from pathlib import Path

import pytest

import pypireg
from pypireg.catalog import Catalog, CatalogError

from .distributions import wheel_bytes, wheel_name
from .helpers import Env


def test_groups_and_projects_follow_path_rules(tmp_path) -> None:
    catalog = Catalog(str(tmp_path / "c.db"))
    catalog.create_group("acme", "public")
    catalog.create_group("acme/team", "public")
    project = catalog.create_project("acme/team/lib", "public")
    assert project.namespaces == ("acme", "acme/team")
    assert catalog.project(str(project.id)) == project
    assert catalog.project("ACME/TEAM/LIB") == project
    with pytest.raises(CatalogError, match="parent group 'nope'"):
        catalog.create_project("nope/lib", "private")
    with pytest.raises(CatalogError, match="already exists"):
        catalog.create_group("Acme/Team/Lib", "private")
    with pytest.raises(CatalogError, match="not a valid path"):
        catalog.create_group("a//b", "private")
    with pytest.raises(CatalogError, match="not a valid path"):
        catalog.create_project("acme/../etc", "private")


def test_numeric_paths_are_paths_where_a_path_is_asked_for(tmp_path) -> None:
    catalog = Catalog(str(tmp_path / "c.db"))
    group = catalog.create_group("2024", "public")
    project = catalog.create_project("2024/7", "public")
    assert catalog.group_by_path("2024") == group
    assert catalog.project_by_path("2024/7") == project
    with pytest.raises(CatalogError, match="already exists"):
        catalog.create_group("2024", "public")
    # Where GitLab's :id is taken, digits are an id.
    assert catalog.project(str(project.id)) == project


def test_public_project_in_private_group_is_refused() -> None:
    catalog = Catalog()
    catalog.create_group("closed", "private")
    with pytest.raises(CatalogError, match="cannot be public inside private group"):
        catalog.create_project("closed/open", "public")


def test_catalog_reopens_with_its_data(tmp_path) -> None:
    Catalog(str(tmp_path / "c.db")).create_project("lib", "public")
    again = Catalog(str(tmp_path / "c.db"))
    assert again.project("lib") is not None
    rows = list(again.db.query("PRAGMA journal_mode"))
    assert rows[0]["journal_mode"] == "wal"


def test_two_registries_in_one_process_are_independent(tmp_path) -> None:
    first = Env(pypireg.create_app(staging_dir=str(tmp_path / "1")))
    second = pypireg.create_app(staging_dir=str(tmp_path / "2"))
    first.upload_wheel("acme/tools", "pkg", "1.0", token=first.writer, status=201)
    assert second.catalog.project("acme/tools") is None
    assert second.storage.keys() == []  # type: ignore[attr-defined]


def catalog_url(catalog: Catalog) -> str:
    engine = catalog.engine
    return getattr(engine, "url", None) or f"sqlite:///{catalog.path}"


@pytest.fixture
def shared(tmp_path, catalog) -> Env:
    """Files on disk, and the catalog on each engine (SQLite in the data directory)."""
    if catalog.engine.name == "sqlite":
        (tmp_path / "data").mkdir()
        catalog = Catalog(str(tmp_path / "data" / "catalog.db"))
    return Env(pypireg.create_app(tmp_path / "data", catalog=catalog))


def test_concurrent_uploads_of_one_filename_store_exactly_one(shared: Env) -> None:
    """16 uploads of one filename at once, half of them with other bytes: one wins, the
    identical ones get 200, the others "File already exists"."""
    results: list[tuple[int, int]] = []
    barrier = threading.Barrier(16)

    def attempt(n: int) -> None:
        data = wheel_bytes("pkg", "1.0", payload=f"# writer {n % 2}")
        barrier.wait()
        response = shared.upload(
            "acme/tools", wheel_name("pkg", "1.0"), data, token=shared.writer,
            name="pkg", version="1.0",
        )
        results.append((n % 2, response.status_int))
        if response.status_int == 400:
            assert "File already exists" in response.json["message"]

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (winner,) = [side for side, status in results if status == 201]
    assert sorted(status for side, status in results if side == winner) == [200] * 7 + [201]
    assert [status for side, status in results if side != winner] == [400] * 8
    assert shared.registry.catalog.value("SELECT count(*) FROM package_files") == 1
    # The winner's file and its metadata (the same METADATA for every contender).
    assert len(shared.registry.storage.keys()) == 2  # type: ignore[attr-defined]
    (stored,) = shared.registry.catalog.rows("SELECT sha256, storage_key FROM package_files")
    with shared.registry.storage.open(stored["storage_key"]) as intact:
        assert hashlib.sha256(intact.read()).hexdigest() == stored["sha256"]


def _upload_many(data_dir: str, catalog: str, token: str, worker: int, count: int) -> None:
    from webtest import TestApp

    app = TestApp(pypireg.create_app(data_dir, catalog=catalog))
    for n in range(count):
        version = f"{worker}.{n}"
        app.post(
            "/projects/acme/tools/packages/pypi",
            params=[("name", "pkg"), ("version", version)],
            upload_files=[("content", wheel_name("pkg", version), wheel_bytes("pkg", version))],
            headers={"Authorization": f"Bearer {token}"},
            status=201,
        )


def test_several_processes_share_one_catalog(tmp_path, shared: Env) -> None:
    data, url = tmp_path / "data", catalog_url(shared.registry.catalog)
    env = shared
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_upload_many, args=(str(data), url, env.writer, w, 15))
        for w in range(3)
    ]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0, 0]
    page = env.app.get("/projects/acme/tools/packages/pypi/simple/pkg/")
    assert page.text.count("<a href=") == 45
    serial = env.registry.catalog.project("acme/tools").serial
    assert serial == 45


@pytest.mark.parametrize("make", [
    lambda tmp: pypireg.MemoryStorage(),
    lambda tmp: pypireg.FileSystemStorage(tmp / "files"),
])
def test_storage_backends_keep_bytes_by_key(tmp_path, make) -> None:
    storage = make(tmp_path)
    assert isinstance(storage, pypireg.Storage)
    source = tmp_path / "src"
    source.write_bytes(b"file bytes")
    storage.put_file("sha256/ab/cd/abcd", str(source))
    storage.put_stream("other/key", io.BytesIO(b"stream bytes"))
    assert storage.exists("sha256/ab/cd/abcd") and storage.exists("other/key")
    with storage.open("sha256/ab/cd/abcd") as f:
        assert f.read() == b"file bytes"
    with storage.open("other/key") as f:
        assert f.read() == b"stream bytes"
    storage.put_stream("other/key", io.BytesIO(b"replaced"))
    with storage.open("other/key") as f:
        assert f.read() == b"replaced"
    storage.delete("other/key")
    storage.delete("other/key")  # twice is fine
    assert not storage.exists("other/key")
    with pytest.raises(KeyError):
        storage.open("other/key")
    assert storage.keys() == ["sha256/ab/cd/abcd"]


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", "A/Upper", "", "a//b"])
def test_filesystem_storage_refuses_keys_that_escape(tmp_path, key: str) -> None:
    storage = pypireg.FileSystemStorage(tmp_path)
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.put_stream(key, io.BytesIO(b"x"))


def test_filesystem_storage_leaves_no_temp_file_when_a_write_fails(tmp_path) -> None:
    storage = pypireg.FileSystemStorage(tmp_path)

    class Broken(io.RawIOBase):
        def readinto(self, buffer):  # type: ignore[no-untyped-def]
            raise OSError("read failed")

    with pytest.raises(OSError, match="read failed"):
        storage.put_stream("a/b", Broken())
    assert not storage.exists("a/b")
    assert os.listdir(tmp_path / "a") == []


def test_a_catalog_is_named_by_url(tmp_path) -> None:
    from pypireg.catalog import open_catalog

    on_disk = pypireg.create_app(catalog=f"sqlite:///{tmp_path}/named.db",
                                 staging_dir=str(tmp_path))
    on_disk.create_project("p", "public")
    assert (tmp_path / "named.db").is_file() and on_disk.catalog.path == f"{tmp_path}/named.db"
    assert open_catalog("sqlite://").path is None
    for bad, message in (("catalog.db", "is not a URL"), ("mysql://db", "the engines are")):
        with pytest.raises(pypireg.CatalogError, match=message):
            open_catalog(bad)


def test_a_postgresql_url_opens_the_postgresql_engine(postgres_server, tmp_path) -> None:
    with postgres_server.database(postgres_server.template) as url:
        registry = pypireg.create_app(catalog=url, staging_dir=str(tmp_path))
        try:
            assert registry.catalog.engine.name == "postgresql"
            registry.create_project("p", "public")
            assert [u.path for u in registry.list_projects()] == ["p"]
            assert "***" not in str(registry.catalog.engine)  # no password to hide here
        finally:
            registry.catalog.engine.close()


def test_a_postgresql_url_never_shows_its_password() -> None:
    from pypireg.catalog.base import redacted as _without_password

    assert _without_password("postgresql://app:s3cret@db.internal:5432/pypireg") == (
        "postgresql://app:***@db.internal:5432/pypireg")
    assert _without_password("postgresql://app@db/pypireg") == "postgresql://app@db/pypireg"


def test_processes_starting_at_once_create_the_postgresql_schema_once(postgres_server
                                                                      ) -> None:
    from pypireg.catalog.postgres import PostgresEngine

    with postgres_server.database() as url:  # empty: the first opens create the tables
        barrier, catalogs, errors = threading.Barrier(4), [], []

        def open_one() -> None:
            barrier.wait()
            try:
                catalogs.append(Catalog(engine=PostgresEngine(url, max_connections=2)))
            except Exception as exc:  # noqa: BLE001 - the test reports any
                errors.append(exc)

        threads = [threading.Thread(target=open_one) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert errors == [] and len(catalogs) == 4
            catalogs[0].create_project("p", "public")
            assert [p.path for p in catalogs[3].project_usage()] == ["p"]
        finally:
            for catalog in catalogs:
                catalog.close()


def test_a_postgresql_catalog_from_a_newer_pypireg_is_refused(postgres_server) -> None:
    from pypireg.catalog.postgres import PostgresEngine

    with postgres_server.database(postgres_server.template) as url:
        first = Catalog(engine=PostgresEngine(url))
        first.run("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        first.close()
        engine = PostgresEngine(url)
        try:
            with pytest.raises(CatalogError, match="schema version 99, made by a newer"):
                Catalog(engine=engine)
        finally:
            engine.close()


def test_a_missing_driver_names_the_extra_to_install(monkeypatch) -> None:
    import sys

    from pypireg.catalog import open_catalog

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(CatalogError, match=r"pip install 'pypireg\[postgres\]'"):
        open_catalog("postgresql://nobody@127.0.0.1:1/none")


def test_sqlite_writers_in_one_process_take_turns_and_give_up_as_sqlite_would(
        tmp_path: Path, monkeypatch) -> None:
    """A thread waiting to write is handed the catalog as the write before it ends, and
    one that waits longer than the busy timeout fails with SQLite's own error."""
    from pypireg.catalog import sqlite as module

    catalog = pypireg.Catalog(str(tmp_path / "catalog.sqlite"))
    _while_writing(catalog, catalog, module, monkeypatch)


def test_sqlite_writers_of_two_processes_take_turns(tmp_path: Path, monkeypatch) -> None:
    """Another process's write (here another catalog on the file: a lock of its own) is
    waited for by trying again, up to the busy timeout, then SQLite's own error."""
    from pypireg.catalog import sqlite as module

    path = str(tmp_path / "catalog.sqlite")
    _while_writing(pypireg.Catalog(path), pypireg.Catalog(path), module, monkeypatch)


def _while_writing(holder: pypireg.Catalog, other: pypireg.Catalog, module, monkeypatch
                   ) -> None:  # type: ignore[no-untyped-def]
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with holder.write():
            order.append("first in")
            holding.set()
            release.wait(30)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(30)
    monkeypatch.setattr(module, "BUSY_TIMEOUT", 0.05)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"), other.write():
        order.append("never")
    monkeypatch.setattr(module, "BUSY_TIMEOUT", 30.0)
    second = threading.Thread(target=lambda: _write(other, order))
    second.start()
    release.set()
    thread.join(30)
    second.join(30)
    assert order == ["first in", "first out", "second"]
    assert other.value("SELECT count(*) FROM meta") is not None  # and it still works


def _write(catalog: pypireg.Catalog, order: list[str]) -> None:
    with catalog.write():
        order.append("second")


def test_a_sqlite_statement_outside_a_write_waits_for_another_process_too(
        tmp_path: Path, monkeypatch) -> None:
    """SQLite's own busy handler is off (each write would otherwise switch it off and on
    around its BEGIN): a statement that finds the file locked by another process is tried
    again every few milliseconds, up to the busy timeout, then fails with SQLite's error."""
    from pypireg.catalog import sqlite as module

    path = str(tmp_path / "catalog.sqlite")
    holder, other = pypireg.Catalog(path), pypireg.Catalog(path)
    holding, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with holder.write():
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(30)
    statement = "INSERT INTO meta (key, value) VALUES ('{}', 'x')"
    monkeypatch.setattr(module, "BUSY_TIMEOUT", 0.05)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        other.run(statement.format("never"))
    monkeypatch.setattr(module, "BUSY_TIMEOUT", 30.0)
    waiting = threading.Thread(target=lambda: (other.run(statement.format("waited")),
                                               done.set()))
    waiting.start()
    assert not done.wait(0.2)  # still waiting while the other process writes
    release.set()
    thread.join(30)
    waiting.join(30)
    assert done.is_set()
    assert other.value("SELECT count(*) FROM meta WHERE key IN ('waited', 'never')") == 1


def test_a_write_after_a_read_left_open_fails_at_once_not_after_the_busy_timeout(
        tmp_path: Path, monkeypatch) -> None:
    """A read left unfinished holds its snapshot of the file; once another process has
    written, a write on that connection can never pass (SQLITE_BUSY_SNAPSHOT): it fails at
    once, as SQLite fails it, rather than being tried again for the busy timeout."""
    import types

    from pypireg.catalog import sqlite as module

    path = str(tmp_path / "catalog.sqlite")
    mine, other = pypireg.Catalog(path), pypireg.Catalog(path)
    rows = mine.tuples("SELECT key FROM meta")
    assert next(rows)  # read, and left open
    with other.write():
        other.run("INSERT INTO meta (key, value) VALUES ('other', 'x')")
    slept: list[float] = []
    monkeypatch.setattr(module, "time", types.SimpleNamespace(
        monotonic=module.time.monotonic, sleep=slept.append))
    with pytest.raises(sqlite3.OperationalError):
        mine.run("INSERT INTO meta (key, value) VALUES ('mine', 'x')")
    assert slept == []
    rows.close()  # type: ignore[attr-defined]
    mine.run("INSERT INTO meta (key, value) VALUES ('mine', 'x')")  # and then it can
