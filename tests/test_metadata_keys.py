"""PEP 714 on every page form: files announce their metadata under PEP 714's names only,
``core-metadata`` in JSON and ``data-core-metadata`` in HTML, whatever an upstream sent.
The older names break the pips that read them (22.3 to 23.1): in JSON they crash on its
object, in HTML they compare the metadata's Name with the requested name unnormalized and
discard the file (tests/e2e/test_client_matrix.py runs them). A page's ETag changes with its
format, so a client holding the old page fetches the new one."""

from __future__ import annotations

import json

import pytest

import pypireg
from pypireg import render

from .distributions import wheel_bytes, wheel_metadata, wheel_name
from .helpers import Env, sha256
from .upstreams import FakeIndex, serve

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
HTML = {"Accept": "text/html"}
PROJECT_PAGE = "/projects/acme%2Ftools/packages/pypi/simple/{name}/"
GROUP_PAGE = "/groups/acme/-/packages/pypi/simple/{name}/"
METADATA = sha256(wheel_metadata("local", "1.0").encode())


def check(json_page: dict, html_page: str, expected: dict[str, str]) -> None:
    """Each file of both forms announces the metadata ``expected`` gives for its name."""
    files = json_page["files"]
    assert {f["filename"]: f["core-metadata"]["sha256"] for f in files} == expected
    assert "dist-info-metadata" not in json.dumps(json_page)
    for digest in expected.values():
        assert f'data-core-metadata="sha256={digest}"' in html_page
    assert "dist-info-metadata" not in html_page


def pages(env: Env, url: str) -> tuple[dict, str]:
    return env.app.get(url, headers=JSON).json, env.app.get(url, headers=HTML).text


@pytest.fixture
def upstream():  # type: ignore[no-untyped-def]
    """An index from before PEP 714: ``dist-info-metadata`` only, in JSON and in HTML."""
    index = FakeIndex()
    data = wheel_bytes("older", "1.0")
    metadata = sha256(b"Metadata-Version: 2.1\nName: older\nVersion: 1.0\n")
    index.json_page("older", [{"filename": wheel_name("older", "1.0"), "url": "/f/older.whl",
                               "hashes": {"sha256": sha256(data)},
                               "dist-info-metadata": {"sha256": metadata}}])
    index.pages["olderhtml"] = ("text/html", (
        f'<a href="/f/{wheel_name("olderhtml", "1.0")}'
        f'#sha256={sha256(wheel_bytes("olderhtml", "1.0"))}"'
        f' data-dist-info-metadata="sha256={metadata}">'
        f'{wheel_name("olderhtml", "1.0")}</a>').encode())
    with serve(index) as served:
        yield f"{served.url}/simple/", metadata


def test_every_page_form_names_metadata_as_pep_714_does(
        catalog, tmp_path, upstream) -> None:
    url, upstream_metadata = upstream
    env = Env(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path / "staging"),
                                 upstream=url, upstream_mode="cache"))
    env.upload_wheel("acme/tools", "local", "1.0", token=env.writer, status=201)
    local = {wheel_name("local", "1.0"): METADATA}
    check(*pages(env, PROJECT_PAGE.format(name="local")), local)
    check(*pages(env, GROUP_PAGE.format(name="local")), local)
    # Cached from upstream, whichever key and form it used.
    check(*pages(env, PROJECT_PAGE.format(name="older")),
          {wheel_name("older", "1.0"): upstream_metadata})
    check(*pages(env, PROJECT_PAGE.format(name="olderhtml")),
          {wheel_name("olderhtml", "1.0"): upstream_metadata})


@pytest.mark.parametrize("page", [PROJECT_PAGE.format(name="pkg"), GROUP_PAGE.format(name="pkg"),
                                  "/projects/acme%2Ftools/packages/pypi/simple/"])
def test_a_new_page_format_is_a_new_etag(env: Env, page: str, monkeypatch) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    old = env.app.get(page, headers=JSON).headers["ETag"]
    env.app.get(page, headers={**JSON, "If-None-Match": old}, status=304)
    monkeypatch.setattr(render, "PAGE_FORMAT", render.PAGE_FORMAT + 1)
    fresh = env.app.get(page, headers={**JSON, "If-None-Match": old}, status=200)
    assert fresh.headers["ETag"] != old
