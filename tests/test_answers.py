"""Answers for people at the wrong place: the API's root says what it is and links what is
around it; an upload sent to an index URL is told the upload URL (405)."""

from __future__ import annotations

import pytest
from webtest import TestApp

import pypireg
from pypireg import mount, site

from .distributions import wheel_bytes, wheel_name
from .helpers import basic


@pytest.fixture
def registry() -> pypireg.Registry:
    registry = pypireg.create_app()
    registry.create_group("acme", "public")
    registry.create_project("acme/tools", "public")
    return registry


@pytest.mark.parametrize("path", ["/api/v4", "/api/v4/"])
def test_the_api_root_says_what_it_is_and_links_the_site(registry, path: str) -> None:
    answer = TestApp(site(registry)).get(path, status=200)
    assert answer.content_type == "application/json"
    body = answer.json
    assert body["message"].startswith(f"pypireg {pypireg.__version__}: a Python package"
                                      " registry speaking GitLab's PyPI and Packages APIs")
    base = "http://localhost/api/v4"
    assert body["links"] == {
        "pypi_index": f"{base}/projects/:id/packages/pypi/simple/",
        "pypi_upload": f"{base}/projects/:id/packages/pypi",
        "group_pypi_index": f"{base}/groups/:id/-/packages/pypi/simple/",
        "packages": f"{base}/projects/:id/packages",
        "web_pages": "http://localhost/",
        "health": "http://localhost/-/health",
        "readiness": "http://localhost/-/readiness",
    }


def test_each_linked_url_answers(registry) -> None:
    app = TestApp(site(registry))
    links = app.get("/api/v4").json["links"]
    for name, url in links.items():
        path = url.removeprefix("http://localhost").replace(":id", "acme%2Ftools").replace(
            "groups/acme%2Ftools", "groups/acme")
        if name != "pypi_upload":  # a POST
            app.get(path, status=200)


def test_the_api_root_is_a_page_for_browsers_and_knows_its_mount(registry) -> None:
    app = TestApp(mount(site(registry, pages=False), "/registry"))
    page = app.get("/registry/api/v4/", headers={"Accept": "text/html"}, status=200)
    assert page.content_type == "text/html"
    assert '<a href="http://localhost/registry/-/health">' in page.text
    assert "web pages" not in page.text  # pages=False: none to link
    json_links = app.get("/registry/api/v4/").json["links"]
    assert json_links["pypi_index"] == (
        "http://localhost/registry/api/v4/projects/:id/packages/pypi/simple/")
    assert "web_pages" not in json_links


def test_a_bare_mount_links_only_the_api(registry) -> None:
    links = TestApp(mount(registry, "/pypi")).get("/pypi/").json["links"]
    assert set(links) == {"pypi_index", "pypi_upload", "group_pypi_index", "packages"}


def test_the_flat_layout_root_names_its_project() -> None:
    flat = pypireg.create_app(layout="flat", project="solo")
    body = TestApp(flat).get("/").json
    assert body["message"].endswith("a Python package index. Install from pypi_index,"
                                    " publish to pypi_upload.")
    assert "solo" not in body["message"]  # a private project's path never shows
    assert body["links"] == {"pypi_index": "http://localhost/simple/",
                             "pypi_upload": "http://localhost/"}


UPLOAD = "http://localhost/projects/acme/tools/packages/pypi"


@pytest.mark.parametrize(("path", "names"), [
    ("/projects/acme%2Ftools/packages/pypi/simple", UPLOAD),
    ("/projects/acme%2Ftools/packages/pypi/simple/", UPLOAD),
    ("/projects/acme%2Ftools/packages/pypi/simple/acme-greet/", UPLOAD),
    ("/groups/acme/-/packages/pypi/simple/",
     "a group takes no uploads: publish to a project's upload URL, http://localhost/projects/"
     ":id/packages/pypi"),
])
def test_an_upload_to_an_index_is_a_405_naming_the_upload_url(registry, path: str,
                                                              names: str) -> None:
    data = wheel_bytes("acme-greet", "1.0")
    answer = TestApp(registry).post(
        path, params=[("name", "acme-greet"), ("version", "1.0")],
        upload_files=[("content", wheel_name("acme-greet", "1.0"), data)],
        headers=basic("pypireg-anything"), status=405)
    message = answer.json["message"]
    assert message.startswith("405 Method Not Allowed - this is an index, which installers"
                              " read: ")
    assert message.endswith(names)
    assert answer.status == message  # twine prints the status line
    assert sorted(answer.headers["Allow"].split(", ")) == ["GET", "HEAD"]
    assert registry.catalog.value("SELECT count(*) FROM package_files") == 0


def test_other_wrong_posts_are_what_they_were(registry) -> None:
    app = TestApp(registry)
    assert app.post("/nothing/here", status=404).json == {"message": "404 Not Found"}
    assert app.put("/projects/acme%2Ftools/packages/1/package_files", status=405).json == {
        "message": "405 Method Not Allowed"}
    flat = TestApp(pypireg.create_app(layout="flat", project="solo"))
    assert flat.post("/simple/", status=405).json["message"].endswith("publish to"
                                                                      " http://localhost/")
