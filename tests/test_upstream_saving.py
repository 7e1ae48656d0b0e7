"""How the cache keeps an upstream's page in the catalog (pypireg/catalog/upstream.py):
worked out before the write transaction and checked inside it, a file's row made when it
is first asked for and brought up to date when its page changes, metadata learned from a
wheel noted without writing the page's list again, and a page's files read only when
something uses them."""

from __future__ import annotations

import contextlib
import json
import threading

import pytest

import pypireg
from pypireg.catalog.decoded import DecodedFiles
from pypireg.models import UpstreamFile

from .helpers import recorded_queries

UPSTREAM = "https://index.example/simple/"


def files(count: int, url: str = "https://files.example") -> list[UpstreamFile]:
    return [UpstreamFile(f"demo-{n}.0-py3-none-any.whl", f"{url}/demo-{n}.0-py3-none-any.whl",
                         f"{n:064x}", f"{n}.0") for n in range(count)]


def stored_list(catalog: pypireg.Catalog) -> str:
    return catalog.value("SELECT l.files FROM upstream_pages p JOIN upstream_page_files l"
                         " ON l.id = p.id WHERE p.normalized_name = 'demo'")


def row_urls(catalog: pypireg.Catalog) -> dict[str, str]:
    return dict(catalog.tuples("SELECT file_name, url FROM upstream_files"))


def test_a_file_gets_its_row_when_first_asked_for_from_the_first_upstream_listing_it(
        catalog):
    """Saving a page writes no row for its thousands of files; asking for one makes its
    row from the page of the first upstream (in the order given) that lists it."""
    listed = files(3)
    other = "https://second.example/simple/"
    catalog.save_upstream_page(other, "demo", found=True, name="demo",
                               files=files(3, "https://second.example"))
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    assert row_urls(catalog) == {}
    found = catalog.upstream_file(listed[1].sha256, listed[1].file_name, (UPSTREAM, other))
    assert found is not None and (found.upstream, found.url, found.normalized_name) == (
        UPSTREAM, listed[1].url, "demo")
    assert row_urls(catalog) == {listed[1].file_name: listed[1].url}
    second = catalog.upstream_file(listed[2].sha256, listed[2].file_name, (other, UPSTREAM))
    assert second is not None and second.upstream == other
    assert catalog.upstream_file(listed[1].sha256, listed[1].file_name) == found  # kept
    assert catalog.upstream_file("f" * 64, listed[1].file_name) is None  # another digest
    assert catalog.upstream_file(listed[1].sha256, "other-1.0.tar.gz") is None
    # An sdist whose project name holds a dash, as older tools named them.
    legacy = UpstreamFile("python-dateutil-2.4.1.tar.bz2", "https://files.example/d.tar.bz2",
                          "e" * 64, "2.4.1")
    catalog.save_upstream_page(UPSTREAM, "python-dateutil", found=True,
                               name="python-dateutil", files=[legacy])
    assert catalog.upstream_file(legacy.sha256, legacy.file_name).url == legacy.url


def test_a_page_saved_again_brings_the_rows_of_its_changed_files_up_to_date(catalog,
                                                                           monkeypatch):
    listed = files(3)
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    for entry in listed[:2]:
        catalog.upstream_file(entry.sha256, entry.file_name)
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
    assert [[row[-1] for row in rows] for rows in written] == [
        ["demo-1.0-py3-none-any.whl", "demo-3.0-py3-none-any.whl"]]
    assert row_urls(catalog) == {listed[0].file_name: listed[0].url,
                                 moved.file_name: moved.url}
    written.clear()
    same = catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo",
                                      files=[listed[0], moved, listed[2], *files(4)[3:]])
    assert written == []
    assert list(same.files) == [listed[0], moved, listed[2], files(4)[3]]


def test_a_file_the_page_stops_listing_keeps_a_row_so_its_url_keeps_working(catalog):
    """A lock file may name a file the upstream no longer lists: it gets its row when
    the page drops it, whether anybody asked for it or not."""
    listed = files(3)
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed[:1])
    assert row_urls(catalog) == {f.file_name: f.url for f in listed[1:]}
    catalog.save_upstream_page(UPSTREAM, "demo", found=False)  # the name went away
    assert row_urls(catalog) == {f.file_name: f.url for f in listed}
    assert catalog.upstream_file(listed[0].sha256, listed[0].file_name).url == listed[0].url


def test_a_row_is_made_from_the_page_as_it_is_when_written(catalog):
    """The page is saved again (the file moved upstream) between finding the file on it
    and writing its row: the row is made from the new version, not the one read."""
    listed = files(1)
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    moved = listed[0]._replace(url="https://mirror.example/demo-0.0-py3-none-any.whl")
    look = catalog._listed
    looks: list[str] = []

    def then_moved(*args):  # type: ignore[no-untyped-def]
        found = look(*args)
        if not looks:
            catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo",
                                       files=[moved])
        looks.append("looked")
        return found

    catalog._listed = then_moved
    assert catalog.upstream_file(listed[0].sha256, listed[0].file_name).url == moved.url
    assert looks == ["looked", "looked"]


def test_a_file_name_from_a_url_costs_a_bounded_lookup(catalog):
    from pypireg.catalog.upstream_files import MAX_NAMES, _names_of

    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=files(1))
    assert _names_of("-" * 60_000) == []  # longer than any file name a page lists
    assert len(_names_of("a-b" * 80)) == MAX_NAMES  # 80 dashes: the first 32 looked at
    assert _names_of("python-dateutil-2.4.1.tar.bz2") == ["python", "python-dateutil"]
    assert _names_of("pydantic_core-2.50.5-cp311-cp311-manylinux_2_17_x86_64.whl")[0] == (
        "pydantic-core")
    assert catalog.upstream_file("0" * 64, "demo-" * 60_000) is None


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


def test_a_process_that_notes_metadata_keeps_the_new_version_decoded(tmp_path):
    """The new version's files come from the last one's, without reading the page again,
    and equal what another process decodes from the catalog."""
    path = str(tmp_path / "catalog.sqlite")
    mine, theirs = pypireg.Catalog(path), pypireg.Catalog(path)
    listed = files(3)
    mine.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    first = mine.upstream_file(listed[0].sha256, listed[0].file_name)
    second = mine.upstream_file(listed[2].sha256, listed[2].file_name)
    mine.note_upstream_metadata(first.id, "1" * 64, None)
    mine.note_upstream_metadata(second.id, "", None)  # a wheel without metadata
    mine.note_upstream_metadata(first.id, "2" * 64, "key")  # read again: another digest
    seen = recorded_queries(mine)
    kept = list(mine.upstream_page(UPSTREAM, "demo").files)
    assert not [q for q in seen if "upstream_page_files" in q]
    assert kept == list(theirs.upstream_page(UPSTREAM, "demo").files)
    assert [f.metadata_sha256 for f in kept] == ["2" * 64, None, ""]


def test_metadata_noted_inside_a_callers_write_is_kept_decoded_once_it_commits(
        tmp_path, monkeypatch):
    """Metadata read in ranges is noted inside the write that records its blob. Once that
    commits, the page's new version is kept decoded as well (a warm install after a cold
    one reads no list of files); a write rolled back leaves nothing of its version, whose
    changed_at the next version, made by another process, may take."""
    path = str(tmp_path / "catalog.sqlite")
    mine, theirs = pypireg.Catalog(path), pypireg.Catalog(path)
    listed = files(3)
    mine.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    first = mine.upstream_file(listed[0].sha256, listed[0].file_name)
    second = mine.upstream_file(listed[1].sha256, listed[1].file_name)
    # Every new version a millisecond past the last: a version rolled back and the next
    # one get the same changed_at.
    monkeypatch.setattr("pypireg.catalog.upstream.utcnow", lambda: "2000-01-01T00:00:00Z")
    with pytest.raises(RuntimeError), mine.write():
        mine.note_upstream_metadata(first.id, "1" * 64, None)
        raise RuntimeError("the blob could not be recorded")
    theirs.note_upstream_metadata(second.id, "2" * 64, None)
    assert [f.metadata_sha256 for f in mine.upstream_page(UPSTREAM, "demo").files] == [
        None, "2" * 64, None]
    with mine.write():
        mine.note_upstream_metadata(first.id, "3" * 64, "key")
        seen = recorded_queries(mine)
    kept = list(mine.upstream_page(UPSTREAM, "demo").files)
    assert not [q for q in seen if "upstream_page_files" in q]
    assert [f.metadata_sha256 for f in kept] == ["3" * 64, "2" * 64, None]
    assert kept == list(theirs.upstream_page(UPSTREAM, "demo").files)


def test_a_page_changed_while_a_save_was_worked_out_is_worked_out_again(tmp_path):
    """Another process saves a version of the page between this save's reading and its
    write: the write is worked out again from that version, and is later than it."""
    path = str(tmp_path / "catalog.sqlite")
    mine, theirs = pypireg.Catalog(path), pypireg.Catalog(path)
    mine.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=files(1))
    mine.upstream_file(files(1)[0].sha256, files(1)[0].file_name)  # asked for: its row
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
    moved = [f._replace(yanked=True) for f in files(3, "https://mirror.example")]
    saved = mine.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=moved)
    assert len(plans) == 2
    assert saved.changed_at > between[0].changed_at
    assert theirs.upstream_page(UPSTREAM, "demo").changed_at == saved.changed_at
    assert list(theirs.upstream_page(UPSTREAM, "demo").files) == moved
    assert row_urls(theirs) == {moved[0].file_name: moved[0].url}


def test_a_pages_files_are_read_only_when_used(catalog):
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=files(2))
    catalog._decoded = DecodedFiles(0)  # nothing kept decoded
    seen = recorded_queries(catalog)
    page = catalog.upstream_page(UPSTREAM, "demo")
    assert page is not None and not [q for q in seen if "upstream_page_files" in q]
    assert len(page.files) == 2 and [q for q in seen if "upstream_page_files" in q]
    assert page.files == tuple(files(2)) and list(page.files[1:]) == files(2)[1:]


def test_a_version_replaced_or_purged_while_read_gives_none_of_its_files(catalog):
    """A page read, then given a new version (metadata noted) or purged before its files
    are: reading them raises PageMoved rather than giving another version's files under
    this version's ETag, or none at all."""
    from pypireg.catalog.decoded import PageMoved

    listed = files(2)
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    catalog._decoded = DecodedFiles(0)
    read = catalog.upstream_page(UPSTREAM, "demo")
    file_id = catalog.upstream_file(listed[0].sha256, listed[0].file_name).id
    catalog.note_upstream_metadata(file_id, "b" * 64, None)
    with pytest.raises(PageMoved):
        len(read.files)
    now = catalog.upstream_page(UPSTREAM, "demo")
    assert [f.metadata_sha256 for f in now.files] == ["b" * 64, None]
    catalog.purge_upstream("demo")
    with pytest.raises(PageMoved):
        catalog._page_files(now.id, now.changed_at)


def test_the_page_kept_is_the_upstreams_and_the_latest_metadata_is_shown(catalog):
    """What is kept of a page is the upstream's list as it came; the metadata learned is
    shown over it, so a wheel read again with other metadata shows the latest, even
    after the page was fetched again meanwhile."""
    listed = files(1)
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    file_id = catalog.upstream_file(listed[0].sha256, listed[0].file_name).id
    catalog.note_upstream_metadata(file_id, "1" * 64, None)  # read in ranges
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    assert "1" * 64 not in stored_list(catalog)
    catalog.note_upstream_metadata(file_id, "2" * 64, "key")  # the verified wheel's
    assert [f.metadata_sha256 for f in catalog.upstream_page(UPSTREAM, "demo").files] == [
        "2" * 64]


def test_threads_read_two_pages_files_at_once():
    """One page's files being read never holds up another's (functools.cached_property
    would, up to Python 3.11, with one lock for every instance)."""
    from pypireg.catalog.decoded import PageFiles

    first_started, second_done = threading.Event(), threading.Event()
    overlapped: list[bool] = []

    def slow() -> tuple[UpstreamFile, ...]:
        first_started.set()
        overlapped.append(second_done.wait(5))  # False: the second waited for this one
        return tuple(files(1))

    def quick() -> tuple[UpstreamFile, ...]:
        return tuple(files(2))

    one, other = PageFiles(slow), PageFiles(quick)
    reader = threading.Thread(target=lambda: len(one))
    reader.start()
    assert first_started.wait(10)
    second = threading.Thread(target=lambda: (len(other), second_done.set()))
    second.start()
    second.join(10)
    reader.join(20)
    assert overlapped == [True] and list(one) == files(1)


def test_a_pages_list_of_files_is_a_row_of_its_own(catalog):
    """Reading a page's other columns never walks its list (megabytes on a big page): the
    list is kept apart, moved out of the page's row when a catalog of version 10 or
    older is opened, and purged with the page."""
    from pypireg.catalog.tables import SCHEMA_VERSION

    listed = files(3)
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=listed)
    catalog.save_upstream_page(UPSTREAM, "other", found=True, name="other", files=files(1))
    assert catalog.value("SELECT count(*) FROM upstream_pages WHERE files != ''") == 0
    assert [f.file_name for f in decoded(stored_list(catalog))] == [
        f.file_name for f in listed]
    with catalog.write():  # as version 10 kept it
        catalog.run("UPDATE upstream_pages SET files = (SELECT files FROM upstream_page_files"
                    " WHERE upstream_page_files.id = upstream_pages.id)")
        catalog.run("DROP TABLE upstream_page_files")
        catalog.run("UPDATE meta SET value = '10' WHERE key = 'schema_version'")
    catalog._decoded = DecodedFiles(0)
    catalog.engine.migrate(catalog)
    assert catalog.value("SELECT value FROM meta WHERE key = 'schema_version'") == str(
        SCHEMA_VERSION)
    assert catalog.value("SELECT count(*) FROM upstream_pages WHERE files != ''") == 0
    assert list(catalog.upstream_page(UPSTREAM, "demo").files) == listed
    catalog.engine.migrate(catalog)  # opened again: nothing moves twice
    assert catalog.value("SELECT count(*) FROM upstream_page_files") == 2
    assert catalog.purge_upstream("demo")[0] == 1
    assert catalog.value("SELECT count(*) FROM upstream_page_files") == 1
    assert list(catalog.upstream_page(UPSTREAM, "other").files) == files(1)


def decoded(text: str) -> list[UpstreamFile]:
    return [UpstreamFile(*entry) for entry in json.loads(text)]


def test_the_files_a_process_keeps_cost_the_garbage_collector_nothing(catalog):
    """Kept decoded, a page's files are plain tuples, which the collector stops tracking:
    thousands of UpstreamFile kept alive would lengthen every full collection."""
    import gc

    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=files(5000))
    catalog._decoded = DecodedFiles(10_000)
    gc.collect()
    before = len(gc.get_objects())
    page = catalog.upstream_page(UPSTREAM, "demo")
    assert len(page.files) == 5000 and list(page.files) == files(5000)
    assert page.files[1] == files(5000)[1] and page.files[:2] == tuple(files(2))
    del page
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert catalog._decoded.get(next(iter(catalog._decoded._pages)))  # and they are kept


def test_a_page_an_older_process_saved_after_the_upgrade_is_read_and_moved(catalog):
    """During a rolling upgrade, a process of version 10 saves a new page with its list in
    the page's row: it is read from there, and moved when the page is next saved."""
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=files(2))
    with catalog.write():  # as the older process writes a new page
        text = catalog.value("SELECT files FROM upstream_page_files")
        catalog.run("UPDATE upstream_pages SET files = ?", [text])
        catalog.run("DELETE FROM upstream_page_files")
    catalog._decoded = DecodedFiles(0)
    assert list(catalog.upstream_page(UPSTREAM, "demo").files) == files(2)
    catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo", files=files(3))
    assert catalog.value("SELECT files FROM upstream_pages") == ""
    assert list(catalog.upstream_page(UPSTREAM, "demo").files) == files(3)
    assert catalog.upstream_page(UPSTREAM, "demo").files != [1]  # unequal, not an error


def test_a_kept_blob_is_recorded_and_released_in_one_write_and_released_if_it_fails(
        catalog) -> None:
    """A blob of the cache is reserved while it is stored (gc leaves it alone), then
    recorded and released in one write transaction; if storing or recording fails, its
    reservation is released all the same and nothing is recorded."""
    from pypireg.upstream.files import keep_blob

    def reserved() -> int:
        return catalog.value("SELECT count(*) FROM blob_reservations")

    def record() -> None:
        seen.append(reserved())
        catalog.upsert("meta", {"key": "recorded", "value": "yes"}, key="key")

    seen: list[int] = []
    transactions, depth = 0, 0
    write = catalog.write

    @contextlib.contextmanager
    def counted():  # type: ignore[no-untyped-def]
        nonlocal transactions, depth
        transactions += depth == 0  # an outermost write: a transaction of its own
        depth += 1
        try:
            with write():
                yield
        finally:
            depth -= 1

    catalog.write = counted
    keep_blob(catalog, "blob/a", lambda: None, record)
    assert seen == [1] and reserved() == 0
    assert transactions == 2  # the reservation; the record with the release
    assert catalog.value("SELECT value FROM meta WHERE key = 'recorded'") == "yes"
    del catalog.write
    with catalog.write():
        catalog.run("DELETE FROM meta WHERE key = 'recorded'")

    def failing() -> None:
        raise OSError("the disk is full")

    def recorded_then_failing() -> None:
        record()
        failing()

    for store, then in ((lambda: None, recorded_then_failing), (failing, record)):
        with pytest.raises(OSError):
            keep_blob(catalog, "blob/b", store, then)
        assert reserved() == 0
        assert catalog.value("SELECT value FROM meta WHERE key = 'recorded'") is None


def test_metadata_noted_in_a_write_that_fails_leaves_no_version_in_memory(catalog):
    """Noted inside a caller's write (a kept blob's record), the page's new version is
    not carried over in memory before the caller commits: if the write fails, no version
    the catalog never held is kept, and the page reads as it stands."""
    listed = files(2)
    first = catalog.save_upstream_page(UPSTREAM, "demo", found=True, name="demo",
                                       files=listed)
    assert catalog.upstream_page(UPSTREAM, "demo").files  # decoded, held in memory
    file_id = catalog.upstream_file(listed[1].sha256, listed[1].file_name).id
    with pytest.raises(OSError), catalog.write():
        catalog.note_upstream_metadata(file_id, "a" * 64, "some/key")
        raise OSError("the disk is full")
    held = {key for key in catalog._decoded._pages if key[0] == first.id}
    assert held == {(first.id, first.changed_at)}
    page = catalog.upstream_page(UPSTREAM, "demo")
    assert page.changed_at == first.changed_at
    assert [f.metadata_sha256 for f in page.files] == [None, None]
    catalog.note_upstream_metadata(file_id, "a" * 64, "some/key")  # outside: carried over
    after = catalog.upstream_page(UPSTREAM, "demo")
    assert (first.id, after.changed_at) in catalog._decoded._pages
