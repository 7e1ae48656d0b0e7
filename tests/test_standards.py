"""PEP 691 negotiation and JSON, PEP 629/658/714/592/700 fields, ETags and 304s, forwarding."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name
from webtest import TestApp

import pypireg
from pypireg import dists
from pypireg.cli import main

from .distributions import sdist_bytes, wheel_bytes, wheel_metadata, wheel_name
from .helpers import API, Env, Tree, basic, sha256

PAGE = API.format(project="acme/tools") + "/simple/"
V1_JSON = "application/vnd.pypi.simple.v1+json"
V1_HTML = "application/vnd.pypi.simple.v1+html"
PIP_ACCEPT = f"{V1_JSON}, {V1_HTML}; q=0.1, text/html; q=0.01"


@pytest.fixture
def env(env: Env) -> Env:
    env.upload_wheel("acme/tools", "My.Pkg", "1.0", token=env.writer, requires_python=">=3.8",
                     status=201)
    env.upload_wheel("acme/tools", "My.Pkg", "2.0", token=env.writer, status=201)
    return env


# -- negotiation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/html; charset=utf-8"),
        ("*/*", "text/html; charset=utf-8"),
        ("text/html", "text/html; charset=utf-8"),
        (V1_HTML, V1_HTML),
        (V1_JSON, V1_JSON),
        ("application/vnd.pypi.simple.latest+json", V1_JSON),
        ("application/vnd.pypi.simple.latest+html", V1_HTML),
        (PIP_ACCEPT, V1_JSON),
        (f"{V1_JSON}; q=0.2, {V1_HTML}; q=0.9", V1_HTML),
        ("text/*", "text/html; charset=utf-8"),
    ],
)
@pytest.mark.parametrize("page", ["", "my-pkg/"])
def test_negotiation(env: Env, accept: str | None, expected: str, page: str) -> None:
    headers = {"Accept": accept} if accept else {}
    response = env.app.get(PAGE + page, headers=headers)
    assert response.headers["Content-Type"] == expected
    assert "Accept" in response.headers["Vary"]


@pytest.mark.parametrize("accept", ["application/json", "text/plain",
                                    f"{V1_JSON}; q=0, text/html; q=0"])
def test_nothing_acceptable_is_406(env: Env, accept: str) -> None:
    response = env.app.get(PAGE, headers={"Accept": accept}, status=406)
    assert "application/vnd.pypi.simple.v1+json" in response.json["message"]


def test_format_query_parameter_overrides_accept(env: Env) -> None:
    response = env.app.get(PAGE, params={"format": V1_JSON}, headers={"Accept": "text/html"})
    assert response.headers["Content-Type"] == V1_JSON


# -- JSON (PEP 691, PEP 700) --------------------------------------------------------------------


def test_json_index(env: Env) -> None:
    body = env.app.get(PAGE, headers={"Accept": V1_JSON}).json
    assert body == {"meta": {"api-version": "1.4"}, "projects": [{"name": "My.Pkg"}]}


def test_json_package_page(env: Env) -> None:
    body = env.app.get(PAGE + "My_Pkg/", headers={"Accept": V1_JSON}).json
    assert body["meta"] == {"api-version": "1.4"}
    assert body["name"] == "my-pkg"
    assert body["project-status"] == {"status": "active"}  # PEP 792's default
    assert body["versions"] == ["1.0", "2.0"]
    first, second = body["files"]
    data = wheel_bytes("My.Pkg", "1.0", ">=3.8")
    metadata = wheel_metadata("My.Pkg", "1.0", ">=3.8").encode()
    assert first == {
        "filename": wheel_name("My.Pkg", "1.0"),
        "url": f"http://localhost/projects/acme/tools/packages/pypi/files/{sha256(data)}/"
               f"{wheel_name('My.Pkg', '1.0')}",
        "hashes": {"sha256": sha256(data)},
        "requires-python": ">=3.8",
        "core-metadata": {"sha256": sha256(metadata)},  # and never "dist-info-metadata"
        "yanked": False,
        "size": len(data),
        "upload-time": first["upload-time"],
        "provenance": None,  # PEP 740: uploaded without attestations
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["upload-time"])
    assert "requires-python" not in second  # none was given


def test_versions_sort_as_versions(env: Env) -> None:
    env.upload_wheel("acme/tools", "My.Pkg", "10.0", token=env.writer, status=201)
    env.upload_wheel("acme/tools", "My.Pkg", "2.0rc1", token=env.writer, status=201)
    body = env.app.get(PAGE + "my-pkg/", headers={"Accept": V1_JSON}).json
    assert body["versions"] == ["1.0", "2.0rc1", "2.0", "10.0"]


# -- HTML (PEP 503, 629, 658/714, 592) -------------------------------------------------------


def test_html_carries_repository_version_and_metadata_hashes(env: Env) -> None:
    html = env.app.get(PAGE + "my-pkg/").text
    assert '<meta name="pypi:repository-version" content="1.4">' in html
    assert '<meta name="pypi:project-status" content="active">' in html
    assert "pypi:project-status-reason" not in html  # none was given
    metadata = sha256(wheel_metadata("My.Pkg", "1.0", ">=3.8").encode())
    assert f'data-core-metadata="sha256={metadata}"' in html
    assert "dist-info-metadata" not in html  # PEP 714's old name (tests/test_metadata_keys.py)
    assert "data-yanked" not in html
    # The upload time and size PEP 700 puts in JSON, as uv also reads them from HTML.
    json_files = env.app.get(PAGE + "my-pkg/", headers={"Accept": V1_JSON}).json["files"]
    for entry in json_files:
        assert (f'data-size="{entry["size"]}" data-upload-time="{entry["upload-time"]}"'
                in html)


def test_metadata_download_matches_its_hash(env: Env) -> None:
    body = env.app.get(PAGE + "my-pkg/", headers={"Accept": V1_JSON}).json
    entry = body["files"][0]
    url = entry["url"].removeprefix("http://localhost") + ".metadata"
    response = env.app.get(url)
    assert hashlib.sha256(response.body).hexdigest() == entry["core-metadata"]["sha256"]
    assert response.body == wheel_metadata("My.Pkg", "1.0", ">=3.8").encode()
    assert response.headers["ETag"] == f'"{entry["core-metadata"]["sha256"]}"'
    env.app.get(url, headers={"If-None-Match": response.headers["ETag"]}, status=304)


def test_sdist_metadata_only_from_version_2_2(env: Env) -> None:
    new = sdist_bytes("fresh", "1.0", ">=3.9")
    env.upload(env.public.id, "fresh-1.0.tar.gz", new, token=env.writer, name="fresh",
               version="1.0", status=201)
    old = sdist_bytes("aged", "1.0", metadata_version="2.1")
    env.upload(env.public.id, "aged-1.0.tar.gz", old, token=env.writer, name="aged",
               version="1.0", status=201)
    fresh = env.app.get(PAGE + "fresh/", headers={"Accept": V1_JSON}).json["files"][0]
    assert fresh["core-metadata"] != False  # noqa: E712
    aged = env.app.get(PAGE + "aged/", headers={"Accept": V1_JSON}).json["files"][0]
    assert aged["core-metadata"] is False and "dist-info-metadata" not in aged
    assert "data-core-metadata" not in env.app.get(PAGE + "aged/").text
    env.app.get(aged["url"].removeprefix("http://localhost") + ".metadata", status=404)


def test_unreadable_wheels_are_refused(env: Env) -> None:
    response = env.upload("acme/tools", wheel_name("bad", "1.0"), b"not a zip archive",
                          token=env.writer, name="bad", version="1.0")
    assert response.status_int == 400
    assert "not a valid distribution" in response.json["message"]
    no_metadata = wheel_bytes("bad", "1.0").replace(b"METADATA", b"METADATX")
    response = env.upload("acme/tools", wheel_name("bad", "1.0"), no_metadata,
                          token=env.writer, name="bad", version="1.0")
    assert response.status_int == 400
    assert "no <name>.dist-info/METADATA" in response.json["message"]


# -- yanking (PEP 592) ---------------------------------------------------------------------------


def test_yank_a_version_then_unyank(env: Env) -> None:
    assert env.registry.yank("acme/tools", "my.pkg", "2.0", reason="broken <build>") == 1
    html = env.app.get(PAGE + "my-pkg/").text
    assert html.count("data-yanked=") == 1
    assert 'data-yanked="broken &lt;build&gt;">my_pkg-2.0' in html
    files = env.app.get(PAGE + "my-pkg/", headers={"Accept": V1_JSON}).json["files"]
    assert [f["yanked"] for f in files] == [False, "broken <build>"]
    assert env.registry.unyank("acme/tools", "My.Pkg", "2.0") == 1
    assert "data-yanked" not in env.app.get(PAGE + "my-pkg/").text


def test_yank_without_reason_and_one_file_only(env: Env) -> None:
    env.upload(env.public.id, "my.pkg-2.0.tar.gz", sdist_bytes("My.Pkg", "2.0"),
               token=env.writer, name="My.Pkg", version="2.0", status=201)
    assert env.registry.yank("acme/tools", "My.Pkg", "2.0",
                             file_name="my.pkg-2.0.tar.gz") == 1
    files = env.app.get(PAGE + "my-pkg/", headers={"Accept": V1_JSON}).json["files"]
    assert {f["filename"]: f["yanked"] for f in files} == {
        wheel_name("My.Pkg", "1.0"): False, wheel_name("My.Pkg", "2.0"): False,
        "my.pkg-2.0.tar.gz": True}
    assert 'data-yanked="">my.pkg-2.0.tar.gz' in env.app.get(PAGE + "my-pkg/").text


def test_yank_errors(env: Env) -> None:
    with pytest.raises(pypireg.CatalogError, match="no version 9.0"):
        env.registry.yank("acme/tools", "my-pkg", "9.0", reason="x")
    with pytest.raises(pypireg.CatalogError, match="no file 'nope.whl'"):
        env.registry.yank("acme/tools", "my-pkg", "1.0", reason="x", file_name="nope.whl")
    with pytest.raises(pypireg.CatalogError, match="no project"):
        env.registry.yank("acme/none", "my-pkg", "1.0", reason="x")


def test_yank_over_http_needs_delete(env: Env) -> None:
    packages = env.app.get("/projects/acme/tools/packages", params={"order_by": "version"}).json
    url = f"/projects/acme/tools/packages/{packages[1]['id']}/yank"
    env.app.put_json(url, {"reason": "x"}, status=401)
    env.app.put_json(url, {"reason": "x"}, headers=basic(env.reader), status=403)  # may read
    token = env.registry.create_token("maintainer", ["acme/tools:delete"])
    writer = env.registry.create_token("uploader", ["acme/tools:write"])
    env.app.put_json(url, {"reason": "x"}, headers=basic(writer), status=403)
    response = env.app.put_json(url, {"reason": "use 1.0"}, headers=basic(token))
    assert response.json == {"yanked": True, "reason": "use 1.0", "files": 1}
    assert 'data-yanked="use 1.0"' in env.app.get(PAGE + "my-pkg/").text
    env.app.put_json(url, {"reason": "x", "file_name": "nope.whl"}, headers=basic(token),
                     status=404)
    env.app.put_json(url, {"reason": "x" * 1001}, headers=basic(token), status=400)
    assert env.app.delete(url, headers=basic(token)).json["files"] == 1
    assert "data-yanked" not in env.app.get(PAGE + "my-pkg/").text


def test_yank_command(env: Env, tmp_path, capsys) -> None:
    registry = pypireg.create_app(tmp_path / "d")
    registry.create_project("solo", "public")
    token = registry.create_token("t", ["solo:write"])
    TestApp(registry).post(
        API.format(project="solo"), params=[("name", "pkg"), ("version", "1.0")],
        upload_files=[("content", wheel_name("pkg", "1.0"), wheel_bytes("pkg", "1.0"))],
        headers=basic(token), status=201)
    data = ["--data", str(tmp_path / "d")]
    assert main(["yank", "solo", "pkg", "1.0", "--reason", "bad", *data]) == 0
    assert capsys.readouterr().out.splitlines() == ["yanked 1 file of pkg 1.0", "1"]
    assert main(["unyank", "solo", "pkg", "1.0", *data]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1"
    assert main(["unyank", "solo", "pkg", "1.0", *data]) == 0
    assert capsys.readouterr().out.splitlines() == ["nothing changed: pkg 1.0 is not yanked",
                                                    "0"]
    assert main(["yank", "solo", "pkg", "3.0", "--reason", "bad", *data]) == 1
    assert "no version 3.0" in capsys.readouterr().err
    assert main(["yank", "solo", "pkg", "1.0", *data]) == 0  # the reason is optional (PEP 592)
    assert capsys.readouterr().out.splitlines() == ["yanked 1 file of pkg 1.0", "1"]
    assert main(["yank", "solo", "pkg", "1.0", *data]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "nothing changed: pkg 1.0 was already yanked", "0"]


# -- ETags, 304, Cache-Control -----------------------------------------------------------------


@pytest.mark.parametrize("page", ["", "my-pkg/"])
def test_pages_answer_if_none_match_without_rendering(env: Env, monkeypatch, page: str) -> None:
    etag = env.app.get(PAGE + page).headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong
    calls: list[str] = []
    for name in ("package_index", "file_links"):
        monkeypatch.setattr(env.registry.catalog, name,
                            lambda *a, name=name: calls.append(name))
    again = env.app.get(PAGE + page, headers={"If-None-Match": etag}, status=304)
    assert again.body == b"" and again.headers["ETag"] == etag
    assert calls == []  # the page's data was never read


def test_etag_changes_with_content_and_format(env: Env) -> None:
    html = env.app.get(PAGE + "my-pkg/").headers["ETag"]
    json_etag = env.app.get(PAGE + "my-pkg/", headers={"Accept": V1_JSON}).headers["ETag"]
    assert html != json_etag
    env.upload_wheel("acme/tools", "My.Pkg", "3.0", token=env.writer, status=201)
    assert env.app.get(PAGE + "my-pkg/").headers["ETag"] != html
    before = env.app.get(PAGE + "my-pkg/").headers["ETag"]
    env.registry.yank("acme/tools", "My.Pkg", "3.0", reason="x")
    assert env.app.get(PAGE + "my-pkg/").headers["ETag"] != before
    env.app.get(PAGE + "my-pkg/", headers={"If-None-Match": html}, status=200)


def test_cache_control(env: Env, tmp_path) -> None:
    public = env.app.get(PAGE).headers["Cache-Control"]
    assert set(public.split(", ")) == {"public", "max-age=0", "must-revalidate"}
    env.upload_wheel("acme/team/secret", "hidden", "1.0", token=env.writer, status=201)
    private = env.app.get(API.format(project="acme/team/secret") + "/simple/",
                          headers=basic(env.reader)).headers["Cache-Control"]
    assert "private" in private and "public" not in private
    cached = Env(pypireg.create_app(staging_dir=str(tmp_path), page_max_age=300))
    assert "max-age=300" in cached.app.get(PAGE).headers["Cache-Control"]


def test_group_page_etags_follow_what_the_caller_sees(tmp_path) -> None:
    tree = Tree(pypireg.create_app(staging_dir=str(tmp_path)))
    tree.upload_wheel("acme/web", "pkg", "1.0")
    tree.upload_wheel("acme/platform/secret", "pkg", "2.0")
    url = "/groups/acme/-/packages/pypi/simple/pkg/"
    anonymous = tree.app.get(url)
    reader = tree.app.get(url, headers=tree.auth(tree.platform_reader))
    assert anonymous.headers["ETag"] != reader.headers["ETag"]
    tree.app.get(url, headers={**tree.auth(tree.platform_reader),
                               "If-None-Match": anonymous.headers["ETag"]}, status=200)
    assert "private" in reader.headers["Cache-Control"]


def test_downloads_answer_if_range(env: Env) -> None:
    body = env.app.get(PAGE + "my-pkg/", headers={"Accept": V1_JSON}).json
    url = body["files"][0]["url"].removeprefix("http://localhost")
    data = wheel_bytes("My.Pkg", "1.0", ">=3.8")
    etag = f'"{sha256(data)}"'
    part = env.app.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}, status=206)
    assert part.body == data[:10]
    whole = env.app.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'}, status=200)
    assert whole.body == data


def test_a_download_with_no_condition_has_the_headers_a_condition_that_holds_gives(
        env: Env) -> None:
    """A download without Range or If-* headers skips werkzeug's make_conditional, which
    would change nothing: its headers are those of one with a condition that holds."""
    body = env.app.get(PAGE + "my-pkg/", headers={"Accept": V1_JSON}).json
    url = body["files"][0]["url"].removeprefix("http://localhost")
    plain = env.app.get(url)
    held = env.app.get(url, headers={"If-None-Match": '"other"'})
    assert plain.body == held.body == wheel_bytes("My.Pkg", "1.0", ">=3.8")
    # The server adds Date; werkzeug before 3.1.9 gave no Accept-Ranges to a plain 200.
    left = ("Date", "Accept-Ranges")
    assert {name: value for name, value in plain.headerlist if name not in left} == {
        name: value for name, value in held.headerlist if name not in left}
    assert plain.headers["Accept-Ranges"] == "bytes"
    assert plain.headers["Cache-Control"] == "max-age=31536000, immutable"
    assert plain.headers["Content-Disposition"] == (
        f"attachment; filename={url.rpartition('/')[2]}")


# -- forwarding ------------------------------------------------------------------------------------


def test_unknown_names_forward_upstream_when_enabled(tmp_path) -> None:
    env = Env(pypireg.create_app(staging_dir=str(tmp_path),
                                 upstream="https://mirror.example/simple/"))
    env.upload_wheel("acme/tools", "local", "1.0", token=env.writer, status=201)
    response = env.app.get(PAGE + "Other_Thing/", status=302)
    assert response.headers["Location"] == "https://mirror.example/simple/other-thing/"
    env.app.get(PAGE + "local/", status=200)  # local names are served here
    # Access checks come first: a private project does not forward for strangers.
    env.app.get(API.format(project="acme/team/secret") + "/simple/anything/", status=401)
    group = env.app.get("/groups/acme/-/packages/pypi/simple/anything/", status=302)
    assert group.headers["Location"] == "https://mirror.example/simple/anything/"


def test_forwarding_is_off_by_default(env: Env) -> None:
    env.app.get(PAGE + "other-thing/", status=404)


# -- older files get their metadata from gc ---------------------------------------------------


def test_gc_gives_older_files_their_metadata(tmp_path) -> None:
    env = Env(pypireg.create_app(tmp_path / "data"))
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    catalog, storage = env.registry.catalog, env.registry.storage
    (row,) = catalog.db.query("SELECT id, metadata_key FROM package_files")
    storage.delete(row["metadata_key"])  # as stored before metadata was kept
    catalog.db["package_files"].update(row["id"], {"metadata_sha256": None,
                                                   "metadata_key": None})
    assert "data-core-metadata" not in env.app.get(PAGE + "pkg/").text
    report = env.registry.collect_garbage()
    assert report.metadata == 1
    assert "extracted core metadata for 1 older file" in str(report)
    html = env.app.get(PAGE + "pkg/").text
    assert f'data-core-metadata="sha256={sha256(wheel_metadata("pkg", "1.0").encode())}"' in html
    assert env.registry.collect_garbage().metadata == 0


@given(st.text(alphabet="azAZ09-_.", max_size=10) | st.text(max_size=10))
@settings(max_examples=3000, derandomize=True, database=None, deadline=None)
def test_a_name_is_normalized_as_pep_503_says(name: str) -> None:
    """Names already normal are taken as they are (most page requests); the rest are
    normalized by packaging: both ways give what PEP 503 says."""
    assert dists.normalize(name) == canonicalize_name(name)
