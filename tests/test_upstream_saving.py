"""How the cache keeps an upstream's page in the catalog (pypireg/catalog/upstream.py):
worked out before the write transaction and checked inside it, rows written only for
files that are new or changed, metadata learned from a wheel noted without writing the
page's list again, and a page's files read only when something uses them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import pypireg
from pypireg.catalog.upstream import DecodedFiles
from pypireg.models import UpstreamFile

UPSTREAM = "https://index.example/simple/"


def files(count: int, url: str = "https://files.example") -> list[UpstreamFile]:
    return [UpstreamFile(f"demo-{n}.0-py3-none-any.whl", f"{url}/demo-{n}.0-py3-none-any.whl",
                         f"{n:064x}", f"{n}.0") for n in range(count)]


def stored_list(catalog: pypireg.Catalog) -> str:
    return catalog.value("SELECT files FROM upstream_pages WHERE normalized_name = 'demo'")


def row_urls(catalog: pypireg.Catalog) -> dict[str, str]:
    return dict(catalog.tuples("SELECT file_name, url FROM upstream_files"))


def test_a_page_saved_again_writes_rows_only_for_files_new_or_changed(catalog, monkeypatch):
    listed = files(3)
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    assert len(row_urls(catalog)) == 3
    written: list[list] = []
    run_many = catalog.run_many

    def counting(sql, rows):  # type: ignore[no-untyped-def]
        rows = list(rows)
        written.append(rows)
        return run_many(sql, rows)

    monkeypatch.setattr(catalog, "run_many", counting)
    moved = listed[1]._replace(url="https://mirror.example/demo-1.0-py3-none-any.whl")
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo",
                               files=[listed[0], moved, listed[2], *files(4)[3:]])
    assert [[row[2] for row in rows] for rows in written] == [
        ["demo-1.0-py3-none-any.whl", "demo-3.0-py3-none-any.whl"]]
    assert row_urls(catalog)["demo-1.0-py3-none-any.whl"] == moved.url
    written.clear()
    same = catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo",
                                      files=[listed[0], moved, listed[2], *files(4)[3:]])
    assert written == []
    assert list(same.files) == [listed[0], moved, listed[2], files(4)[3]]


def test_metadata_learned_moves_the_page_without_writing_its_list_again(catalog):
    listed = files(2)
    first = catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo",
                                       files=listed)
    text = stored_list(catalog)
    file_id = catalog.upstream_file(listed[1].sha256, listed[1].file_name).id
    catalog.note_upstream_metadata(file_id, "a" * 64, "some/key")
    after = catalog.upstream_page(UPSTREAM, "demo")
    assert stored_list(catalog) == text
    assert after.changed_at > first.changed_at
    assert [f.metadata_sha256 for f in after.files] == [None, "a" * 64]
    # The same digest read again (from the verified wheel): the page stays as it was.
    catalog.note_upstream_metadata(file_id, "a" * 64, "some/key")
    assert catalog.upstream_page(UPSTREAM, "demo").changed_at == after.changed_at
    # Fetched again without metadata from the upstream: what was learned stays said.
    again = catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo",
                                       files=listed)
    assert again.changed_at == after.changed_at
    assert [f.metadata_sha256 for f in again.files] == [None, "a" * 64]


def test_a_page_changed_while_a_save_was_worked_out_is_worked_out_again(tmp_path):
    """Another process saves a version of the page between this save's reading and its
    write: the write is worked out again from that version, and is later than it."""
    path = str(tmp_path / "catalog.sqlite")
    mine, theirs = pypireg.Catalog(path), pypireg.Catalog(path)
    mine.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=files(1))
    plan = mine._plan_page
    plans: list[object] = []
    between = []

    def meanwhile(*args):  # type: ignore[no-untyped-def]
        plans.append(args)
        worked_out = plan(*args)
        if len(plans) == 1:
            between.append(theirs.save_upstream_page(UPSTREAM, "demo", found=True,
                                                     name="demo", files=files(2)))
        return worked_out

    mine._plan_page = meanwhile  # type: ignore[method-assign]
    yanked = [f._replace(yanked=True) for f in files(3)]
    saved = mine.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=yanked)
    assert len(plans) == 2
    assert saved.changed_at > between[0].changed_at
    assert theirs.upstream_page(UPSTREAM, "demo").changed_at == saved.changed_at
    assert list(theirs.upstream_page(UPSTREAM, "demo").files) == yanked
    assert len(row_urls(theirs)) == 3


def test_a_pages_files_are_read_only_when_used(catalog):
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=files(2))
    catalog._decoded = DecodedFiles(0)  # nothing kept decoded
    seen: list[str] = []
    tuples = catalog.tuples

    def recording(sql, params=()):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return tuples(sql, params)

    catalog.tuples = recording  # type: ignore[method-assign]
    page = catalog.upstream_page(UPSTREAM, "demo")
    assert page is not None and not [q for q in seen if "SELECT files" in q]
    assert len(page.files) == 2 and [q for q in seen if "SELECT files" in q]
    assert page.files == tuple(files(2)) and list(page.files[1:]) == files(2)[1:]


def test_sqlite_writers_in_one_process_take_turns_and_give_up_as_sqlite_would(
        tmp_path: Path, monkeypatch):
    """A thread waiting to write is handed the catalog as the write before it ends, and
    one that waits longer than the busy timeout fails with SQLite's own error."""
    import sqlite3

    from pypireg.catalog import sqlite as module

    catalog = pypireg.Catalog(str(tmp_path / "catalog.sqlite"))
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with catalog.write():
            order.append("first in")
            holding.set()
            release.wait(30)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(30)
    monkeypatch.setattr(module, "BUSY_TIMEOUT", 0.05)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"), catalog.write():
        order.append("never")
    monkeypatch.setattr(module, "BUSY_TIMEOUT", 30.0)
    second = threading.Thread(target=lambda: _write(catalog, order))
    second.start()
    release.set()
    thread.join(30)
    second.join(30)
    assert order == ["first in", "first out", "second"]


def _write(catalog: pypireg.Catalog, order: list[str]) -> None:
    with catalog.write():
        order.append("second")
