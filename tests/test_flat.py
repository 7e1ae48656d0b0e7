"""The flat, pypiserver-style layout: the same views at other paths."""

from __future__ import annotations

import hashlib
import re

import pytest
from webtest import TestApp

import pypireg

from .distributions import wheel_bytes, wheel_name
from .helpers import basic


@pytest.fixture
def flat(tmp_path):  # type: ignore[no-untyped-def]
    registry = pypireg.create_app(staging_dir=str(tmp_path), layout="flat", project="solo")
    registry.create_project("solo", "public")
    return registry, TestApp(registry), registry.create_token("ci", ["solo:write"])


def test_upload_at_root_and_pages_under_simple(flat) -> None:  # type: ignore[no-untyped-def]
    registry, app, token = flat
    data = wheel_bytes("pkg", "1.0")
    app.post("/", params=[("name", "pkg"), ("version", "1.0"), (":action", "file_upload")],
             upload_files=[("content", wheel_name("pkg", "1.0"), data)],
             headers=basic(token), status=201)
    index = app.get("/simple/")
    assert 'href="http://localhost/simple/pkg/"' in index.text
    page = app.get("/simple/pkg/")
    href = re.search(r'href="http://localhost(/files/[^"#]+)', page.text).group(1)
    assert app.get(href).body == data


def test_flat_layout_has_no_gitlab_paths(flat) -> None:  # type: ignore[no-untyped-def]
    _, app, _ = flat
    app.get("/projects/solo/packages/pypi/simple/", status=404)
    app.get("/projects/solo/packages", status=404)


def test_flat_layout_needs_a_project() -> None:
    with pytest.raises(ValueError, match="pass project="):
        pypireg.create_app(layout="flat")
    with pytest.raises(ValueError, match="unknown layout"):
        pypireg.create_app(layout="nested")


def test_flat_layout_project_must_exist(tmp_path) -> None:
    app = TestApp(pypireg.create_app(staging_dir=str(tmp_path), layout="flat", project="gone"))
    assert app.get("/simple/", status=404).json == {"message": "404 Project Not Found"}


def test_flat_layout_speaks_the_same_standards(flat) -> None:  # type: ignore[no-untyped-def]
    registry, app, token = flat
    app.post("/", params=[("name", "pkg"), ("version", "1.0")],
             upload_files=[("content", wheel_name("pkg", "1.0"), wheel_bytes("pkg", "1.0"))],
             headers=basic(token), status=201)
    page = app.get("/simple/pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    (entry,) = page.json["files"]
    assert entry["url"].startswith("http://localhost/files/")
    metadata = app.get(entry["url"].removeprefix("http://localhost") + ".metadata")
    assert hashlib.sha256(metadata.body).hexdigest() == entry["core-metadata"]["sha256"]
    app.get("/simple/pkg/", headers={"If-None-Match": page.headers["ETag"],
                                     "Accept": "application/vnd.pypi.simple.v1+json"},
            status=304)
    registry.yank("solo", "pkg", "1.0", reason="old")
    assert 'data-yanked="old"' in app.get("/simple/pkg/").text
