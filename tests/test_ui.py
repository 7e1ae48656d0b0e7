"""The web pages, in-process through pypireg.site (pages at the root, the API at /api/v4):
every page, filter, sort and pager, the access rules, and hostile content kept inert."""

from __future__ import annotations

import re

import pytest
from webtest import TestApp

import pypireg

from .distributions import HOSTILE_README
from .webpages import HTML, Site, names_on

# -- home ---------------------------------------------------------------------------------


def test_home_shows_what_the_caller_may_read(site: Site) -> None:
    site.publish("acme/tools", "public-lib", "1.0", summary="For everyone")
    site.publish("acme/team/secret", "secret-lib", "1.0", summary="For the team")
    anonymous = site.page("/")
    assert "acme/tools" in anonymous.text and "public-lib" in anonymous.text
    assert "secret" not in anonymous.text
    assert anonymous.headers["Content-Security-Policy"].startswith("default-src 'none'")
    reader = site.page("/", token=site.reader)
    assert "acme/team/secret" in reader.text and "secret-lib" in reader.text
    assert "acme/team/other" not in reader.text  # the reader's token does not cover it
    # Client setup with the real URLs, and never a secret.
    index = f"http://localhost/api/v4/projects/{site.public.id}/packages/pypi/simple/"
    assert f"pip install --index-url {index} public-lib" in anonymous.text
    assert site.reader not in reader.text


def test_home_setup_is_for_a_project_that_holds_packages(site: Site) -> None:
    site.registry.create_project("acme/aaa-empty", "public")  # first by path, and empty
    site.publish("acme/tools", "public-lib", "1.0")
    home = site.page("/")
    index = f"http://localhost/api/v4/projects/{site.public.id}/packages/pypi/simple/"
    snippets = [b["data-copy"] for b in home.html.select("section button.copy")]
    assert f"pip install --index-url {index} public-lib" in snippets
    assert (f"poetry source add --priority=explicit acme-tools {index}\n"
            "poetry add --source acme-tools public-lib") in snippets
    empty = pypireg.create_app()
    empty.create_project("solo", "public")
    assert "pip install --index-url http://localhost/api/v4/projects/1/packages/pypi/simple/"\
        " PACKAGE" in TestApp(pypireg.site(empty)).get("/", headers=HTML).text


def test_home_counts_packages_of_projects_and_groups(site: Site) -> None:
    site.publish("acme/tools", "public-lib", "1.0")
    site.publish("acme/tools", "public-lib", "2.0")  # a second version is not a second name
    site.publish("acme/tools", "other-lib", "1.0")
    site.publish("acme/team/secret", "secret-lib", "1.0")
    site.publish("acme/team/other", "hidden-lib", "1.0")

    def counts(page) -> dict[str, str]:
        return {li.a.text: li.select_one("span.count").text
                for li in page.html.select("ul.namespaces li")}

    # Anonymous: acme counts only the public project below it; acme/team is not shown.
    assert counts(site.page("/")) == {"acme/tools": "2 packages", "acme": "2 packages"}
    # The reader may read acme/team/secret too, never acme/team/other.
    assert counts(site.page("/", token=site.reader)) == {
        "acme/tools": "2 packages", "acme/team/secret": "1 package",
        "acme": "3 packages", "acme/team": "1 package"}
    # Each count is the total the group's own page lists.
    group = site.page("/acme/team", token=site.reader)
    assert names_on(group) == ["secret-lib"]


def test_latest_uploads_are_newest_first(site: Site) -> None:
    for name in ("first", "second", "third"):
        site.publish("acme/tools", name, "1.0")
    assert names_on(site.page("/")) == ["third", "second", "first"]


# -- group and project pages ----------------------------------------------------------------


@pytest.fixture
def listed(site: Site) -> Site:
    for name, version in (("beta", "1.0"), ("alpha", "1.0"), ("gamma", "2.0"),
                          ("alpha", "2.0"), ("delta-tool", "0.1")):
        site.publish("acme/tools", name, version)
    return site


def test_project_page_lists_names_with_their_current_version(listed: Site) -> None:
    page = listed.page("/acme/tools")
    assert names_on(page) == ["alpha", "beta", "delta-tool", "gamma"]
    assert page.html.select_one("ul.names li .version").text == "2.0"
    assert f"projects/{listed.public.id}/packages/pypi/simple/" in page.text
    assert f"projects/{listed.public.id}/packages/pypi/" in page.text  # the upload URL
    assert listed.page("/acme/tools/-/packages").text == page.text


@pytest.mark.parametrize(("query", "expected"), [
    ("order_by=last_upload", ["delta-tool", "alpha", "gamma", "beta"]),
    ("order_by=last_upload&sort=asc", ["beta", "gamma", "alpha", "delta-tool"]),
    ("sort=desc", ["gamma", "delta-tool", "beta", "alpha"]),
    ("q=ta", ["beta", "delta-tool"]),
    ("q=DELTA", ["delta-tool"]),
    ("q=a+l", ["alpha", "delta-tool"]),
    ("q=nothing", []),
    ("per_page=2", ["alpha", "beta"]),
    ("per_page=2&page=2", ["delta-tool", "gamma"]),
    ("per_page=2&page=3", []),
])
def test_project_page_filters_sorts_and_pages(listed: Site, query: str, expected) -> None:
    assert names_on(listed.page(f"/acme/tools?{query}")) == expected


def test_pager_links_keep_the_filter(listed: Site) -> None:
    page = listed.page("/acme/tools?per_page=1&order_by=last_upload&page=2")
    links = {a["rel"][0]: a["href"] for a in page.html.select("nav.pager a[rel]")}
    assert links == {"prev": "?per_page=1&order_by=last_upload&page=1",
                     "next": "?per_page=1&order_by=last_upload&page=3"}
    numbers = page.html.select("nav.pager ol a")
    assert [a.text for a in numbers] == ["1", "2", "3", "4"]
    assert numbers[1]["aria-current"] == "page" and numbers[1]["aria-label"] == "Page 2 of 4"
    assert numbers[3]["href"] == "?per_page=1&order_by=last_upload&page=4"


@pytest.mark.parametrize("query", ["order_by=size", "sort=up", "page=0", "per_page=101",
                                   "page=x", "q=" + "a" * 201])
def test_bad_parameters_are_a_400_page(listed: Site, query: str) -> None:
    page = listed.page(f"/acme/tools?{query}", status=400)
    assert page.content_type == "text/html"
    assert page.html.select_one("h1").text.startswith("400 Bad request - ")
    api_client = listed.site.get(f"/acme/tools?{query}", status=400)
    assert api_client.json["message"].startswith("400 Bad request - ")


def test_group_page_merges_the_projects_the_caller_may_read(site: Site) -> None:
    site.publish("acme/tools", "tool", "1.0")
    site.publish("acme/team/secret", "secret-lib", "1.0")
    site.publish("acme/team/other", "other-lib", "1.0")
    assert names_on(site.page("/acme")) == ["tool"]
    assert names_on(site.page("/acme", token=site.reader)) == ["secret-lib", "tool"]
    assert names_on(site.page("/acme", token=site.deleter)) == [
        "other-lib", "secret-lib", "tool"]
    page = site.page("/acme")
    group_id = site.registry.catalog.group("acme").id
    assert f"groups/{group_id}/-/packages/pypi/simple/" in page.text
    assert page.html.select_one("ul.names .project a").text == "acme/tools"


# -- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/acme/team/secret", "/acme/team",
                                  "/acme/team/secret/-/packages/pypi/secret-lib"])
def test_private_pages_challenge_and_hide(site: Site, path: str) -> None:
    site.publish("acme/team/secret", "secret-lib", "1.0")
    anonymous = site.page(path, status=401)
    # A browser is sent to the sign-in page, not the browser's own prompt.
    assert "WWW-Authenticate" not in anonymous.headers
    assert anonymous.html.select_one("main a")["href"] == (
        "/users/sign_in?redirect=" + path)
    assert "secret-lib" not in anonymous.html.select_one("main").text  # but in the link back
    assert "secret-lib" in site.page(path, token=site.reader).text
    other = site.page(path, token=site.outsider,
                      status=200 if path == "/acme/team" else 404)
    assert "secret-lib" not in other.html.select_one("main").text
    if other.status_int == 404:  # as if there were nothing at all
        missing = path.replace("secret", "nothing")
        assert other.html.select_one("h1").text \
            == site.page(missing, token=site.outsider, status=404).html.select_one("h1").text
    refused = site.page(path, token="not-a-token", status=401)
    assert "secret-lib" not in refused.html.select_one("main").text


def test_a_private_package_id_answers_as_a_missing_one(site: Site) -> None:
    site.publish("acme/team/secret", "secret-lib", "1.0")
    package_id = site.registry.catalog.versions_named(site.private.id, "secret-lib")[0].id
    site.page(f"/acme/team/secret/-/packages/{package_id}", status=401)
    site.page(f"/acme/team/secret/-/packages/{package_id}", token=site.outsider, status=404)
    # Another project's path does not show it either.
    site.page(f"/acme/tools/-/packages/{package_id}", status=404)


def test_missing_pages(site: Site) -> None:
    page = site.page("/no/such/thing", status=404)
    assert page.content_type == "text/html"
    assert site.site.get("/no/such/thing", status=404).json == {"message": "404 Not Found"}
    site.page("/acme/tools/-/packages/pypi/nothing", status=404)
    site.page("/acme/tools/-/packages/99999999999999999999", status=404)
    site.page("/-/static/../catalog.db", status=404)
    site.site.post("/acme/tools", status=405)


def test_api_errors_are_pages_for_browsers_only(site: Site) -> None:
    path = "/api/v4/projects/acme%2Fnothing/packages"
    assert site.site.get(path, status=404).json == {"message": "404 Project Not Found"}
    page = site.site.get(path, headers=HTML, status=404)
    assert page.content_type == "text/html"
    assert page.html.select_one("h1").text == "404 Project Not Found"
    pip = {"Accept": "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;"
                     " q=0.1, text/html; q=0.01"}
    simple = "/api/v4/projects/acme%2Fnothing/packages/pypi/simple/x/"
    assert site.site.get(simple, headers=pip, status=404).json["message"] \
        == "404 Project Not Found"


# -- the package page -------------------------------------------------------------------------


README = """\
Title <em>here</em>
===================

Some *text*.

.. image:: https://example.com/badge.svg
"""

def test_package_page_shows_the_version_and_its_details(site: Site) -> None:
    metadata = ("Summary: A useful library\nRequires-Python: >=3.9\nLicense-Expression: MIT\n"
                "Author: Ada\nClassifier: Programming Language :: Python :: 3\n"
                "Requires-Dist: requests>=2; python_version >= '3.9'\n"
                "Project-URL: Source, https://example.com/src\n"
                "Description-Content-Type: text/x-rst\n")
    site.publish("acme/tools", "useful", "1.0", metadata=metadata, body=README)
    page = site.page("/acme/tools/-/packages/pypi/useful")
    assert page.html.select_one("h1").text.split() == ["useful", "1.0"]
    assert "A useful library" in page.text
    rendered = page.html.select_one(".readme .rendered")
    assert rendered.select_one("h1, h2").text.startswith("Title <em>here</em>")
    assert rendered.select_one("em").text == "text"
    assert rendered.select_one("img")["src"] == "https://example.com/badge.svg"
    details = page.html.select_one("aside").text
    for text in (">=3.9", "MIT", "Ada", "Programming Language :: Python :: 3",
                 "requests>=2; python_version >= '3.9'"):
        assert text in details
    assert page.html.select_one("ul.links a")["href"] == "https://example.com/src"
    index = f"http://localhost/api/v4/projects/{site.public.id}/packages/pypi/simple/"
    snippets = [b["data-copy"] for b in page.html.select(".install button.copy")]
    assert snippets == [f"pip install --index-url {index} useful==1.0",
                        f"uv pip install --index-url {index} useful==1.0",
                        f"poetry source add --priority=explicit acme-tools {index}\n"
                        "poetry add --source acme-tools useful==1.0",
                        f"pip install --index-url {index} --extra-index-url"
                        " https://pypi.org/simple/ useful==1.0"]
    # Without upstreams, dependencies must be here too: said, with the risk of the way out.
    assert "every dependency must be in it too" in page.html.select_one(".install").text
    assert all(b.has_attr("hidden") for b in page.html.select("button.copy"))  # shown by JS


def test_package_page_says_the_names_status(site: Site) -> None:
    site.publish("acme/tools", "useful", "1.0")
    page = site.page("/acme/tools/-/packages/pypi/useful")
    assert page.html.select_one(".name-status") is None  # active says nothing
    site.registry.set_name_status(site.public, "useful", "quarantined",
                                  reason="<script>alert(1)</script> malware")
    page = site.page("/acme/tools/-/packages/pypi/useful")  # a new page: the serial moved
    assert page.html.select_one("h1 .badge.status").text == "quarantined"
    note = page.html.select_one(".name-status")
    assert note.text.startswith("useful is quarantined: <script>alert(1)</script> malware.")
    assert "Its files are not served" in note.text
    assert not page.html.select("script:not([src])")  # the reason stays text


def test_files_with_download_metadata_and_digest(site: Site) -> None:
    site.publish("acme/tools", "useful", "1.0")
    page = site.page("/acme/tools/-/packages/pypi/useful")
    row = page.html.select_one("ul.files li")
    assert row.select_one(".facts").text.startswith("wheel · py3 · ")
    links = row.select("a")
    download = links[0]["href"]
    assert download.startswith(
        f"http://localhost/api/v4/projects/{site.public.id}/packages/pypi/files/")
    assert site.site.get(download.removeprefix("http://localhost")).body.startswith(b"PK")
    assert links[1]["href"] == download + ".metadata"
    digest = row.select_one("button.copy")["data-copy"]
    assert re.fullmatch("[0-9a-f]{64}", digest) and digest in download


def test_versions_current_yanked_and_web_path(site: Site) -> None:
    for version in ("1.0", "1.1", "2.0rc1"):
        site.publish("acme/tools", "useful", version)
    site.registry.yank("acme/tools", "useful", "1.1", reason="broken <b>build</b>")
    page = site.page("/acme/tools/-/packages/pypi/useful")
    # The current version is what pip install picks: the highest final release that is
    # not yanked (a pre-release only when there is no final one).
    assert page.html.select_one("h1 .version").text == "1.0"
    assert "==1.0" in page.html.select_one(".install button.copy")["data-copy"]
    versions = [li.select_one("a").text for li in page.html.select("ul.versions li")]
    assert versions == ["2.0rc1", "1.1", "1.0"]
    assert [b.text for b in page.html.select("ul.versions li")[0].select(".badge")] == [
        "pre-release"]
    yanked = page.html.select("ul.versions li")[1]
    assert yanked.select_one(".reason").text == "broken <b>build</b>"
    # The yanked version's own page says so first, and pins nothing.
    yanked_page = page.click(href=yanked.select_one("a")["href"])
    assert yanked_page.html.select_one("p.warning").text.startswith(
        "This version is yanked: broken <b>build</b>. pip installs it only when it is pinned;"
        " the current version is 1.0")
    assert yanked_page.html.select_one(".install") is None
    assert "1.1" in page.html.select_one("ul.names, ul.versions").text
    # The Packages API's web_path resolves to the version's page.
    listing = site.site.get(f"/api/v4/projects/{site.public.id}/packages").json
    for item in listing:
        version_page = site.page(item["_links"]["web_path"])
        assert version_page.html.select_one("h1 .version").text == item["version"]
    followed = page.click(href=str(listing[0]["_links"]["web_path"]), index=0)
    assert followed.html.select_one("h1 .version").text == "1.0"


def test_markdown_readme_and_hostile_content_stay_inert(site: Site) -> None:
    metadata = ("Summary: <script>window.ran = 5</script>\n"
                "Description-Content-Type: text/markdown\n"
                "Classifier: <img src=x onerror=alert(1)>\n"
                "Project-URL: Evil, javascript:alert(1)\n"
                "Project-URL: Home, https://example.com/\n")
    site.publish("acme/tools", "hostile", "1.0", metadata=metadata, body=HOSTILE_README,
                 summary="<b>bold</b> summary")
    page = site.page("/acme/tools/-/packages/pypi/hostile")
    rendered = page.html.select_one(".readme .rendered")
    assert rendered.select_one("h1").text == "Hostile"
    assert not rendered.select("script, iframe, [onerror]")
    assert not [tag for tag in rendered.select("[href], [src]")
                if (tag.get("href") or tag.get("src")).strip().lower().startswith("javascript")]
    assert not page.html.select("script:not([src])")
    assert "&lt;script&gt;window.ran = 5&lt;/script&gt;" in page.text  # the summary, escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text  # the classifier
    links = {a.text: a["href"] for a in page.html.select("ul.links a")}
    assert links == {"Home": "https://example.com/"}
    assert "javascript:alert(1)" in page.html.select_one("ul.links").text  # shown as text
    assert "&lt;b&gt;bold&lt;/b&gt; summary" in site.page("/acme/tools").text


def test_readme_over_the_limit_is_not_rendered(site: Site, tmp_path) -> None:
    from dataclasses import replace

    site.registry.limits = replace(site.registry.limits, max_readme_size=1000)
    site.publish("acme/tools", "wordy", "1.0", body="word " * 1000)
    page = site.page("/acme/tools/-/packages/pypi/wordy")
    assert "too large to show" in page.text


def test_a_package_from_before_details_shows_its_description(site: Site) -> None:
    site.publish("acme/tools", "older", "1.0")
    package = site.registry.catalog.versions_named(site.public.id, "older")[0]
    site.registry.catalog.run("DELETE FROM package_details WHERE package_id = ?", [package.id])
    site.registry.catalog.run("UPDATE packages SET metadata = ? WHERE id = ?",
                              ['{"description": "plain <b>old</b> text"}', package.id])
    page = site.page("/acme/tools/-/packages/pypi/older")
    assert page.html.select_one("pre.plain").text == "plain <b>old</b> text"


def test_gc_reads_the_details_of_older_packages(site: Site) -> None:
    site.publish("acme/tools", "older", "1.0", metadata="License-Expression: MIT\n",
                 body="Hello *world*")
    site.publish("acme/tools", "bare", "1.0")
    catalog = site.registry.catalog
    catalog.run("DELETE FROM package_details")  # as a catalog from before schema 6
    assert "Hello" not in site.page("/acme/tools/-/packages/pypi/older").text
    report = site.registry.collect_garbage()
    assert report.details == 1  # "bare" has nothing a page would show
    assert "read the details of 1 older package for its page" in str(report)
    page = site.page("/acme/tools/-/packages/pypi/older")
    assert page.html.select_one(".readme .rendered em").text == "world"
    assert "MIT" in page.html.select_one("aside").text
    assert site.registry.collect_garbage().details == 0  # each is looked at once


# -- search ----------------------------------------------------------------------------------


@pytest.fixture
def searchable(site: Site) -> Site:
    site.publish("acme/tools", "requests-toolbelt", "1.0", summary="Helpers for requests")
    site.publish("acme/tools", "http-client", "1.0", summary="Sends requests over HTTP")
    site.publish("acme/tools", "requests", "2.0", summary="HTTP for humans")
    site.publish("acme/team/secret", "requests-secret", "1.0", summary="Internal requests")
    site.publish("acme/tools", "unrelated", "1.0", summary="Nothing to see")
    return site


def test_search_ranks_the_exact_name_first(searchable: Site) -> None:
    found = names_on(searchable.page("/-/search?q=requests"))
    assert found[0] == "requests"
    assert set(found) == {"requests", "requests-toolbelt", "http-client"}
    assert found.index("requests-toolbelt") < found.index("http-client")  # name before summary


def test_search_sees_only_what_the_caller_may_read(searchable: Site) -> None:
    assert "requests-secret" not in names_on(searchable.page("/-/search?q=requests"))
    reader = names_on(searchable.page("/-/search?q=requests", token=searchable.reader))
    assert "requests-secret" in reader


@pytest.mark.parametrize(("query", "expected"), [
    ("REQ", {"requests", "requests-toolbelt", "http-client"}),  # a word's start, any case
    ("requests toolbelt", {"requests-toolbelt"}),
    ("requests_toolbelt", {"requests-toolbelt"}),
    ("humans", {"requests"}),
    ("", set()),
    ("***", set()),
])
def test_search_queries(searchable: Site, query: str, expected: set[str]) -> None:
    assert set(names_on(searchable.page("/-/search", params={"q": query}))) == expected


@pytest.mark.parametrize("query", ["\"*'OR 1=1--", "or AND 1 NOT 1", "OR:* & 1", "or^1-1"])
def test_search_has_no_query_syntax(searchable: Site, query: str) -> None:
    """Only the words count ("or", "1", "1"): quotes and operators are not syntax."""
    searchable.publish("acme/tools", "or-1-1", "1.0")
    found = names_on(searchable.page("/-/search", params={"q": query}))
    assert found == (["or-1-1"] if "AND" not in query else [])


def test_search_pages(searchable: Site) -> None:
    first = searchable.page("/-/search?q=requests&per_page=2")
    second = searchable.page("/-/search?q=requests&per_page=2&page=2")
    assert len(names_on(first)) == 2 and len(names_on(second)) == 1
    assert "3 results" in first.text


def test_deleted_names_leave_the_pages(site: Site) -> None:
    site.publish("acme/tools", "gone", "1.0")
    site.publish("acme/tools", "gone", "2.0")
    site.publish("acme/tools", "kept", "1.0")
    catalog = site.registry.catalog
    versions = {p.version: p for p in catalog.versions_named(site.public.id, "gone")}
    site.registry.delete_package(versions["2.0"])
    page = site.page("/acme/tools")
    assert names_on(page) == ["gone", "kept"]
    assert page.html.select_one("ul.names .version").text == "1.0"
    site.registry.delete_package(versions["1.0"])
    assert names_on(site.page("/acme/tools")) == ["kept"]
    assert names_on(site.page("/-/search?q=gone")) == []


def test_static_files(site: Site) -> None:
    css = site.site.get("/-/static/ui.css")
    assert css.content_type == "text/css" and b"prefers-color-scheme" in css.body
    assert site.site.get("/-/static/copy.js").content_type in ("text/javascript",
                                                               "application/javascript")


def test_pages_follow_the_mount_prefix(tmp_path) -> None:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    registry = pypireg.create_app()
    env = Site(registry)
    env.publish("acme/tools", "lib", "1.0")
    hosted = TestApp(DispatcherMiddleware(lambda e, s: [], {"/registry": pypireg.site(registry)}))
    page = hosted.get("/registry/acme/tools", headers=HTML)
    hrefs = [a["href"] for a in page.html.select("a")]
    assert "/registry/acme/tools/-/packages/pypi/lib" in hrefs
    assert all(h.startswith(("/registry/", "http://localhost/registry/api/v4/", "?", "#"))
               for h in hrefs), hrefs
    assert page.html.select_one("link[rel=stylesheet]")["href"] == "/registry/-/static/ui.css"
    assert "http://localhost/registry/api/v4/projects/" in page.text
    assert hosted.get("/registry/-/health").text == "pypireg OK\n"


def test_pages_in_pyramid_and_apart_from_the_api() -> None:
    from pyramid.config import Configurator
    from pyramid.wsgi import wsgiapp2
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    registry = pypireg.create_app()
    Site(registry).publish("acme/tools", "lib", "1.0")
    with Configurator() as config:
        config.add_route("pypi", "/pypi/*subpath")
        config.add_view(wsgiapp2(pypireg.site(registry)), route_name="pypi")
        pyramid = TestApp(config.make_wsgi_app())
    page = pyramid.get("/pypi/acme/tools/-/packages/pypi/lib", headers=HTML)
    download = page.html.select_one(".files a")["href"]
    assert download.startswith("http://localhost/pypi/api/v4/projects/")
    assert pyramid.get(download.removeprefix("http://localhost")).body.startswith(b"PK")
    apart = TestApp(DispatcherMiddleware(lambda e, s: [], {
        "/pypi": registry,
        "/packages": pypireg.create_ui(registry, api="https://pypi.example/pypi")}))
    page = apart.get("/packages/acme/tools/-/packages/pypi/lib", headers=HTML)
    assert page.html.select_one(".files a")["href"].startswith(
        "https://pypi.example/pypi/projects/")
    assert page.html.select_one(".crumbs a[href='/packages/acme/tools']")


# -- what a second read found ---------------------------------------------------------------


def test_pages_answer_trusted_hosts_only(tmp_path) -> None:
    registry = pypireg.create_app(trusted_hosts=["pypi.example.com"])
    app = TestApp(pypireg.site(registry))
    page = app.get("/", headers={**HTML, "Host": "evil.example"}, status=400)
    assert "evil.example" not in page.html.select_one("h1").text.partition("-")[0]
    assert app.get("/", headers={**HTML, "Host": "pypi.example.com"}).status_int == 200


def test_a_path_of_digits_is_a_path_not_an_id(site: Site) -> None:
    site.registry.create_group("1", "public")  # the id of acme is 1 too
    site.registry.create_project("1/2", "public")  # and project 2 is acme/team/secret
    site.writer = site.registry.create_token("digits", ["1:write"])
    site.publish("1/2", "digits", "1.0")
    assert site.page("/1").html.select_one("h1").text.split()[0] == "1"
    assert names_on(site.page("/1")) == ["digits"]
    assert names_on(site.page("/1/2")) == ["digits"]
    assert "digits" in site.page("/1/2/-/packages/pypi/digits").text


def test_a_package_without_a_description_says_so(site: Site) -> None:
    site.publish("acme/tools", "plain", "1.0")
    page = site.page("/acme/tools/-/packages/pypi/plain")
    assert "This version has no description." in page.text
    assert "too large" not in page.text


def test_nul_characters_are_refused_not_crashed_on(site: Site) -> None:
    site.publish("acme/tools", "nul", "1.0", summary="a\x00b")
    assert "nul" in names_on(site.page("/acme/tools"))
    assert site.page("/acme/tools?q=a%00b", status=400).status_int == 400
    site.page("/acme%00/tools", status=404)
    site.page("/acme/tools/-/packages/pypi/a%00b", status=404)
    site.site.get("/api/v4/projects/acme%2Ftools%00/packages", status=404)
    site.site.get("/api/v4/projects/acme%2Ftools/packages?package_name=a%00", status=400)


def test_deleting_the_last_file_of_a_version_updates_its_name(site: Site) -> None:
    site.publish("acme/tools", "lib", "1.0")
    site.publish("acme/tools", "lib", "2.0")
    catalog = site.registry.catalog
    newest = {p.version: p for p in catalog.versions_named(site.public.id, "lib")}["2.0"]
    (only_file,), _ = catalog.package_files(newest.id, limit=10, offset=0)
    site.registry.delete_package_file(newest, only_file)
    assert site.page("/acme/tools").html.select_one("ul.names .version").text == "1.0"


def test_a_trailing_slash_redirects(site: Site) -> None:
    site.publish("acme/tools", "lib", "1.0")
    moved = site.page("/acme/tools/?order_by=name", status=308)
    assert moved.headers["Location"] == "http://localhost/acme/tools?order_by=name"
    assert names_on(moved.follow(headers=HTML)) == ["lib"]


def test_error_pages_carry_the_message_in_the_status_line(site: Site) -> None:
    page = site.page("/acme/tools?sort=up", status=400)
    assert page.status.startswith("400 Bad request - sort does not have a valid value")


def test_kept_package_pages_follow_every_change(site: Site) -> None:
    site.publish("acme/tools", "lib", "1.0")
    path = "/acme/tools/-/packages/pypi/lib"
    first = site.page(path)
    assert site.page(path).text == first.text  # kept, and the same
    assert any(key.startswith("ui:") for key in site.registry.pages._bodies)
    site.registry.yank("acme/tools", "lib", "1.0", reason="old")
    assert site.page(path).html.select_one("p.warning").text.startswith(
        "This version is yanked: old.")
    site.publish("acme/tools", "lib", "2.0")
    assert site.page(path).html.select_one("h1 .version").text == "2.0"
    # Another host or mount point is another page: its links differ.
    other = site.site.get(path, headers={**HTML, "Host": "pypi.example.com"})
    assert "http://pypi.example.com/api/v4/" in other.text
    assert "http://localhost/api/v4/" not in other.text


def test_kept_lists_follow_uploads_visibility_and_callers(site: Site) -> None:
    site.publish("acme/tools", "first", "1.0")
    for path in ("/", "/acme/tools", "/acme", "/-/search?q=first+second"):
        site.page(path)
    site.publish("acme/tools", "second", "1.0", summary="first and second")
    assert names_on(site.page("/")) == ["second", "first"]
    assert names_on(site.page("/acme/tools")) == ["first", "second"]
    assert names_on(site.page("/acme")) == ["first", "second"]
    assert names_on(site.page("/-/search?q=first+second")) == ["second"]
    site.registry.set_visibility("acme/tools", "private")
    assert "acme/tools" not in site.page("/").text
    site.page("/acme/tools", status=401)
    assert "first" not in site.page("/acme").text
    reader = site.registry.create_token("tools-reader", ["acme/tools:read"])
    assert names_on(site.page("/acme/tools", token=reader)) == ["first", "second"]
