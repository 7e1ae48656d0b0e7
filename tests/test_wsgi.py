"""pypireg.wsgi: the registry built from PYPIREG_* variables, as gunicorn loads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from webtest import TestApp

import pypireg
import pypireg.wsgi
from pypireg.wsgi import ConfigError, from_environ

from .distributions import wheel_bytes, wheel_name
from .helpers import basic, links

SIMPLE = "/api/v4/projects/acme/tools/packages/pypi/simple/"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pypi.example.com",
             "X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/registry",
             "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture
def data(tmp_path) -> Path:
    """A data directory with a public project holding one wheel."""
    data = tmp_path / "data"
    registry = pypireg.create_app(data)
    registry.create_group("acme", "public")
    registry.create_project("acme/tools", "public")
    token = registry.create_token("ci", ["acme/tools:write"])
    TestApp(pypireg.mount(registry, "/api/v4")).post(
        "/api/v4/projects/acme/tools/packages/pypi", params=[("name", "pkg"), ("version", "1.0")],
        upload_files=[("content", wheel_name("pkg", "1.0"), wheel_bytes("pkg", "1.0"))],
        headers=basic(token), status=201)
    return data


def app(data: Path, **variables: str) -> TestApp:
    return TestApp(from_environ({"PYPIREG_DATA": str(data), **variables}))


@pytest.mark.parametrize("make", ["nothing", "empty dir"])
def test_a_directory_without_a_catalog_is_refused(tmp_path, make: str) -> None:
    data = tmp_path / "registry"
    if make == "empty dir":
        data.mkdir()
    with pytest.raises(ConfigError) as refused:
        from_environ({"PYPIREG_DATA": str(data)})
    message = str(refused.value)
    assert f"no registry at {data.resolve()}" in message
    assert f"pypireg init --data {data}" in message
    assert "PYPIREG_DATA" in message
    assert not (data / "catalog.db").exists()  # refused, not created empty


def test_the_default_data_directory_is_pypireg_data_here(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=str(tmp_path / "pypireg-data")):
        from_environ({})
    pypireg.create_app(tmp_path / "pypireg-data").create_project("tools", "public")
    TestApp(from_environ({})).get("/api/v4/projects/tools/packages/pypi/simple/", status=200)


@pytest.mark.parametrize(("name", "value"), [
    ("PYPIREG_MAX_UPLOAD_SIZE", "1q"),
    ("PYPIREG_MAX_UPLOAD_SIZE", "0"),
    ("PYPIREG_MAX_UPLOAD_SIZE", "1.5"),
    ("PYPIREG_PROXY_COUNT", "-1"),
    ("PYPIREG_PROXY_COUNT", "one"),
    ("PYPIREG_PROXY_COUNT", "²"),
    ("PYPIREG_PAGE_CACHE_SIZE", "-1"),
    ("PYPIREG_PAGE_CACHE_SIZE", "64X"),
])
def test_a_bad_number_is_refused_naming_the_variable(data, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        from_environ({"PYPIREG_DATA": str(data), name: value})
    assert name in str(refused.value)
    assert repr(value) in str(refused.value)


@pytest.mark.parametrize(("value", "kept"), [(None, 64 * 1024 * 1024), ("0", 0),
                                             ("1048576", 1048576), ("2M", 2097152)])
def test_the_page_cache_size(data, monkeypatch, value, kept) -> None:
    import pypireg.wsgi

    made = []
    real = pypireg.wsgi.create_app
    monkeypatch.setattr(pypireg.wsgi, "create_app",
                        lambda *a, **kw: made.append(real(*a, **kw)) or made[-1])
    environ = {"PYPIREG_DATA": str(data)}
    if value is not None:
        environ["PYPIREG_PAGE_CACHE_SIZE"] = value
    from_environ(environ)
    assert made[0].pages.max_bytes == kept


@pytest.mark.parametrize("hosts", ["pypi example.com", "pypi.example.com,https://x", "*"])
def test_a_bad_trusted_host_is_refused_naming_the_variable(data, hosts: str) -> None:
    with pytest.raises(ConfigError, match="^PYPIREG_TRUSTED_HOSTS: trusted host '.*' is not a"):
        from_environ({"PYPIREG_DATA": str(data), "PYPIREG_TRUSTED_HOSTS": hosts})


def test_a_storage_nobody_installed_is_refused_naming_the_variable(data) -> None:
    with pytest.raises(ConfigError, match="^PYPIREG_STORAGE: storage 'nope://x': give a URL"
                                          " of an installed storage"):
        from_environ({"PYPIREG_DATA": str(data), "PYPIREG_STORAGE": "nope://x"})


def test_trusted_hosts_are_honoured(data) -> None:
    client = app(data, PYPIREG_TRUSTED_HOSTS=" pypi.example.com, .build.example.com,")
    for host in ("pypi.example.com", "ci.build.example.com", "pypi.example.com:8080"):
        client.get(SIMPLE, headers={"Host": host}, status=200)
    refused = client.get(SIMPLE, headers={"Host": "evil.example"}, status=400)
    assert "not trusted" in refused.json["message"]


def test_without_trusted_hosts_every_host_is_served(data) -> None:
    page = app(data, PYPIREG_TRUSTED_HOSTS="").get(SIMPLE, headers={"Host": "evil.example"})
    assert links(page.text)[0][0].startswith("http://evil.example/api/v4/")


def test_forwarded_headers_are_ignored_by_default(data) -> None:
    page = app(data).get(SIMPLE, headers=FORWARDED)
    assert links(page.text)[0][0] == f"http://localhost{SIMPLE}pkg/"


def test_proxy_count_trusts_the_forwarded_headers(data) -> None:
    page = app(data, PYPIREG_PROXY_COUNT="1").get(SIMPLE, headers=FORWARDED)
    assert links(page.text)[0][0] == f"https://pypi.example.com:8443/registry{SIMPLE}pkg/"


def test_proxy_count_is_how_many_hops_to_trust(data) -> None:
    headers = {"X-Forwarded-Host": "spoofed.example, pypi.example.com, inner.example"}
    page = app(data, PYPIREG_PROXY_COUNT="2").get(SIMPLE, headers=headers)
    assert links(page.text)[0][0] == f"http://pypi.example.com{SIMPLE}pkg/"


def test_trusted_hosts_check_the_forwarded_host(data) -> None:
    client = app(data, PYPIREG_PROXY_COUNT="1", PYPIREG_TRUSTED_HOSTS="pypi.example.com")
    client.get(SIMPLE, headers={"Host": "127.0.0.1:8000", **FORWARDED}, status=200)
    client.get(SIMPLE, headers={**FORWARDED, "X-Forwarded-Host": "evil.example"}, status=400)


def test_prefix(data) -> None:
    root = app(data, PYPIREG_PREFIX="/")
    root.get(SIMPLE.removeprefix("/api/v4"), status=200)
    root.get(SIMPLE, status=404)
    moved = app(data, PYPIREG_PREFIX="registry/")
    page = moved.get(f"/registry{SIMPLE.removeprefix('/api/v4')}")
    assert links(page.text)[0][0].startswith("http://localhost/registry/projects/")
    assert app(data).get("/elsewhere", status=404).json == {"message": "404 Not Found"}


def test_max_upload_size(data) -> None:
    registry = pypireg.create_app(data)
    token = registry.create_token("big", ["acme/tools:write"])
    wheel = wheel_bytes("big", "1.0", payload="x" * 5000)
    upload = {"params": [("name", "big"), ("version", "1.0")],
              "upload_files": [("content", wheel_name("big", "1.0"), wheel)],
              "headers": basic(token)}
    url = "/api/v4/projects/acme/tools/packages/pypi"
    assert len(wheel) > 4096
    refused = app(data, PYPIREG_MAX_UPLOAD_SIZE="4096").post(url, status=413, **upload)
    assert "the limit is 4 KiB" in refused.json["message"]
    app(data, PYPIREG_MAX_UPLOAD_SIZE=str(len(wheel))).post(url, status=201, **upload)


def test_application_is_built_from_os_environ_on_first_use(data, monkeypatch) -> None:
    monkeypatch.setenv("PYPIREG_DATA", str(data))
    monkeypatch.setenv("PYPIREG_PREFIX", "/pypi")
    assert "application" not in vars(pypireg.wsgi)  # importing built nothing
    try:
        application = pypireg.wsgi.application
        assert pypireg.wsgi.application is application  # built once
        TestApp(application).get("/pypi/projects/acme/tools/packages/pypi/simple/", status=200)
    finally:
        vars(pypireg.wsgi).pop("application", None)
    with pytest.raises(AttributeError):
        pypireg.wsgi.nothing  # noqa: B018


def test_the_catalog_may_be_elsewhere(postgres_server, tmp_path) -> None:
    with postgres_server.database() as empty, pytest.raises(
            ConfigError, match="PYPIREG_CATALOG: no registry in the catalog"):
        from_environ({"PYPIREG_CATALOG": empty, "PYPIREG_DATA": str(tmp_path)})
    with postgres_server.database(postgres_server.template) as url:
        app = from_environ({"PYPIREG_CATALOG": url, "PYPIREG_DATA": str(tmp_path),
                            "PYPIREG_STORAGE": f"file://{tmp_path}/blobs"})
        try:
            TestApp(app).get("/api/v4/projects/nope/packages/pypi/simple/", status=404)
            assert not (tmp_path / "catalog.db").exists()
        finally:
            app.registry.catalog.close()  # type: ignore[attr-defined]


def test_the_upstream_variables(data) -> None:
    application = from_environ({
        "PYPIREG_DATA": str(data), "PYPIREG_UPSTREAM": "https://a.example/simple/, https://b.example/simple",
        "PYPIREG_UPSTREAM_MODE": "cache", "PYPIREG_UPSTREAM_TTL": "90s",
        "PYPIREG_MIN_UPSTREAM_AGE": "7d", "PYPIREG_UPSTREAM_MERGE": "Twin,other_Name"})
    registry = next(app for app in _apps(application) if isinstance(app, pypireg.Registry))
    settings = registry.upstreams.settings  # type: ignore[union-attr]
    assert settings.urls == ("https://a.example/simple/", "https://b.example/simple/")
    assert (settings.mode, settings.ttl.total_seconds(), settings.min_age.days) == (  # type: ignore[union-attr]
        "cache", 90, 7)
    assert settings.merge == {"twin", "other-name"}
    unset = next(app for app in _apps(from_environ({"PYPIREG_DATA": str(data)}))
                 if isinstance(app, pypireg.Registry))
    assert unset.upstreams is None


@pytest.mark.parametrize(("name", "value", "message"), [
    ("PYPIREG_UPSTREAM", "pypi.org/simple", "is not an http"),
    ("PYPIREG_UPSTREAM_MODE", "mirror", "'mirror': use 'redirect' or 'cache'"),
    ("PYPIREG_UPSTREAM_TTL", "ten minutes", "must be a number of seconds"),
])
def test_a_bad_upstream_variable_is_refused(data, name: str, value: str, message: str) -> None:
    variables = {"PYPIREG_DATA": str(data), "PYPIREG_UPSTREAM": "https://pypi.org/simple/",
                 name: value}
    with pytest.raises(ConfigError, match=f"^{name}: .*{message}"):
        from_environ(variables)


def _apps(app):  # type: ignore[no-untyped-def]
    """``app`` and every WSGI app it wraps (the site's mounts, a ProxyFix)."""
    seen = [app]
    for attribute in ("app", "api", "registry", "mounts", "wsgi_app"):
        found = getattr(app, attribute, None)
        if isinstance(found, dict):
            for inner in found.values():
                seen += _apps(inner)
        elif found is not None and found is not app and callable(found):
            seen += _apps(found)
    return seen


def test_the_flat_layout_is_served_at_the_root_as_serve_serves_it(tmp_path) -> None:
    """gunicorn serves one project at pypiserver's paths: PYPIREG_LAYOUT and
    PYPIREG_PROJECT, mounted at the root unless PYPIREG_PREFIX says otherwise."""
    data = tmp_path / "data"
    registry = pypireg.create_app(data)
    registry.create_project("tools", "public")
    flat = {"PYPIREG_DATA": str(data), "PYPIREG_LAYOUT": "flat", "PYPIREG_PROJECT": "tools"}
    page = TestApp(from_environ(flat)).get("/simple/")
    assert "<title>Links for tools</title>" in page.text
    TestApp(from_environ({**flat, "PYPIREG_PREFIX": "/pypi"})).get("/pypi/simple/", status=200)
    with pytest.raises(ConfigError, match="PYPIREG_PROJECT"):
        from_environ({"PYPIREG_DATA": str(data), "PYPIREG_LAYOUT": "flat"})
    with pytest.raises(ConfigError, match="^PYPIREG_PROJECT: no project 'nope' to serve"):
        from_environ({**flat, "PYPIREG_PROJECT": "nope"})
