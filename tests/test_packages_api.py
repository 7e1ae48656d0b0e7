"""The Packages API: listings with every parameter, pagination, inspection and deletion."""

from __future__ import annotations

import hashlib
import re

import pytest

from .distributions import sdist_bytes, wheel_bytes, wheel_name
from .helpers import API, Tree, links, sha256, wheel_keys

PROJECT = "/projects/{project}/packages"
GROUP = "/groups/{group}/packages"


def listing(tree: Tree, url: str, token: str | None = None, expect: int = 200, **params):
    headers = tree.auth(token) if token else {}
    return tree.app.get(url, params=params, headers=headers, status=expect)


def package_ids(response) -> list[int]:  # type: ignore[no-untyped-def]
    return [p["id"] for p in response.json]


def set_status(tree: Tree, package_id: int, status: str) -> None:
    tree.registry.catalog.update("packages", package_id, {"status": status})


# -- listing a project ------------------------------------------------------------------------


def test_project_listing_shape(tree: Tree) -> None:
    tree.upload_wheel("acme/platform/secret", "My.Pkg", "1.0")
    response = listing(tree, PROJECT.format(project="acme/platform/secret"), tree.platform_reader)
    (package,) = response.json
    assert set(package) == {"id", "name", "version", "package_type", "status", "created_at",
                            "last_downloaded_at", "tags", "_links"}
    assert (package["name"], package["version"], package["package_type"]) == (
        "My.Pkg", "1.0", "pypi")
    assert package["status"] == "default" and package["tags"] == []
    assert package["last_downloaded_at"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", package["created_at"])
    assert package["_links"] == {"web_path": f"/acme/platform/secret/-/packages/{package['id']}"}


def test_delete_api_path_only_for_callers_who_may_delete(tree: Tree) -> None:
    tree.upload_wheel("acme/platform/secret", "pkg", "1.0")
    url = PROJECT.format(project="acme/platform/secret")
    project_id = tree.projects["acme/platform/secret"].id
    (package,) = listing(tree, url, tree.deleter).json
    assert package["_links"]["delete_api_path"] == (
        f"http://localhost/projects/{project_id}/packages/{package['id']}")
    (package,) = listing(tree, url, tree.platform_reader).json
    assert "delete_api_path" not in package["_links"]


@pytest.fixture
def three(tree: Tree) -> Tree:
    """acme/web holds b-pkg 2.0, a-pkg 10.0 and c-pkg 1.5, uploaded in that order."""
    for name, version in [("b-pkg", "2.0"), ("a-pkg", "10.0"), ("c-pkg", "1.5")]:
        tree.upload_wheel("acme/web", name, version)
    return tree


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["b-pkg", "a-pkg", "c-pkg"]),
        ({"order_by": "created_at", "sort": "desc"}, ["c-pkg", "a-pkg", "b-pkg"]),
        ({"order_by": "name"}, ["a-pkg", "b-pkg", "c-pkg"]),
        ({"order_by": "name", "sort": "desc"}, ["c-pkg", "b-pkg", "a-pkg"]),
        ({"order_by": "version"}, ["c-pkg", "a-pkg", "b-pkg"]),  # as strings, like GitLab
        ({"order_by": "type"}, ["b-pkg", "a-pkg", "c-pkg"]),
    ],
)
def test_order_by_and_sort(three: Tree, params: dict, expected: list[str]) -> None:
    response = listing(three, PROJECT.format(project="acme/web"), **params)
    assert [p["name"] for p in response.json] == expected


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"order_by": "size"}, "order_by"),
        ({"order_by": "project_path"}, "order_by"),  # only for groups
        ({"sort": "up"}, "sort"),
        ({"package_type": "cargo"}, "package_type"),
        ({"status": "deleted"}, "status"),
        ({"include_versionless": "maybe"}, "include_versionless"),
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
    ],
)
def test_invalid_parameters_are_400_naming_the_parameter(
    three: Tree, params: dict, parameter: str
) -> None:
    response = listing(three, PROJECT.format(project="acme/web"), expect=400, **params)
    assert response.json["message"].startswith(f"400 Bad request - {parameter} ")


def test_package_type_filter(three: Tree) -> None:
    url = PROJECT.format(project="acme/web")
    assert len(listing(three, url, package_type="pypi").json) == 3
    assert listing(three, url, package_type="npm").json == []


@pytest.mark.parametrize(
    ("package_name", "expected"),
    [("PKG", 3), ("a-p", 1), ("b pkg", 1), ("pkg zzz", 0), ("", 3), ("%", 0), ("_", 0)],
)
def test_package_name_terms_all_match_case_insensitively(
    three: Tree, package_name: str, expected: int
) -> None:
    response = listing(three, PROJECT.format(project="acme/web"), package_name=package_name)
    assert len(response.json) == expected


@pytest.fixture
def versions(tree: Tree) -> Tree:
    """acme/web holds pkg 1.0 and 2.0 and other-pkg 1.0; acme/platform/core holds pkg 1.0."""
    for name, version in [("pkg", "1.0"), ("pkg", "2.0"), ("other-pkg", "1.0")]:
        tree.upload_wheel("acme/web", name, version)
    tree.upload_wheel("acme/platform/core", "pkg", "1.0")
    return tree


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"package_version": "1.0"}, [("pkg", "1.0"), ("other-pkg", "1.0")]),
        ({"package_version": "2.0"}, [("pkg", "2.0")]),
        ({"package_version": "1.0", "package_name": "other"}, [("other-pkg", "1.0")]),
        ({"package_version": "2.0", "package_name": "other"}, []),
        ({"package_version": "1.0", "order_by": "name"}, [("other-pkg", "1.0"), ("pkg", "1.0")]),
        ({"package_version": "1.0", "package_type": "pypi"},
         [("pkg", "1.0"), ("other-pkg", "1.0")]),
        ({"package_version": "1.0", "package_type": "npm"}, []),
        ({"package_version": "2.0", "status": "default"}, [("pkg", "2.0")]),
        ({"package_version": "1"}, []),  # exact: not a prefix, not PEP 440's equality
        ({"package_version": "1.0.0"}, []),
        ({"package_version": "1.%"}, []),  # no pattern either
        ({"package_version": ""}, [("pkg", "1.0"), ("pkg", "2.0"), ("other-pkg", "1.0")]),
    ],
)
def test_package_version_is_an_exact_filter(versions: Tree, params: dict,
                                            expected: list[tuple[str, str]]) -> None:
    response = listing(versions, PROJECT.format(project="acme/web"), **params)
    assert [(p["name"], p["version"]) for p in response.json] == expected
    assert response.headers["X-Total"] == str(len(expected))


def test_package_version_on_a_group_and_across_pages(versions: Tree) -> None:
    url = GROUP.format(group="acme")
    first = listing(versions, url, package_version="1.0", per_page="2", order_by="project_path")
    assert [(p["project_path"], p["name"]) for p in first.json] == [
        ("acme/platform/core", "pkg"), ("acme/web", "pkg")]
    assert (first.headers["X-Total"], first.headers["X-Total-Pages"]) == ("3", "2")
    second = listing(versions, url, package_version="1.0", per_page="2", page="2",
                     order_by="project_path")
    assert [(p["project_path"], p["name"]) for p in second.json] == [("acme/web", "other-pkg")]
    assert listing(versions, url, package_version="2.0", package_name="pkg").json[0][
        "version"] == "2.0"


def test_package_version_is_bounded(versions: Tree) -> None:
    response = listing(versions, PROJECT.format(project="acme/web"), expect=400,
                       package_version="1" * 10_000)
    assert response.json["message"].startswith("400 Bad request - package_version is invalid")


def test_include_versionless_is_accepted(three: Tree) -> None:
    url = PROJECT.format(project="acme/web")
    assert len(listing(three, url, include_versionless="true").json) == 3
    assert len(listing(three, url, include_versionless="false").json) == 3


def test_status_filter_and_default_statuses(three: Tree) -> None:
    url = PROJECT.format(project="acme/web")
    a, b, c = sorted(package_ids(listing(three, url)))
    set_status(three, b, "error")
    set_status(three, c, "hidden")
    assert sorted(package_ids(listing(three, url))) == [a, b]  # default and error
    assert package_ids(listing(three, url, status="hidden")) == [c]
    assert package_ids(listing(three, url, status="error")) == [b]
    assert listing(three, url, status="processing").json == []


def test_private_project_listing_needs_access(three: Tree) -> None:
    url = PROJECT.format(project="acme/internal")
    listing(three, url, expect=401)
    listing(three, url, three.outsider, expect=404)
    listing(three, PROJECT.format(project="nope"), expect=404)


@pytest.mark.parametrize("header", ["PRIVATE-TOKEN", "Bearer"])
def test_api_takes_token_headers(tree: Tree, header: str) -> None:
    url = PROJECT.format(project="acme/platform/secret")
    value = tree.platform_reader
    headers = {"Authorization": f"Bearer {value}"} if header == "Bearer" else {header: value}
    tree.app.get(url, headers=headers, status=200)


def test_api_takes_job_token_header(tree: Tree) -> None:
    tree.app.get(PROJECT.format(project="acme/internal"), headers={"JOB-TOKEN": tree.writer},
                 status=200)


# -- pagination -------------------------------------------------------------------------------


@pytest.fixture
def many(tree: Tree) -> Tree:
    for n in range(45):
        tree.upload_wheel("acme/web", f"pkg{n:02}", "1.0")
    return tree


def test_pagination_headers(many: Tree) -> None:
    url = PROJECT.format(project="acme/web")
    response = many.app.get(url, params={"page": 2, "order_by": "name"},
                            extra_environ={"SCRIPT_NAME": "/api/v4"})
    assert [p["name"] for p in response.json] == [f"pkg{n:02}" for n in range(20, 40)]
    headers = response.headers
    assert (headers["X-Total"], headers["X-Total-Pages"], headers["X-Per-Page"],
            headers["X-Page"], headers["X-Next-Page"], headers["X-Prev-Page"]) == (
        "45", "3", "20", "2", "3", "1")
    base = "http://localhost/api/v4/projects/acme/web/packages?order_by=name&page="
    assert headers["Link"] == (
        f'<{base}1>; rel="prev", <{base}3>; rel="next", <{base}1>; rel="first",'
        f' <{base}3>; rel="last"')


def test_last_and_first_pages(many: Tree) -> None:
    url = PROJECT.format(project="acme/web")
    last = many.app.get(url, params={"page": 3})
    assert len(last.json) == 5
    assert last.headers["X-Next-Page"] == "" and last.headers["X-Prev-Page"] == "2"
    assert 'rel="next"' not in last.headers["Link"]
    first = many.app.get(url, params={"per_page": 100})
    assert len(first.json) == 45
    assert first.headers["X-Total-Pages"] == "1" and first.headers["X-Prev-Page"] == ""
    beyond = many.app.get(url, params={"page": 9})
    assert beyond.json == [] and beyond.headers["X-Page"] == "9"


def test_empty_listing_has_one_page(tree: Tree) -> None:
    response = tree.app.get(PROJECT.format(project="acme/web"))
    assert response.json == []
    assert response.headers["X-Total"] == "0" and response.headers["X-Total-Pages"] == "1"


# -- listing a group --------------------------------------------------------------------------


@pytest.fixture
def spread(tree: Tree) -> Tree:
    for project in ["acme/web", "acme/internal", "acme/platform/core", "acme/platform/secret",
                    "acme/platform/infra/deploy", "other/x"]:
        tree.upload_wheel(project, project.rsplit("/", 1)[1] + "-pkg", "1.0")
    return tree


def test_group_listing_adds_project_fields(spread: Tree) -> None:
    response = listing(spread, GROUP.format(group="acme"), order_by="project_path")
    assert [(p["project_path"], p["name"]) for p in response.json] == [
        ("acme/platform/core", "core-pkg"), ("acme/web", "web-pkg")]
    core = response.json[0]
    assert core["project_id"] == spread.projects["acme/platform/core"].id


def test_group_listing_shows_what_the_caller_may_read(spread: Tree) -> None:
    paths = lambda r: sorted(p["project_path"] for p in r.json)  # noqa: E731
    url = GROUP.format(group="acme")
    assert paths(listing(spread, url, spread.platform_reader)) == [
        "acme/platform/core", "acme/platform/infra/deploy", "acme/platform/secret", "acme/web"]
    assert len(listing(spread, url, spread.writer).json) == 5
    listing(spread, GROUP.format(group="acme/platform/infra"), expect=401)
    listing(spread, GROUP.format(group="other"), spread.platform_reader, expect=404)
    listing(spread, GROUP.format(group="nope"), expect=404)


def test_exclude_subgroups(spread: Tree) -> None:
    url = GROUP.format(group="acme")
    response = listing(spread, url, spread.writer, exclude_subgroups="true")
    assert sorted(p["project_path"] for p in response.json) == ["acme/internal", "acme/web"]
    assert len(listing(spread, url, spread.writer, exclude_subgroups="false").json) == 5
    listing(spread, url, exclude_subgroups="sometimes", expect=400)


def test_group_order_by_project_path_descending(spread: Tree) -> None:
    response = listing(spread, GROUP.format(group="acme/platform"), spread.writer,
                       order_by="project_path", sort="desc")
    assert [p["project_path"] for p in response.json] == [
        "acme/platform/secret", "acme/platform/infra/deploy", "acme/platform/core"]


# -- one package and its files ------------------------------------------------------------------


def test_get_one_package_with_other_versions(tree: Tree) -> None:
    for version in ("1.0", "1.1", "2.0"):
        tree.upload_wheel("acme/web", "pkg", version)
    tree.upload_wheel("acme/web", "other", "1.0")
    ids = {p["version"]: p["id"] for p in listing(tree, PROJECT.format(project="acme/web")).json
           if p["name"] == "pkg"}
    response = tree.app.get(PROJECT.format(project="acme/web") + f"/{ids['1.1']}")
    body = response.json
    assert body["version"] == "1.1" and body["tags"] == []
    assert [v["version"] for v in body["versions"]] == ["1.0", "2.0"]
    assert set(body["versions"][0]) == {"id", "version", "created_at", "tags"}
    assert response.headers["Last-Modified"]


def test_get_one_package_errors(tree: Tree) -> None:
    tree.upload_wheel("acme/web", "pkg", "1.0")
    (package,) = listing(tree, PROJECT.format(project="acme/web")).json
    url = PROJECT.format(project="acme/web")
    response = tree.app.get(url + "/abc", status=400)
    assert response.json["message"].startswith("400 Bad request - package_id ")
    assert tree.app.get(url + "/9999", status=404).json == {"message": "404 Package Not Found"}
    # Another project's package is not found through this one.
    tree.app.get(PROJECT.format(project="acme/platform/core") + f"/{package['id']}", status=404)
    set_status(tree, package["id"], "error")
    tree.app.get(url + f"/{package['id']}", status=404)  # not installable


def test_package_files_carry_server_computed_digests(tree: Tree) -> None:
    tree.upload_wheel("acme/web", "pkg", "1.0")
    sdist = sdist_bytes("pkg", "1.0")
    tree.app.post(API.format(project="acme/web"), params=[("name", "pkg"), ("version", "1.0")],
                  upload_files=[("content", "pkg-1.0.tar.gz", sdist)],
                  headers=tree.auth(tree.writer), status=201)
    (package,) = listing(tree, PROJECT.format(project="acme/web")).json
    url = PROJECT.format(project="acme/web") + f"/{package['id']}/package_files"
    response = tree.app.get(url)
    wheel = wheel_bytes("pkg", "1.0")
    assert [f["file_name"] for f in response.json] == [wheel_name("pkg", "1.0"),
                                                       "pkg-1.0.tar.gz"]
    first = response.json[0]
    assert set(first) == {"id", "package_id", "created_at", "file_name", "size", "file_md5",
                          "file_sha1", "file_sha256"}
    assert first["package_id"] == package["id"] and first["size"] == len(wheel)
    assert first["file_md5"] == hashlib.md5(wheel).hexdigest()
    assert first["file_sha1"] == hashlib.sha1(wheel).hexdigest()
    assert first["file_sha256"] == sha256(wheel)
    assert response.headers["X-Total"] == "2"
    paged = tree.app.get(url, params={"per_page": 1, "page": 2})
    assert [f["file_name"] for f in paged.json] == ["pkg-1.0.tar.gz"]
    assert paged.headers["X-Prev-Page"] == "1" and paged.headers["X-Next-Page"] == ""
    tree.app.get(url, params={"per_page": 500}, status=400)


# -- deleting ---------------------------------------------------------------------------------


def one_package(tree: Tree, project: str, token: str | None = None) -> dict:
    (package,) = listing(tree, PROJECT.format(project=project), token).json
    return package


def simple_names(tree: Tree, project: str, name: str, token: str) -> list[str]:
    response = tree.app.get(API.format(project=project) + f"/simple/{name}/",
                            headers=tree.auth(token), expect_errors=True)
    return [] if response.status_int == 404 else [text for _, _, text in links(response.text)]


def test_delete_package_hides_it_at_once_and_frees_its_blob(tree: Tree) -> None:
    tree.upload_wheel("acme/platform/secret", "pkg", "1.0")
    package = one_package(tree, "acme/platform/secret", tree.deleter)
    url = PROJECT.format(project="acme/platform/secret") + f"/{package['id']}"
    assert tree.registry.storage.keys() == wheel_keys("pkg", "1.0")  # type: ignore[attr-defined]
    response = tree.app.delete(url, headers=tree.auth(tree.deleter), status=204)
    assert response.body == b""
    assert simple_names(tree, "acme/platform/secret", "pkg", tree.deleter) == []
    assert listing(tree, PROJECT.format(project="acme/platform/secret"), tree.deleter).json == []
    pending = listing(tree, PROJECT.format(project="acme/platform/secret"), tree.deleter,
                      status="pending_destruction").json
    assert [p["status"] for p in pending] == ["pending_destruction"]
    tree.app.get(url, headers=tree.auth(tree.deleter), status=404)
    assert tree.registry.storage.keys() == []  # type: ignore[attr-defined]
    tree.app.delete(url, headers=tree.auth(tree.deleter), status=404)  # already gone
    # The same version can be uploaded again, as a new package.
    tree.upload_wheel("acme/platform/secret", "pkg", "1.0")
    assert simple_names(tree, "acme/platform/secret", "pkg", tree.deleter) == [
        wheel_name("pkg", "1.0")]


def test_delete_keeps_a_blob_another_project_still_uses(tree: Tree) -> None:
    tree.upload_wheel("acme/platform/secret", "pkg", "1.0")
    tree.upload_wheel("acme/web", "pkg", "1.0")  # identical bytes, one blob
    package = one_package(tree, "acme/platform/secret", tree.deleter)
    tree.app.delete(PROJECT.format(project="acme/platform/secret") + f"/{package['id']}",
                    headers=tree.auth(tree.deleter), status=204)
    assert tree.registry.storage.keys() == wheel_keys("pkg", "1.0")  # type: ignore[attr-defined]
    page = tree.app.get(API.format(project="acme/web") + "/simple/pkg/")
    href = links(page.text)[0][0].removeprefix("http://localhost").split("#")[0]
    assert tree.app.get(href).body == wheel_bytes("pkg", "1.0")


def test_delete_package_permissions(tree: Tree) -> None:
    tree.upload_wheel("acme/platform/secret", "pkg", "1.0")
    package = one_package(tree, "acme/platform/secret", tree.deleter)
    url = PROJECT.format(project="acme/platform/secret") + f"/{package['id']}"
    tree.app.delete(url, status=401)
    tree.app.delete(url, headers=tree.auth(tree.platform_reader), status=403)
    tree.app.delete(url, headers=tree.auth(tree.writer), status=403)  # write is not delete
    tree.app.delete(url, headers=tree.auth(tree.outsider), status=404)
    tree.app.delete(PROJECT.format(project="acme/platform/secret") + "/777",
                    headers=tree.auth(tree.deleter), status=404)
    tree.app.delete(PROJECT.format(project="acme/platform/secret") + "/x",
                    headers=tree.auth(tree.deleter), status=400)
    assert one_package(tree, "acme/platform/secret", tree.deleter)["id"] == package["id"]


def test_if_unmodified_since(tree: Tree) -> None:
    tree.upload_wheel("acme/platform/secret", "pkg", "1.0")
    package = one_package(tree, "acme/platform/secret", tree.deleter)
    url = PROJECT.format(project="acme/platform/secret") + f"/{package['id']}"
    headers = tree.auth(tree.deleter)
    response = tree.app.delete(
        url, headers={**headers, "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
        status=412)
    assert "If-Unmodified-Since" in response.json["message"]
    last_modified = tree.app.get(url, headers=headers).headers["Last-Modified"]
    tree.app.delete(url, headers={**headers, "If-Unmodified-Since": last_modified}, status=204)


def test_delete_one_file(tree: Tree) -> None:
    tree.upload_wheel("acme/platform/secret", "pkg", "1.0")
    tree.app.post(API.format(project="acme/platform/secret"),
                  params=[("name", "pkg"), ("version", "1.0")],
                  upload_files=[("content", "pkg-1.0.tar.gz", sdist_bytes("pkg", "1.0"))],
                  headers=tree.auth(tree.writer), status=201)
    package = one_package(tree, "acme/platform/secret", tree.deleter)
    files_url = PROJECT.format(project="acme/platform/secret") + f"/{package['id']}/package_files"
    headers = tree.auth(tree.deleter)
    wheel, sdist = tree.app.get(files_url, headers=headers).json
    tree.app.delete(f"{files_url}/{sdist['id']}", status=401)
    tree.app.delete(f"{files_url}/{sdist['id']}", headers=tree.auth(tree.platform_reader),
                    status=403)
    tree.app.delete(f"{files_url}/{sdist['id']}", headers=headers, status=204)
    assert [f["id"] for f in tree.app.get(files_url, headers=headers).json] == [wheel["id"]]
    assert simple_names(tree, "acme/platform/secret", "pkg", tree.deleter) == [
        wheel_name("pkg", "1.0")]
    assert tree.registry.storage.keys() == wheel_keys("pkg", "1.0")  # type: ignore[attr-defined]
    tree.app.delete(f"{files_url}/{sdist['id']}", headers=headers, status=404)
    tree.app.delete(f"{files_url}/abc", headers=headers, status=400)
    # A file id of another package is not found through this one.
    tree.upload_wheel("acme/platform/secret", "other", "1.0")
    other = [p for p in listing(tree, PROJECT.format(project="acme/platform/secret"),
                                tree.deleter).json if p["name"] == "other"][0]
    other_file = tree.app.get(
        PROJECT.format(project="acme/platform/secret") + f"/{other['id']}/package_files",
        headers=headers).json[0]
    tree.app.delete(f"{files_url}/{other_file['id']}", headers=headers, status=404)


# -- last_downloaded_at -----------------------------------------------------------------------


def test_last_downloaded_at_is_buffered_not_written_per_download(tree: Tree) -> None:
    writes: list[dict] = []
    catalog = tree.registry.catalog
    original = catalog.record_downloads
    catalog.record_downloads = lambda batch, counts: (
        writes.append(dict(batch)), counted.append(dict(counts)), original(batch, counts))[2]
    counted: list[dict] = []
    tree.registry.downloads.interval = 3600
    tree.upload_wheel("acme/web", "pkg", "1.0")
    page = tree.app.get(API.format(project="acme/web") + "/simple/pkg/")
    href = links(page.text)[0][0].removeprefix("http://localhost").split("#")[0]
    for _ in range(5):
        tree.app.get(href)
    assert writes == []
    (package,) = listing(tree, PROJECT.format(project="acme/web")).json
    assert len(writes) == 1 and list(writes[0]) == [package["id"]]
    assert list(counted[0].values()) == [5]  # one row: five downloads of one file today
    assert package["last_downloaded_at"] is not None
    assert package["last_downloaded_at"] >= package["created_at"]


def test_downloads_flush_by_themselves_after_the_interval(tree: Tree) -> None:
    tree.registry.downloads.interval = 0
    tree.upload_wheel("acme/web", "pkg", "1.0")
    page = tree.app.get(API.format(project="acme/web") + "/simple/pkg/")
    tree.app.get(links(page.text)[0][0].removeprefix("http://localhost").split("#")[0])
    row = tree.registry.catalog.rows("SELECT last_downloaded_at FROM packages")[0]
    assert row["last_downloaded_at"] is not None


@pytest.mark.parametrize("range_header", ["bytes=999999-", ""])
def test_a_refused_download_is_not_counted(tree: Tree, range_header: str) -> None:
    tree.upload_wheel("acme/web", "pkg", "1.0")
    page = tree.app.get(API.format(project="acme/web") + "/simple/pkg/")
    href = links(page.text)[0][0].removeprefix("http://localhost").split("#")[0]
    tree.app.get(href, headers={"Range": range_header}, status=416)
    (package,) = listing(tree, PROJECT.format(project="acme/web")).json
    assert package["last_downloaded_at"] is None
