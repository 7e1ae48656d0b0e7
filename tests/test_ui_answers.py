"""How the web pages are sent: ETags and 304s, gzip made once per page, and README
images from other hosts loaded lazily without a referrer, or not at all."""

from __future__ import annotations

import gzip

from webtest import TestApp
from werkzeug.test import Client

import pypireg
import pypireg.ui.app

from .webpages import HTML, Site

PAGE = "/acme/tools/-/packages/pypi/lib"
README = "# Lib\n\n![badge](https://img.example/badge.svg) ![local](/logo.png)\n"


def test_a_page_kept_by_the_browser_is_answered_304(site: Site) -> None:
    site.publish("acme/tools", "lib", "1.0")
    first = site.page(PAGE)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and "Cookie" in first.headers["Vary"]
    again = site.site.get(PAGE, headers={**HTML, "If-None-Match": etag}, status=304)
    assert again.body == b"" and again.headers["ETag"] == etag
    site.publish("acme/tools", "lib", "2.0")  # what the page shows changed: a new ETag
    changed = site.site.get(PAGE, headers={**HTML, "If-None-Match": etag}, status=200)
    assert changed.headers["ETag"] != etag
    assert changed.html.select_one("h1 .version").text == "2.0"


def test_each_caller_has_the_etag_of_what_they_see(site: Site) -> None:
    site.publish("acme/team/secret", "lib", "1.0")
    anonymous = site.page("/").headers["ETag"]
    signed_in = site.page("/", token=site.reader)
    assert signed_in.headers["ETag"] != anonymous
    assert "acme/team/secret" in signed_in.text
    site.site.get("/", headers={**HTML, "If-None-Match": signed_in.headers["ETag"]},
                  status=200)  # anonymous, holding the reader's page: not it


def test_pages_are_sent_gzipped_once_compressed(site: Site, monkeypatch) -> None:
    site.publish("acme/tools", "lib", "1.0", body="A long README. " * 500)
    compressed = []
    real = gzip.compress
    monkeypatch.setattr(pypireg.ui.app.gzip, "compress",
                        lambda data, **kw: compressed.append(len(data)) or real(data, **kw))
    client = Client(site.site.app)  # as sent: webtest would decode it
    plain = client.get(PAGE, headers=HTML)
    assert "Content-Encoding" not in plain.headers
    for _ in range(3):
        packed = client.get(PAGE, headers={**HTML, "Accept-Encoding": "gzip, br"})
        assert packed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(packed.data) == plain.data
        assert len(packed.data) < len(plain.data) / 3
    assert compressed == [len(plain.data)]  # once, when the page was kept
    assert packed.headers["ETag"] != plain.headers["ETag"]  # another representation
    assert client.get(PAGE, headers={**HTML, "Accept-Encoding": "gzip",
                                     "If-None-Match": packed.headers["ETag"]}).status_code == 304


def test_readme_images_load_lazily_without_a_referrer(site: Site) -> None:
    site.publish("acme/tools", "lib", "1.0", body=README,
                 metadata="Description-Content-Type: text/markdown\n")
    page = site.page(PAGE)
    images = page.html.select(".rendered img")
    assert [(i["src"], i.get("loading"), i.get("referrerpolicy")) for i in images] == [
        ("https://img.example/badge.svg", "lazy", "no-referrer"),
        ("/logo.png", "lazy", "no-referrer")]
    assert "img-src 'self' https: data:" in page.headers["Content-Security-Policy"]


def test_outside_images_can_be_blocked(tmp_path) -> None:
    site = Site(pypireg.create_app(staging_dir=str(tmp_path), ui_external_images="block"))
    site.publish("acme/tools", "lib", "1.0", body=README,
                 metadata="Description-Content-Type: text/markdown\n")
    page = site.page(PAGE)
    assert [i["src"] for i in page.html.select(".rendered img")] == ["/logo.png"]
    assert page.html.select_one(".blocked-image").text == "[image: badge, not loaded]"
    assert "https:" not in page.headers["Content-Security-Policy"]


def test_the_home_page_is_paginated_with_page_numbers(tmp_path) -> None:
    registry = pypireg.create_app(staging_dir=str(tmp_path))
    for n in range(45):
        registry.create_project(f"p{n:02}", "public")
    site = TestApp(pypireg.site(registry))
    first = site.get("/", headers=HTML)
    assert len(first.html.select("ul.namespaces li")) == 20
    numbers = [a.text for a in first.html.select("nav.pager ol a")]
    assert numbers == ["1", "2", "3"]
    third = site.get(first.html.select("nav.pager ol a")[2]["href"], headers=HTML)
    assert [a.text for a in third.html.select("ul.namespaces a")] == [
        f"p{n:02}" for n in range(40, 45)]
    many = site.get("/?page=9&per_page=2", headers=HTML)
    assert [li.text for li in many.html.select("nav.pager ol li")] == [
        "1", "…", "7", "8", "9", "10", "11", "…", "23"]


def test_a_headings_own_link_has_a_name(site: Site) -> None:
    site.publish("acme/tools", "lib", "1.0", body="# Lib\n\nText.",
                 metadata="Description-Content-Type: text/markdown\n")
    link = site.page(PAGE).html.select_one(".rendered h1 a")
    assert link["href"] == "#user-content-lib" and link["aria-label"] == "Link to this heading"
