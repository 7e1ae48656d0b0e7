"""The examples in docs/protocols.md run, and do what the page says."""

from __future__ import annotations

import inspect
import re
import sys

import pytest
from webtest import TestApp

import pypireg
from pypireg import protocols

from .distributions import wheel_bytes, wheel_name
from .doc_blocks import PROTOCOLS as DOC
from .doc_blocks import example, example_code
from .helpers import basic


def upload(app: TestApp, url: str, name: str, version: str, **kw) -> None:
    app.post(url, params=[("name", name), ("version", version)],
             upload_files=[("content", wheel_name(name, version), wheel_bytes(name, version))],
             **kw)


def test_single_project_layout_example(tmp_path) -> None:
    registry = example("def one_project", tmp_path)["registry"]
    registry.create_group("acme", "public")
    registry.create_project("acme/tools", "public")
    token = registry.create_token("ci", ["acme/tools:write"])
    app = TestApp(registry)
    upload(app, "/", "pkg", "1.0", headers=basic(token), status=201)
    page = app.get("/simple/pkg/")
    assert 'href="http://localhost/files/' in page.text
    href = re.search(r'href="http://localhost([^"#]*)', page.text).group(1)
    assert app.get(href).body == wheel_bytes("pkg", "1.0")


def test_sqlite_blob_storage_example(tmp_path, monkeypatch) -> None:
    # The host's block imports the package's module: the package block is that module.
    module = type(pypireg)("sqliteblobs")
    exec(compile(example_code("class SQLiteBlobStorage"), "sqliteblobs.py", "exec"),  # noqa: S102
         module.__dict__)
    monkeypatch.setitem(sys.modules, "sqliteblobs", module)
    registry = example("from sqliteblobs import", tmp_path)["registry"]
    assert isinstance(registry.storage, pypireg.Storage)
    registry.create_project("tools", "public")
    token = registry.create_token("ci", ["tools:write"])
    app = TestApp(registry)
    upload(app, "/projects/tools/packages/pypi", "pkg", "1.0", headers=basic(token), status=201)
    page = app.get("/projects/tools/packages/pypi/simple/pkg/")
    href = re.search(r'href="http://localhost([^"#]*)', page.text).group(1)
    assert app.get(href).body == wheel_bytes("pkg", "1.0")
    assert (tmp_path / "blobs.db").exists()


def test_front_end_auth_example(tmp_path) -> None:
    registry = example("class FrontEndAuth", tmp_path)["registry"]
    assert isinstance(registry.auth, pypireg.AuthProvider)
    registry.create_project("internal", "private")
    app = TestApp(registry)
    url = "/projects/internal/packages/pypi"
    app.get(url + "/simple/", status=401)
    app.get(url + "/simple/", headers={"X-Remote-User": "carol"}, status=200)
    upload(app, url, "pkg", "1.0", headers={"X-Remote-User": "carol"}, status=403)
    upload(app, url, "pkg", "1.0", headers={"X-Remote-User": "bob"}, status=201)
    (package,) = app.get(url.removesuffix("/pypi"), headers={"X-Remote-User": "alice"}).json
    app.delete(f"{url.removesuffix('/pypi')}/{package['id']}",
               headers={"X-Remote-User": "bob"}, status=403)
    app.delete(f"{url.removesuffix('/pypi')}/{package['id']}",
               headers={"X-Remote-User": "alice"}, status=204)


def test_every_endpoint_has_a_view_and_a_row_in_the_docs() -> None:
    from pypireg.routing import gitlab_layout
    from pypireg.views import VIEWS

    endpoints = {rule.endpoint for rule in gitlab_layout().iter_rules()}
    assert endpoints == set(VIEWS)
    text = DOC.read_text()
    for endpoint in endpoints:
        assert f"| `{endpoint}` |" in text, f"{endpoint} is not in docs/protocols.md"


@pytest.mark.parametrize("protocol", [
    protocols.Storage, protocols.ServesDownloads, protocols.ListsKeys, protocols.SweepsLeftovers,
    protocols.ChecksReadiness, protocols.PermitsGroups, protocols.ExplainsRefusals,
    protocols.AuthProvider,
    protocols.Dispatcher, protocols.URLAdapter,
])
def test_every_protocol_method_is_documented(protocol: type) -> None:
    text = DOC.read_text()
    methods = [name for name, _ in inspect.getmembers(protocol, inspect.isfunction)
               if not name.startswith("_")]
    assert methods
    for name in methods:
        assert f"`{name}(" in text, f"{protocol.__name__}.{name} is not in docs/protocols.md"
