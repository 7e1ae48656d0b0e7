"""Upstream files not kept yet, read in part (docs/proxy.md): a HEAD answered from the page,
a range from the upstream's own ranges, neither fetching the file whole nor keeping
anything; once a whole download has kept the file, ranges come from storage."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from webtest import TestApp

import pypireg
from pypireg import mount

from .distributions import wheel_bytes
from .upstreams import FakeIndex, caching_registry, serve

NAME = "acme_lib-1.0-py3-none-any.whl"
FILE_PATH = f"/files/{NAME}"


@pytest.fixture
def data() -> bytes:
    return wheel_bytes("acme-lib", "1.0", payload="x" * 50_000)


def index_of(data: bytes, *, size: bool = True) -> FakeIndex:
    index = FakeIndex()
    index.files[FILE_PATH] = data
    index.json_page("acme-lib", [{
        "filename": NAME, "url": FILE_PATH, "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
        **({"size": len(data)} if size else {})}])
    return index


@pytest.fixture
def cached(tmp_path, data) -> Iterator[tuple[FakeIndex, TestApp, pypireg.Registry, str]]:
    """The upstream index, the caching registry's app, the registry, and the file's URL
    there (from the page)."""
    index = index_of(data)
    with serve(index) as up:
        registry = caching_registry(tmp_path / "data", f"{up.url}/simple/")
        app = TestApp(mount(registry, "/api/v4"))
        yield index, app, registry, file_url(app)


def file_url(app: TestApp) -> str:
    page = app.get("/api/v4/projects/acme/packages/pypi/simple/acme-lib/",
                   headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json
    return page["files"][0]["url"].split("http://localhost:80", 1)[-1]


def kept(registry: pypireg.Registry) -> bool:
    """Whether the registry keeps the file (a storage key in its catalog row), once what
    it is fetching is kept (a download's answer ends first)."""
    registry.upstreams.files.settle()
    rows = registry.catalog.db.query("SELECT storage_key FROM upstream_files WHERE file_name = ?",
                                     [NAME])
    return any(row["storage_key"] for row in rows)


def test_a_head_is_answered_from_the_page(cached, data) -> None:
    index, app, registry, url = cached
    answer = app.head(url)
    assert answer.headers["Content-Length"] == str(len(data))
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert answer.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert index.sent == {} and not kept(registry)
    app.head(url, headers={"If-None-Match": answer.headers["ETag"]}, status=304)


def test_a_head_of_a_page_without_sizes_asks_for_one_byte(tmp_path, data) -> None:
    index = index_of(data, size=False)
    with serve(index) as up:
        app = TestApp(mount(caching_registry(tmp_path / "data", f"{up.url}/simple/"), "/api/v4"))
        answer = app.head(file_url(app))
        assert answer.headers["Content-Length"] == str(len(data))
        assert index.ranges == [(FILE_PATH, 0, 1)] and not index.whole


@pytest.mark.parametrize("header, start, stop", [
    ("bytes=-100", -100, None), ("bytes=0-9", 0, 10), ("bytes=1000-", 1000, None)])
def test_a_range_of_a_file_not_kept_is_the_upstreams_range(cached, data, header, start,
                                                           stop) -> None:
    index, app, registry, url = cached
    answer = app.get(url, headers={"Range": header}, status=206)
    assert answer.body == data[start:stop]
    first = start if start >= 0 else len(data) + start
    assert answer.headers["Content-Range"] == (
        f"bytes {first}-{first + len(answer.body) - 1}/{len(data)}")
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert index.sent[FILE_PATH] == len(answer.body) and not index.whole
    assert not kept(registry)  # a range verifies nothing: nothing is kept
    # A whole download then fetches it, verified, and keeps it; later ranges are storage's.
    assert app.get(url).body == data
    assert index.whole[FILE_PATH] == 1 and kept(registry)
    again = app.get(url, headers={"Range": header}, status=206)
    assert again.body == data[start:stop] and index.whole[FILE_PATH] == 1
    assert len(index.ranges) == 1


def test_a_range_past_the_end_is_a_416(cached, data) -> None:
    index, app, _, url = cached
    refused = app.get(url, headers={"Range": f"bytes={len(data) + 10}-"}, status=416)
    assert refused.headers["Content-Range"] == f"bytes */{len(data)}"
    assert not index.whole


def test_several_ranges_or_an_upstream_without_ranges_get_the_whole_file(cached, data
                                                                         ) -> None:
    index, app, registry, url = cached
    assert app.get(url, headers={"Range": "bytes=0-1,5-6"}).body == data
    assert index.whole[FILE_PATH] == 1 and not index.ranges


def test_an_upstream_without_ranges_gets_asked_for_the_whole_file(tmp_path, data) -> None:
    index = index_of(data)
    index.serves_ranges = False
    with serve(index) as up:
        registry = caching_registry(tmp_path / "data", f"{up.url}/simple/")
        app = TestApp(mount(registry, "/api/v4"))
        url = file_url(app)
        answer = app.get(url, headers={"Range": "bytes=-100"})
        assert answer.status_int == 200 and answer.body == data and kept(registry)
        # Its whole answer to the range was dropped after its headers; the fetch then
        # kept the file, and later ranges come from storage.
        assert index.whole[FILE_PATH] == 2
        assert app.get(url, headers={"Range": "bytes=-100"}, status=206).body == data[-100:]
        assert index.whole[FILE_PATH] == 2


def test_a_range_of_another_file_than_the_pages_is_a_502(tmp_path, data) -> None:
    index = index_of(data)
    with serve(index) as up:
        app = TestApp(mount(caching_registry(tmp_path / "data", f"{up.url}/simple/"),
                            "/api/v4"))
        url = file_url(app)
        index.files[FILE_PATH] = data + b"more"  # the upstream's file changed under its page
        refused = app.get(url, headers={"Range": "bytes=-100"}, status=502)
        assert "its page says" in refused.json["message"]


def test_a_suffix_longer_than_the_file_is_the_whole_file(cached, data) -> None:
    index, app, _, url = cached
    answer = app.get(url, headers={"Range": f"bytes=-{len(data) * 2}"}, status=206)
    assert answer.body == data and answer.headers["Content-Range"] == (
        f"bytes 0-{len(data) - 1}/{len(data)}")
    assert index.ranges == [(FILE_PATH, 0, len(data))]


def test_a_head_of_a_file_the_upstream_lost_is_a_502(tmp_path, data) -> None:
    index = index_of(data, size=False)
    with serve(index) as up:
        app = TestApp(mount(caching_registry(tmp_path / "data", f"{up.url}/simple/"), "/api/v4"))
        url = file_url(app)
        del index.files[FILE_PATH]
        assert app.head(url, status="*").status_int == 502


def test_a_range_past_the_pass_through_bound_is_a_download(tmp_path) -> None:
    from pypireg.upstream.ranges import MAX_PART

    big = wheel_bytes("acme-lib", "1.0", payload="x" * (MAX_PART + 1000))
    index = index_of(big)
    with serve(index) as up:
        registry = caching_registry(tmp_path / "data", f"{up.url}/simple/")
        app = TestApp(mount(registry, "/api/v4"))
        url = file_url(app)
        answer = app.get(url, headers={"Range": "bytes=0-"}, status="*")
        assert answer.status_int in (200, 206) and answer.body == big  # (all of it: a 200)
        assert index.whole[FILE_PATH] == 1 and not index.ranges
        assert kept(registry)  # fetched once, verified, kept; the range from storage
