"""The cache of upstream indexes (docs/proxy.md): pages fetched, rewritten and revalidated,
files fetched once and verified, stale-if-error, priority order, dependency confusion and
the cooldown. Upstreams are live servers on 127.0.0.1: another pypireg, or a small index
the test writes (tests/upstreams.py)."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from pypi_simple import ProjectPage

import pypireg
from pypireg import mount
from pypireg.upstream import UpstreamSettings
from pypireg.upstream.files import file_key

from .distributions import wheel_bytes, wheel_name
from .helpers import Env, basic, recorded_queries, sha256
from .upstreams import FakeIndex, closed_port, one_wheel_index, serve, silent_port

PAGE = "/projects/acme%2Ftools/packages/pypi/simple/{name}/"
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
HTML = {"Accept": "text/html"}


class Origin:
    """A pypireg serving ``acme/tools`` publicly, as an upstream of the registry under test."""

    def __init__(self, env: Env, served) -> None:  # type: ignore[no-untyped-def]
        self.env = env
        self.served = served
        self.index = f"{served.url}/api/v4/projects/acme%2Ftools/packages/pypi/simple/"


@pytest.fixture
def origin():  # type: ignore[no-untyped-def]
    env = Env(pypireg.create_app())
    env.upload_wheel("acme/tools", "requests", "2.0", token=env.writer, requires_python=">=3.8")
    env.upload_wheel("acme/tools", "requests", "2.1", token=env.writer)
    env.registry.yank("acme/tools", "requests", "2.0", reason="broken")
    env.upload_wheel("acme/tools", "twin", "9.0", token=env.writer)
    env.upload_wheel("acme/tools", "oldlib", "1.0", token=env.writer)
    env.registry.set_name_status(env.public, "oldlib", "deprecated", reason="use newlib")
    with serve(mount(env.registry, "/api/v4")) as served:
        yield Origin(env, served)


def proxy(catalog, tmp_path, upstream, **settings) -> Env:  # type: ignore[no-untyped-def]
    """The registry under test, caching ``upstream``."""
    settings.setdefault("upstream_mode", "cache")
    return Env(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path / "staging"),
                                  upstream=upstream, **settings))


def path_of(url: str) -> str:
    return urlsplit(url).path


def fetch_page(env: Env, name: str, headers=JSON, status=200):  # type: ignore[no-untyped-def]
    return env.app.get(PAGE.format(name=name), headers=headers, status=status)


# -- pages -------------------------------------------------------------------------------------


def test_a_page_keeps_every_field_and_names_files_by_this_registry(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index)
    theirs = origin.env.app.get(PAGE.format(name="requests"), headers=JSON).json
    ours = fetch_page(env, "requests").json
    assert ours["name"] == "requests"
    assert ours["versions"] == ["2.0", "2.1"]
    assert ours["project-status"] == {"status": "active"}
    for mine, upstream in zip(ours["files"], theirs["files"], strict=True):
        assert mine["url"] == (f"http://localhost/projects/acme/tools/packages/pypi/files/"
                               f"{upstream['hashes']['sha256']}/{upstream['filename']}")
        for key in ("filename", "hashes", "requires-python", "core-metadata", "yanked",
                    "size", "upload-time"):
            assert mine.get(key) == upstream.get(key), key
    assert ours["files"][0]["yanked"] == "broken"
    assert ours["files"][0]["requires-python"] == ">=3.8"

    html = fetch_page(env, "requests", HTML).text
    page = ProjectPage.from_html("requests", html, base_url="http://localhost/")
    assert [p.filename for p in page.packages] == [f["filename"] for f in ours["files"]]
    assert [p.digests["sha256"] for p in page.packages] == [
        f["hashes"]["sha256"] for f in ours["files"]]
    assert page.packages[0].is_yanked and page.packages[0].yanked_reason == "broken"
    assert page.packages[0].requires_python == ">=3.8"
    assert all(p.has_metadata for p in page.packages)
    assert all(p.url.startswith("http://localhost/projects/acme/tools/") for p in page.packages)


def test_a_project_status_upstream_is_kept(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index)
    page = fetch_page(env, "oldlib").json
    assert page["project-status"] == {"status": "deprecated", "reason": "use newlib"}
    html = fetch_page(env, "oldlib", HTML).text
    assert '<meta name="pypi:project-status" content="deprecated">' in html


def test_a_name_no_upstream_has_is_a_404_and_is_remembered(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index)
    fetch_page(env, "nothing-here", status=404)
    fetch_page(env, "nothing-here", status=404)
    assert origin.served.count("/simple/nothing-here/") == 1  # the answer is kept for the TTL


def test_pages_are_kept_for_the_ttl_then_revalidated_with_the_etag(origin, catalog, tmp_path):
    kept = proxy(catalog, tmp_path, origin.index, upstream_ttl="1h")
    first = fetch_page(kept, "requests")
    assert fetch_page(kept, "requests").body == first.body
    assert origin.served.count("/simple/requests/") == 1

    always = proxy(pypireg.Catalog(), tmp_path, origin.index, upstream_ttl=0)
    fetch_page(always, "requests")
    fetch_page(always, "requests")
    asked = origin.served.headers_of("/simple/requests/")[1:]
    assert len(asked) == 2 and "If-None-Match" in asked[-1]
    assert origin.served.count("/simple/requests/", 304) == 1

    # A change upstream shows once the page is revalidated, with a new ETag.
    origin.env.upload_wheel("acme/tools", "requests", "2.2", token=origin.env.writer)
    before = first.headers["ETag"]
    again = fetch_page(always, "requests")
    assert again.json["versions"] == ["2.0", "2.1", "2.2"]
    assert again.headers["ETag"] != before
    fetch_page(always, "requests", headers={**JSON, "If-None-Match": again.headers["ETag"]},
               status=304)


def test_a_page_an_upstream_cannot_confirm_is_served_stale_and_says_so(catalog, tmp_path):
    origin_env = Env(pypireg.create_app())
    origin_env.upload_wheel("acme/tools", "requests", "2.0", token=origin_env.writer)
    with serve(mount(origin_env.registry, "/api/v4")) as served:
        index = f"{served.url}/api/v4/projects/acme%2Ftools/packages/pypi/simple/"
        env = proxy(catalog, tmp_path, index, upstream_ttl=0)
        page = fetch_page(env, "requests")
        assert "X-Pypireg-Stale" not in page.headers
        file_path = path_of(page.json["files"][0]["url"])
        env.app.get(file_path)  # kept
    # The upstream is gone now.
    stale = fetch_page(env, "requests")
    assert stale.json == page.json
    assert "failed" in stale.headers["X-Pypireg-Stale"]
    assert "serving what it gave at" in stale.headers["X-Pypireg-Stale"]
    assert env.app.get(file_path).body == wheel_bytes("requests", "2.0")
    never = fetch_page(env, "never-seen", status=502)
    assert "could not be reached" in never.json["message"]
    assert index.split("/api")[0].replace("http://", "") in never.json["message"]


def test_an_upstream_that_hangs_is_a_504_and_is_not_waited_for_again(catalog, tmp_path):
    with silent_port() as silent:
        env = proxy(catalog, tmp_path, UpstreamSettings(
            urls=(silent.url,), mode="cache", read_timeout=0.3, connect_timeout=0.3))
        answer = fetch_page(env, "anything", status=504)
        assert "did not answer within 0.3 s" in answer.json["message"]
        assert len(silent.held) == 1  # a read that timed out is not tried again
        # Known to be down: the next names get its error at once, without a connection.
        assert "did not answer" in fetch_page(env, "other", status=504).json["message"]
        assert len(silent.held) == 1


def test_a_cached_page_of_an_upstream_that_hangs_is_served_stale_at_once(catalog, tmp_path):
    index = FakeIndex()
    data = wheel_bytes("slow", "1.0")
    index.json_page("slow", [{"filename": wheel_name("slow", "1.0"), "url": "/f/slow.whl",
                              "hashes": {"sha256": sha256(data)}}])
    with serve(index) as served:
        env = proxy(catalog, tmp_path, UpstreamSettings(
            urls=(f"{served.url}/simple/",), mode="cache", ttl=timedelta(0), read_timeout=0.3))
        page = fetch_page(env, "slow")
        index.stall = threading.Event()  # from now on its pages never come
        try:
            stale = fetch_page(env, "slow")
            assert stale.json == page.json
            assert "did not answer within 0.3 s" in stale.headers["X-Pypireg-Stale"]
            again = fetch_page(env, "slow")  # at once: the upstream is known to be down
            assert again.json == page.json and "X-Pypireg-Stale" in again.headers
            assert index.page_requests == 2  # the first fetch, and the one that timed out
        finally:
            index.stall.set()


def test_an_upstream_that_is_down_is_a_502_naming_it(catalog, tmp_path):
    url = closed_port()
    env = proxy(catalog, tmp_path, url)
    answer = fetch_page(env, "anything", status=502)
    assert answer.json["message"].startswith("502 Bad Gateway - upstream http://127.0.0.1:")
    assert "Connection refused" in answer.json["message"]


# -- files -------------------------------------------------------------------------------------


def test_files_and_metadata_are_fetched_once_then_served_from_storage(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index)
    entry = fetch_page(env, "requests").json["files"][1]
    path = path_of(entry["url"])
    first = env.app.get(path)
    assert first.body == wheel_bytes("requests", "2.1")
    assert first.headers["Content-Length"] == str(entry["size"])
    second = env.app.get(path)
    assert second.body == first.body and second.headers["Accept-Ranges"] == "bytes"
    assert env.app.get(path, headers={"Range": "bytes=0-9"}, status=206).body == first.body[:10]
    assert origin.served.count(f"/files/{entry['hashes']['sha256']}/", 200) == 1
    assert env.registry.storage.exists(file_key(entry["hashes"]["sha256"]))

    metadata = env.app.get(path + ".metadata")
    assert hashlib.sha256(metadata.body).hexdigest() == entry["core-metadata"]["sha256"]
    env.app.get(path + ".metadata")
    assert origin.served.count(".metadata") == 1
    # No provenance is kept of upstream files.
    env.app.get(path + "/provenance", status=404)


def test_a_file_url_needs_a_listed_file(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index)
    entry = fetch_page(env, "requests").json["files"][0]
    path = path_of(entry["url"])
    env.app.get(path.replace(entry["hashes"]["sha256"], "0" * 64), status=404)
    env.app.get(path.rsplit("/", 1)[0] + "/other-1.0-py3-none-any.whl", status=404)
    assert origin.served.count("/files/") == 0


def bad_index(data: bytes, advertised: bytes, name: str = "evil") -> FakeIndex:
    index = FakeIndex()
    file_name = wheel_name(name, "1.0")
    index.files[f"/files/{file_name}"] = data
    index.json_page(name, [{"filename": file_name, "url": f"/files/{file_name}",
                            "hashes": {"sha256": sha256(advertised)}}])
    return index


def test_bytes_that_do_not_match_the_upstream_sha256_are_never_kept(catalog, tmp_path):
    honest = wheel_bytes("evil", "1.0")
    forged = honest[:-4] + b"XXXX"  # the same size: only the digest tells them apart
    with serve(bad_index(forged, honest)) as served:
        env = proxy(catalog, tmp_path, f"{served.url}/simple/")
        entry = fetch_page(env, "evil").json["files"][0]
        path = path_of(entry["url"])
        # The fetch runs beside the answer: the answer breaks off before its end (over
        # HTTP: tests/test_upstream_fetch.py) or, when the fetch has failed before the
        # answer starts (a busy machine), is that failure.
        try:
            first = env.app.get(path, expect_errors=True)
        except pypireg.upstream.UpstreamUnreachable as exc:
            assert "have sha256" in str(exc)
        else:
            assert first.status_int == 502 and "have sha256" in first.json["message"]
        # For a while, the failure is the answer: not another download of the file.
        again = env.app.get(path, status=502)
        assert "have sha256" in again.json["message"]
        cached = env.registry.catalog.upstream_file(entry["hashes"]["sha256"], entry["filename"])
        assert cached is not None and cached.storage_key is None
        assert not env.registry.storage.exists(file_key(sha256(honest)))
        assert served.count("/files/") == 1


def test_a_size_that_does_not_match_the_page_is_refused_before_any_byte(catalog, tmp_path):
    honest = wheel_bytes("evil", "1.0")
    index = bad_index(honest + b"more", honest)
    page = json.loads(index.pages["evil"][1])
    page["files"][0]["size"] = len(honest)
    index.pages["evil"] = (index.pages["evil"][0], json.dumps(page).encode())
    with serve(index) as served:
        env = proxy(catalog, tmp_path, f"{served.url}/simple/")
        entry = fetch_page(env, "evil").json["files"][0]
        answer = env.app.get(path_of(entry["url"]), status=502)
    assert "its page says" in answer.json["message"]


def test_a_file_the_upstream_lost_is_a_502(catalog, tmp_path):
    honest = wheel_bytes("evil", "1.0")
    index = bad_index(honest, honest)
    index.files.clear()
    with serve(index) as served:
        env = proxy(catalog, tmp_path, f"{served.url}/simple/")
        entry = fetch_page(env, "evil").json["files"][0]
        answer = env.app.get(path_of(entry["url"]), status=502)
    assert "answered 404" in answer.json["message"]


# -- whose names -------------------------------------------------------------------------------


def test_a_name_held_here_never_shows_upstream_files(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index)
    env.upload_wheel("acme/tools", "twin", "1.0", token=env.writer)  # upstream has 9.0
    page = fetch_page(env, "twin").json
    assert page["versions"] == ["1.0"]
    theirs = origin.env.app.get(PAGE.format(name="twin"), headers=JSON).json["files"][0]
    # Nor can its URL be used here: the name is this registry's.
    fetch_page(env, "requests")  # caches another page, so the cache is in use
    env.app.get(f"/projects/acme%2Ftools/packages/pypi/files/{theirs['hashes']['sha256']}/"
                f"{theirs['filename']}", status=404)
    assert origin.served.count("/simple/twin/") == 0


def test_a_name_held_by_a_status_or_a_rule_is_never_taken_from_upstream(origin, catalog,
                                                                          tmp_path):
    env = proxy(catalog, tmp_path, origin.index)
    env.upload_wheel("acme/tools", "twin", "1.0", token=env.writer)
    env.registry.set_name_status(env.public, "twin", "archived")
    env.registry.delete_package(env.registry._live_package("acme/tools", "twin", "1.0"))
    fetch_page(env, "twin", status=404)  # deleted, not yet purged
    env.registry.collect_garbage()
    fetch_page(env, "twin", status=404)  # purged: the status still holds the name
    env.registry.add_protection_rule(env.public, package_name_pattern="request*",
                                     package_type="pypi", minimum_access_level_for_push="owner")
    fetch_page(env, "requests", status=404)
    assert origin.served.count("/simple/") == 0


def test_a_name_held_here_before_its_files_were_cached_no_longer_serves_them(
        origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index)
    entry = fetch_page(env, "twin").json["files"][0]
    env.app.get(path_of(entry["url"]))
    env.upload_wheel("acme/tools", "twin", "1.0", token=env.writer)
    assert fetch_page(env, "twin").json["versions"] == ["1.0"]
    env.app.get(path_of(entry["url"]), status=404)


def test_a_merged_name_lists_both_and_local_files_win(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index, upstream_merge=["Twin"])
    env.upload_wheel("acme/tools", "twin", "1.0", token=env.writer)
    page = fetch_page(env, "twin").json
    assert page["versions"] == ["1.0", "9.0"]
    assert env.app.get(path_of(page["files"][1]["url"])).body == wheel_bytes("twin", "9.0")
    # An upload of the same file name here hides the upstream's.
    env.upload_wheel("acme/tools", "twin", "9.0", token=env.writer, payload="ours")
    files = fetch_page(env, "twin").json["files"]
    assert [f["filename"] for f in files] == [wheel_name("twin", "1.0"), wheel_name("twin", "9.0")]
    ours = wheel_bytes("twin", "9.0", payload="ours")
    assert files[1]["hashes"]["sha256"] == sha256(ours)


def test_a_private_scope_serves_upstream_pages_to_its_readers_only(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index)
    private = "/projects/acme%2Fteam%2Fsecret/packages/pypi/simple/requests/"
    env.app.get(private, status=401)
    page = env.app.get(private, headers={**JSON, **basic(env.reader)})
    entry = page.json["files"][1]
    assert "private" in page.headers["Cache-Control"]
    env.app.get(path_of(entry["url"]), status=401)
    download = env.app.get(path_of(entry["url"]), headers=basic(env.reader))
    assert "private" in download.headers["Cache-Control"]


# -- several upstreams -------------------------------------------------------------------------


def test_the_first_upstream_that_has_a_name_serves_it(origin, catalog, tmp_path):
    first = FakeIndex()
    data = wheel_bytes("twin", "0.1")
    first.files["/f/twin-0.1-py3-none-any.whl"] = data
    first.json_page("twin", [{"filename": "twin-0.1-py3-none-any.whl",
                              "url": "/f/twin-0.1-py3-none-any.whl",
                              "hashes": {"sha256": sha256(data)}}])
    with serve(first) as mirror:
        env = proxy(catalog, tmp_path, [f"{mirror.url}/simple/", origin.index])
        assert fetch_page(env, "twin").json["versions"] == ["0.1"]  # not the second's 9.0
        assert fetch_page(env, "requests").json["versions"] == ["2.0", "2.1"]  # first has none
    assert origin.served.count("/simple/twin/") == 0


def test_a_first_upstream_that_cannot_answer_is_not_skipped(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, [closed_port(), origin.index])
    answer = fetch_page(env, "requests", status=502)
    assert "could not be reached" in answer.json["message"]
    assert origin.served.count("/simple/requests/") == 0


# -- cooldown ----------------------------------------------------------------------------------


def test_files_younger_than_the_cooldown_or_without_a_time_are_held_back(catalog, tmp_path):
    index = FakeIndex()
    entries = []
    for version, when in (("1.0", "2020-01-01T00:00:00Z"), ("2.0", "2999-01-01T00:00:00Z"),
                          ("3.0", None)):
        data = wheel_bytes("cool", version)
        name = wheel_name("cool", version)
        index.files[f"/f/{name}"] = data
        entry = {"filename": name, "url": f"/f/{name}", "hashes": {"sha256": sha256(data)}}
        if when:
            entry["upload-time"] = when
        entries.append(entry)
    index.json_page("cool", entries)
    with serve(index) as served:
        env = proxy(catalog, tmp_path, f"{served.url}/simple/", min_upstream_age="7d")
        page = fetch_page(env, "cool").json
        assert page["versions"] == ["1.0"]
        assert page["files"][0]["upload-time"] == "2020-01-01T00:00:00Z"  # as written
        held = f"/projects/acme%2Ftools/packages/pypi/files/{entries[1]['hashes']['sha256']}/" \
               f"{entries[1]['filename']}"
        fetch_page(env, "cool", HTML)
        answer = env.app.get(held, status=404)
        assert "held back" in answer.json["message"] and "7d" in answer.json["message"]
        everything = proxy(pypireg.Catalog(), tmp_path, f"{served.url}/simple/")
        assert fetch_page(everything, "cool").json["versions"] == ["1.0", "2.0", "3.0"]


# -- hostile upstreams -------------------------------------------------------------------------


def test_entries_an_upstream_should_not_send_are_left_out(catalog, tmp_path):
    index = FakeIndex()
    good = wheel_bytes("odd", "1.0")
    digest = sha256(good)
    index.json_page("odd", [
        {"filename": "../../etc/passwd", "url": "/x", "hashes": {"sha256": digest}},
        {"filename": "a/b-1.0.tar.gz", "url": "/x", "hashes": {"sha256": digest}},
        {"filename": "odd-0.5.tar.gz", "url": "/x", "hashes": {"md5": "0" * 32}},
        {"filename": "odd-0.6.tar.gz", "url": "ftp://x/odd", "hashes": {"sha256": digest}},
        {"filename": 7, "url": "/x", "hashes": {"sha256": digest}},
        "not an entry",
        {"filename": wheel_name("odd", "1.0"), "url": "/f/odd", "hashes": {"sha256": digest},
         "size": "big", "yanked": 3, "requires-python": ["no"]},
    ])
    with serve(index) as served:
        env = proxy(catalog, tmp_path, f"{served.url}/simple/")
        page = fetch_page(env, "odd").json
    assert [f["filename"] for f in page["files"]] == [wheel_name("odd", "1.0")]
    assert page["files"][0]["yanked"] is False and "size" not in page["files"][0]


@pytest.mark.parametrize("body", [b"{not json", b'{"files": 3}', b'{"meta": {"api-version":'
                                  b' "2.0"}, "files": []}'])
def test_a_page_that_is_not_a_page_is_a_502(catalog, tmp_path, body):
    index = FakeIndex()
    index.pages["junk"] = ("application/vnd.pypi.simple.v1+json", body)
    with serve(index) as served:
        env = proxy(catalog, tmp_path, f"{served.url}/simple/")
        answer = fetch_page(env, "junk", status=502)
    assert "sent no usable page" in answer.json["message"]


def test_a_page_past_the_size_limit_is_a_502(catalog, tmp_path):
    index = FakeIndex()
    index.json_page("huge", [], padding="x" * 5000)
    with serve(index) as served:
        env = Env(pypireg.create_app(
            catalog=catalog, staging_dir=str(tmp_path / "staging"),
            upstream=f"{served.url}/simple/", upstream_mode="cache",
            limits=pypireg.Limits(max_upstream_page_size=4096)))
        answer = fetch_page(env, "huge", status=502)
    assert "more than 4,096 bytes" in answer.json["message"]


def test_an_html_only_upstream(catalog, tmp_path):
    data = wheel_bytes("plain", "1.0")
    name = wheel_name("plain", "1.0")
    index = FakeIndex()
    index.files[f"/packages/{name}"] = data
    index.pages["plain"] = ("text/html", (
        f'<html><body><a href="../../packages/{name}#sha256={sha256(data)}"'
        ' data-requires-python="&gt;=3.9" data-yanked="">'
        f"{name}</a></body></html>").encode())
    with serve(index) as served:
        env = proxy(catalog, tmp_path, f"{served.url}/simple/")
        page = fetch_page(env, "plain").json
        entry = page["files"][0]
        assert entry["requires-python"] == ">=3.9" and entry["yanked"] is True
        assert "size" not in entry and "upload-time" not in entry
        assert env.app.get(path_of(entry["url"])).body == data
        assert served.count(f"/packages/{name}") == 1


# -- settings, gc and purging ------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "message"), [
    ({"upstream": "ftp://example.com/simple/"}, "not an http"),
    ({"upstream": "https://pypi.org/simple/", "upstream_mode": "mirror"}, "upstream mode"),
    ({"upstream": "https://pypi.org/simple/", "upstream_ttl": "soon"}, "must be a number"),
    ({"upstream": "https://pypi.org/simple/", "min_upstream_age": "-1d"}, "must be a number"),
])
def test_settings_that_cannot_be_used_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        pypireg.create_app(**settings)


def test_gc_counts_the_cache_and_keeps_it_until_purged(origin, tmp_path):
    env = Env(pypireg.create_app(tmp_path / "data", upstream=origin.index,
                                 upstream_mode="cache"))
    entries = fetch_page(env, "requests").json["files"]
    for entry in entries:
        env.app.get(path_of(entry["url"]))
    env.registry.upstreams.files.settle()  # kept once their answers have ended
    fetch_page(env, "twin")
    report = env.registry.collect_garbage()
    assert (report.upstream_pages, report.upstream_files) == (2, 2)
    assert report.upstream_bytes == sum(e["size"] for e in entries)
    assert "the upstream cache holds 2 pages and 2 files" in str(report)
    keys = [file_key(e["hashes"]["sha256"]) for e in entries]
    assert all(env.registry.storage.exists(key) for key in keys)  # gc kept them

    assert env.registry.purge_upstream_cache("Requests") == (1, 2, 2)
    assert not any(env.registry.storage.exists(key) for key in keys)
    assert env.registry.catalog.upstream_cache_usage() == (1, 0, 0)
    # Asked again, they are fetched again.
    entry = fetch_page(env, "requests").json["files"][0]
    assert sha256(env.app.get(path_of(entry["url"])).body) == entry["hashes"]["sha256"]
    assert origin.served.count("/simple/requests/") == 2


@pytest.mark.parametrize(("file_url", "kept"), [
    ("https://files.example.org/packages/odd-1.0.tar.gz", True),
    ("http://169.254.169.254/latest/meta-data", False),
    ("http://127.0.0.1:8080/admin", False),
    ("http://10.0.0.7/odd-1.0.tar.gz", False),
    ("http://[::1]/odd-1.0.tar.gz", False),
    ("http://localhost/odd-1.0.tar.gz", False),
])
def test_a_public_page_cannot_send_the_registry_to_internal_addresses(file_url, kept):
    from pypireg.upstream.parse import parse_page

    body = json.dumps({"files": [{"filename": "odd-1.0.tar.gz", "url": file_url,
                                  "hashes": {"sha256": "0" * 64}}]}).encode()
    _, files, _ = parse_page(body, "application/vnd.pypi.simple.v1+json",
                             "https://index.example.org/simple/odd/", "odd")
    assert bool(files) is kept
    # From an internal mirror, internal hosts are its to name.
    _, files, _ = parse_page(body, "application/vnd.pypi.simple.v1+json",
                             "http://10.0.0.2/simple/odd/", "odd")
    assert files


def test_every_sdist_pip_installs_is_kept_with_its_upload_time_as_written():
    from pypireg.upstream.parse import parse_page

    names = ["python-dateutil-2.4.1.tar.bz2", "python_dateutil-2.4.2.tar.gz",
             "python-dateutil-1.5.tgz", "python-dateutil-2.0.tar.xz", "python-dateutil-1.4.tar",
             "python-dateutil-1.2.zip", "python_dateutil-2.8.2-py2.py3-none-any.whl",
             # not python-dateutil's, not a version, not a distribution pip installs
             "python-dateutil-extras-1.0.tar.bz2", "python-dateutil-latest.tar.bz2",
             "python-dateutil-1.0.exe", "python-dateutil-1.0.egg", "python-dateutil-1.0.rpm"]
    times = ["2015-07-07T02:02:08.364951Z", "2015-07-07T02:02:08Z",
             "2015-07-07T04:02:08.364951+02:00", "2015-07-07T02:02:08.364Z", *[None] * 8]
    body = json.dumps({"files": [
        {"filename": name, "url": f"/f/{name}", "hashes": {"sha256": "0" * 64},
         **({"upload-time": when} if when else {})}
        for name, when in zip(names, times, strict=True)]})
    _, files, _ = parse_page(body.encode(), "application/vnd.pypi.simple.v1+json",
                             "https://index.example.org/simple/python-dateutil/",
                             "python-dateutil")
    assert [(f.file_name, f.version) for f in files] == [
        ("python-dateutil-2.4.1.tar.bz2", "2.4.1"), ("python_dateutil-2.4.2.tar.gz", "2.4.2"),
        ("python-dateutil-1.5.tgz", "1.5"), ("python-dateutil-2.0.tar.xz", "2.0"),
        ("python-dateutil-1.4.tar", "1.4"), ("python-dateutil-1.2.zip", "1.2"),
        ("python_dateutil-2.8.2-py2.py3-none-any.whl", "2.8.2")]
    # As the upstream wrote them when in UTC; else in UTC, to the microsecond.
    assert [f.upload_time for f in files[:4]] == [
        "2015-07-07T02:02:08.364951Z", "2015-07-07T02:02:08Z", "2015-07-07T02:02:08.364951Z",
        "2015-07-07T02:02:08.364Z"]


# -- what an upstream cannot make the registry do ----------------------------------------------


def test_upstream_credentials_go_to_its_host_only_and_are_never_shown(catalog, tmp_path):
    origin = Env(pypireg.create_app())
    origin.upload_wheel("acme/team/secret", "hidden", "1.0", token=origin.writer)
    with serve(mount(origin.registry, "/api/v4")) as served:
        host = served.url.removeprefix("http://")
        index = (f"http://__token__:{origin.reader}@{host}/api/v4/projects/acme%2Fteam%2Fsecret"
                 "/packages/pypi/simple/")
        env = proxy(catalog, tmp_path, index)
        entry = fetch_page(env, "hidden").json["files"][0]
        assert sha256(env.app.get(path_of(entry["url"])).body) == entry["hashes"]["sha256"]
        cached = env.registry.catalog.upstream_file(entry["hashes"]["sha256"], entry["filename"])
        assert cached is not None and origin.reader not in cached.url
        assert origin.reader not in env.registry.upstreams.describe()
        assert all("Authorization" in h for h in served.headers_of("/hidden"))
        redirecting = proxy(pypireg.Catalog(), tmp_path, index, upstream_mode="redirect")
        location = fetch_page(redirecting, "hidden", status=302).headers["Location"]
        assert location == index.replace(f"__token__:{origin.reader}@", "") + "hidden/"


def test_a_page_cannot_list_another_projects_files(catalog, tmp_path):
    index = FakeIndex()
    theirs = wheel_bytes("acme-core", "9.9")
    mine = wheel_bytes("harmless", "1.0")
    index.files["/f/a.whl"] = theirs
    index.files["/f/b.whl"] = mine
    index.json_page("harmless", [
        {"filename": wheel_name("acme_core", "9.9"), "url": "/f/a.whl",
         "hashes": {"sha256": sha256(theirs)}},
        {"filename": "harmless-1.0.exe", "url": "/f/b.exe", "hashes": {"sha256": sha256(mine)}},
        {"filename": wheel_name("harmless", "1.0"), "url": "/f/b.whl",
         "hashes": {"sha256": sha256(mine)}}])
    with serve(index) as served:
        env = proxy(catalog, tmp_path, f"{served.url}/simple/")
        env.upload_wheel("acme/tools", "acme-core", "1.0", token=env.writer)
        files = fetch_page(env, "harmless").json["files"]
        assert [f["filename"] for f in files] == [wheel_name("harmless", "1.0")]
        env.app.get(f"/projects/acme%2Ftools/packages/pypi/files/{sha256(theirs)}/"
                    f"{wheel_name('acme_core', '9.9')}", status=404)


def test_a_package_the_upstream_quarantines_is_no_longer_served(origin, catalog, tmp_path):
    env = proxy(catalog, tmp_path, origin.index, upstream_ttl=0)
    entry = fetch_page(env, "requests").json["files"][1]
    env.app.get(path_of(entry["url"]))  # kept
    origin.env.registry.set_name_status(origin.env.public, "requests", "quarantined",
                                        reason="malware")
    page = fetch_page(env, "requests").json
    assert page["files"] == [] and page["project-status"]["status"] == "quarantined"
    answer = env.app.get(path_of(entry["url"]), status=403)
    assert "quarantined" in answer.json["message"]


def test_a_merged_name_keeps_its_local_files_while_the_upstream_is_down(catalog, tmp_path):
    env = proxy(catalog, tmp_path, closed_port(), upstream_merge=["twin"])
    env.upload_wheel("acme/tools", "twin", "1.0", token=env.writer)
    page = fetch_page(env, "twin")
    assert page.json["versions"] == ["1.0"]
    assert "local files only" in page.headers["X-Pypireg-Stale"]


def test_fetches_past_the_limit_are_told_to_retry(catalog, tmp_path, monkeypatch):
    index = FakeIndex()
    entries = []
    for name in ("one", "two", "three"):
        data = wheel_bytes(name, "1.0")
        index.files[f"/f/{name}.whl"] = data
        entries.append(path_of(f"http://x/projects/acme%2Ftools/packages/pypi/files/"
                               f"{sha256(data)}/{wheel_name(name, '1.0')}"))
        index.json_page(name, [{"filename": wheel_name(name, "1.0"), "url": f"/f/{name}.whl",
                                "hashes": {"sha256": sha256(data)}}])
    index.hold = threading.Event()
    with serve(index) as served:
        env = proxy(catalog, tmp_path, UpstreamSettings(
            urls=(f"{served.url}/simple/",), mode="cache", max_fetches=1))
        for name in ("one", "two", "three"):
            fetch_page(env, name)
        files = env.registry.upstreams.files
        storing, stored = threading.Event(), threading.Event()
        put_file = files.storage.put_file

        def held(key, path):  # type: ignore[no-untyped-def]
            storing.set()
            assert stored.wait(30)
            put_file(key, path)

        monkeypatch.setattr(files.storage, "put_file", held)
        first = threading.Thread(target=env.app.get, args=(entries[0],))
        first.start()
        try:
            assert index.asked.wait(30)  # the first fetch has reached the upstream
            answer = env.app.get(entries[1], status=503)
            assert answer.headers["Retry-After"] == "5"
            assert "already fetching 1 files" in answer.json["message"]
        finally:
            index.hold.set()
            first.join()
        # Its slot was given back once its bytes were verified: while it is being stored,
        # the next file is fetched at once. Files being stored are bounded too (as many
        # as fetches): the second, verified while the first is stored, keeps its slot.
        assert storing.wait(30) and not stored.is_set()
        assert env.app.get(entries[1]).body == wheel_bytes("two", "1.0")
        assert "already fetching 1 files" in env.app.get(entries[2], status=503).text
        stored.set()
        assert files.settle(30)
        assert env.app.get(entries[2]).body == wheel_bytes("three", "1.0")


def test_a_file_redirected_where_the_registry_does_not_fetch_is_refused():
    from pypireg.upstream.client import UpstreamClient

    index = FakeIndex()
    index.files["/f/ok.whl"] = b"bytes"
    index.redirects["/f/moved.whl"] = "/f/ok.whl"
    index.redirects["/f/sneaky.whl"] = "/internal/secret"
    with serve(index) as served:
        client = UpstreamClient(UpstreamSettings(urls=(f"{served.url}/simple/",)), 1000,
                                lambda target, source: "/internal/" not in target)
        response = client.get_file(f"{served.url}/f/moved.whl")
        assert response.status == 200 and response.read() == b"bytes"
        response.release_conn()
        with pytest.raises(pypireg.upstream.UpstreamUnreachable, match="does not fetch from"):
            client.get_file(f"{served.url}/f/sneaky.whl")
    assert served.count("/internal/") == 0


def test_the_web_pages_say_where_names_not_held_come_from(catalog, tmp_path):
    env = proxy(catalog, tmp_path, ["https://user:secret@mirror.example/simple/",
                                    "https://pypi.example/simple/"],
                min_upstream_age="7d", upstream_merge=["twin"])
    from webtest import TestApp

    pages = TestApp(pypireg.site(env.registry))
    for path in ("/acme/tools", "/acme"):
        note = pages.get(path).html.select_one("p.upstreams").get_text(" ", strip=True)
        assert note == ("Names not held here: a cache of https://mirror.example/simple/, then"
                        " https://pypi.example/simple/ (pages revalidated after 10m; files"
                        " uploaded less than 7d ago held back; merged with local files:"
                        " twin).")
    plain = Env(pypireg.create_app())
    assert TestApp(pypireg.site(plain.registry)).get("/acme/tools").html.select_one(
        "p.upstreams") is None


def test_a_pages_files_are_decoded_once_per_version(catalog, tmp_path):
    """A cached page's list of files (thousands on a big page) is read and decoded once
    per process for each version of the page, not on every request; and not at all for a
    page already rendered, once the process has forgotten it."""
    from pypireg.catalog.decoded import DecodedFiles

    index = one_wheel_index("demo", wheel_bytes("demo", "1.0"))
    with serve(index) as served:
        env = proxy(catalog, tmp_path, UpstreamSettings(urls=(f"{served.url}/simple/",),
                                                        mode="cache"))
        first = fetch_page(env, "demo")
        seen = recorded_queries(env.registry.catalog)
        fetch_page(env, "demo")
        assert [q for q in seen if "upstream_pages" in q] != []
        assert not [q for q in seen if "upstream_page_files" in q]
        env.registry.catalog._decoded = DecodedFiles(0)  # forgotten, as a busy process does
        seen.clear()
        assert fetch_page(env, "demo").body == first.body
        assert seen and not [q for q in seen if "upstream_page_files" in q]
    kept = DecodedFiles(10)
    kept.put((1, "t1"), tuple(range(6)))  # type: ignore[arg-type]
    kept.put((2, "t1"), tuple(range(6)))  # type: ignore[arg-type]
    assert kept.get((1, "t1")) is None and kept.get((2, "t1")) is not None
    kept.put((3, "t1"), tuple(range(11)))  # type: ignore[arg-type]  # more than it holds
    assert kept.get((3, "t1")) is None and kept.get((2, "t1")) is not None


def test_a_page_given_a_new_version_while_it_is_read_is_answered_from_the_new_one(
        catalog, tmp_path):
    from pypireg.catalog.decoded import DecodedFiles
    from pypireg.pagecache import PageCache

    wheel = wheel_bytes("demo", "1.0")
    with serve(one_wheel_index("demo", wheel)) as served:
        env = proxy(catalog, tmp_path, UpstreamSettings(urls=(f"{served.url}/simple/",),
                                                        mode="cache"))
        fetch_page(env, "demo")
        registry = env.registry
        registry.catalog._decoded = DecodedFiles(0)
        registry.pages = PageCache()  # neither its files nor its page kept
        cached = registry.catalog.upstream_file(sha256(wheel), wheel_name("demo", "1.0"))
        read = registry.catalog.upstream_page
        calls: list[str] = []

        def then_noted(upstream, name):  # type: ignore[no-untyped-def]
            page = read(upstream, name)
            if not calls:  # metadata noted by another request, between head and files
                registry.catalog.note_upstream_metadata(cached.id, "c" * 64, None)
            calls.append(name)
            return page

        registry.catalog.upstream_page = then_noted  # type: ignore[method-assign]
        files = fetch_page(env, "demo").json["files"]
    assert len(calls) == 2
    assert files[0]["core-metadata"] == {"sha256": "c" * 64}


def test_a_file_whose_page_keeps_changing_while_it_is_looked_up_is_a_503(catalog, tmp_path):
    from pypireg.catalog.decoded import PageMoved

    with serve(one_wheel_index("demo", wheel_bytes("demo", "1.0"))) as served:
        env = proxy(catalog, tmp_path, UpstreamSettings(urls=(f"{served.url}/simple/",),
                                                        mode="cache"))
        url = fetch_page(env, "demo").json["files"][0]["url"]

        def moving(*args):  # type: ignore[no-untyped-def]
            raise PageMoved(1)

        env.registry.catalog._listed = moving  # type: ignore[method-assign]
        answer = env.app.get(path_of(url), status=503)
    assert "kept changing" in answer.json["message"]
    assert answer.headers["Retry-After"] == "5"


def test_two_versions_of_a_page_saved_in_one_millisecond_are_told_apart(catalog, monkeypatch):
    """Each new version of a page gets a later changed_at than the last, however close they
    come (two workers refreshing it at once): a version is what a process keeps decoded."""
    from pypireg.catalog import upstream as module
    from pypireg.models import UpstreamFile

    monkeypatch.setattr(module, "utcnow", lambda: "2026-12-07T00:00:00.000Z")
    kept = UpstreamFile("demo-1.0.tar.gz", "https://files.example/demo-1.0.tar.gz", "0" * 64,
                        "1.0", "", None, "", None, False, "")
    first = catalog.save_upstream_page("https://index.example/simple/", "demo", found=True,
                                       name="demo", files=[kept])
    yanked = kept._replace(yanked=True, yanked_reason="broken")
    second = catalog.save_upstream_page("https://index.example/simple/", "demo", found=True,
                                        name="demo", files=[yanked])
    assert second.changed_at > first.changed_at
    assert catalog.upstream_page("https://index.example/simple/", "demo").files == (yanked,)


def test_a_page_redirected_where_the_registry_does_not_fetch_is_refused():
    from pypireg.upstream.client import UpstreamClient

    index = one_wheel_index("demo", wheel_bytes("demo", "1.0"))
    index.redirects["/simple/moved/"] = "/internal/simple/moved/"
    with serve(RedirectingPages(index)) as served:
        client = UpstreamClient(UpstreamSettings(urls=(f"{served.url}/simple/",)), 1000,
                                lambda target, source: "/internal/" not in target)
        with pytest.raises(pypireg.upstream.UpstreamUnreachable, match="does not fetch from"):
            client.page(f"{served.url}/simple/", "moved")
    assert served.count("/internal/") == 0


class RedirectingPages:
    """``index``, answering its redirects before its pages."""

    def __init__(self, index: FakeIndex) -> None:
        self.index = index

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        target = self.index.redirects.get(environ["PATH_INFO"])
        if target is None:
            return self.index(environ, start_response)
        start_response("302 Found", [("Location", target)])
        return [b""]


def test_a_page_rendered_again_renders_only_the_files_that_changed(catalog, tmp_path,
                                                                    monkeypatch):
    """A digest learned of one wheel gives its page a new version: the page is rendered
    again with the other files' pieces as they were, byte for byte what a whole new render
    gives, and never with another base URL's pieces."""
    from pypireg import render
    from pypireg.pagecache import PageCache

    index = FakeIndex()
    wheels = {version: wheel_bytes("demo", version) for version in ("1.0", "1.1", "2.0")}
    for version, data in wheels.items():
        index.files[f"/files/{version}.whl"] = data
    index.json_page("demo", [{"filename": wheel_name("demo", version),
                              "url": f"/files/{version}.whl",
                              "hashes": {"sha256": sha256(data)}}
                             for version, data in wheels.items()])
    rendered: list[str] = []

    def counting(piece):  # type: ignore[no-untyped-def]
        def counted(f):  # type: ignore[no-untyped-def]
            rendered.append(f.filename)
            return piece(f)
        return counted

    monkeypatch.setattr(render, "file_json", counting(render.file_json))
    monkeypatch.setattr(render, "file_html", counting(render.file_html))
    with serve(index) as served:
        env = proxy(catalog, tmp_path, UpstreamSettings(urls=(f"{served.url}/simple/",),
                                                        mode="cache"))
        for headers in (JSON, HTML):
            fetch_page(env, "demo", headers)
        assert sorted(rendered) == sorted([wheel_name("demo", v) for v in wheels] * 2)
        cached = env.registry.catalog.upstream_file(sha256(wheels["1.1"]),
                                                    wheel_name("demo", "1.1"))
        env.registry.catalog.note_upstream_metadata(cached.id, "c" * 64, None)
        rendered.clear()
        again = {fmt: fetch_page(env, "demo", headers).body
                 for fmt, headers in (("json", JSON), ("html", HTML))}
        assert rendered == [wheel_name("demo", "1.1")] * 2
        assert b'"core-metadata": {"sha256": "' + b"c" * 64 in again["json"]
        assert b'data-core-metadata="sha256=' + b"c" * 64 in again["html"]
        env.registry.pages = PageCache()  # every piece forgotten: rendered whole
        assert {fmt: fetch_page(env, "demo", headers).body
                for fmt, headers in (("json", JSON), ("html", HTML))} == again
        rendered.clear()
        other = env.app.get(PAGE.format(name="demo"), headers={**JSON, "Host": "other.example"})
        assert len(rendered) == 3
        assert {urlsplit(f["url"]).netloc for f in other.json["files"]} == {"other.example"}


def test_the_pieces_kept_are_bounded_like_the_pages():
    from pypireg.pagecache import LINEAGE_OVERHEAD, PIECE_OVERHEAD, PageCache

    def pieces(*texts: str):  # type: ignore[no-untyped-def]
        return tuple((text,) for text in texts), texts

    each = LINEAGE_OVERHEAD + PIECE_OVERHEAD + 100  # what a page of one 100-byte piece takes
    kept = PageCache(max_bytes=4 * each).pieces
    one = pieces("x" * 100)
    kept.put("first", one)
    kept.put("second", pieces("y" * 100))
    assert kept.get("first") == one and len(kept) == 2
    kept.put("third", pieces(*["z" * 100] * 3))  # over half of it all: not kept
    assert kept.get("third") == ((), ()) and len(kept) == 2
    for lineage in ("third", "fourth", "fifth"):
        kept.put(lineage, pieces(lineage[0] * 100))
    assert len(kept) == 4 and kept.get("first") == ((), ())  # the oldest forgotten
    assert kept.size == 4 * each
    kept.put("second", pieces())  # a page listing nothing leaves the last pieces
    assert kept.get("second") != ((), ())
    for n in range(1000):  # nor do pages that list nothing take any room
        kept.put(f"empty {n}", pieces())
    assert len(kept) == 4 and kept.size == 4 * each
    nothing = PageCache(max_bytes=0).pieces
    nothing.put("first", one)
    assert nothing.get("first") == ((), ()) and nothing.size == 0 and len(nothing) == 0


def test_pieces_are_rendered_for_the_files_that_changed_in_place_or_moved():
    from pypireg.catalog.decoded import rows_of
    from pypireg.models import UpstreamFile
    from pypireg.pagecache import PageCache
    from pypireg.views.proxied import _pieces

    def listed(*names: str, digest: str | None = None):  # type: ignore[no-untyped-def]
        return rows_of(UpstreamFile(f"{n}.whl", f"https://x/{n}.whl", f"{n:0>64}", "1.0",
                                    metadata_sha256=digest if n == "b" else None)
                       for n in names)

    rendered: list[str] = []

    def one(row: tuple) -> str:  # type: ignore[type-arg]
        f = UpstreamFile._make(row)
        rendered.append(f.file_name)
        return f"{f.file_name}:{f.metadata_sha256}"

    kept = PageCache().pieces
    assert _pieces(kept, "page", listed("a", "b", "c"), one) == [
        "a.whl:None", "b.whl:None", "c.whl:None"]
    rendered.clear()  # the same files, b's digest learned: b alone, in its place
    assert _pieces(kept, "page", listed("a", "b", "c", digest="1" * 64), one) == [
        "a.whl:None", f"b.whl:{'1' * 64}", "c.whl:None"]
    assert rendered == ["b.whl"]
    rendered.clear()  # a file added in front, one dropped: the new one alone
    assert _pieces(kept, "page", listed("z", "a", "b", digest="1" * 64), one) == [
        "z.whl:None", "a.whl:None", f"b.whl:{'1' * 64}"]
    assert rendered == ["z.whl"]
    assert _pieces(kept, "other", listed("a"), one) == ["a.whl:None"]  # its own lineage
    assert rendered == ["z.whl", "a.whl"]
    assert all(type(key) is tuple for key in kept.get("page")[0])


def test_a_rendered_page_keeps_nothing_the_garbage_collector_tracks_per_file(catalog, tmp_path):
    import gc

    index = FakeIndex()
    index.json_page("demo", [{"filename": f"demo-{n}.0-py3-none-any.whl",
                              "url": f"/files/{n}.whl", "hashes": {"sha256": f"{n:064x}"}}
                             for n in range(3000)])
    with serve(index) as served:
        env = proxy(catalog, tmp_path, UpstreamSettings(urls=(f"{served.url}/simple/",),
                                                        mode="cache"))
        fetch_page(env, "demo", HTML)
        gc.collect()
        before = len(gc.get_objects())
        assert len(fetch_page(env, "demo").json["files"]) == 3000  # rendered, pieces kept
        gc.collect()
        assert len(env.registry.pages.pieces) == 2
        assert len(gc.get_objects()) - before < 300
