"""``GET /-/metrics``: who may read it, and that its counts are exactly what was served
(requests by endpoint, downloads, uploads and refusals, the page cache, the registry's
size), read with prometheus_client's own parser."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from webtest import TestApp

import pypireg

from .distributions import wheel_bytes, wheel_name
from .helpers import Env, basic, links, sha256

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


def scrape(app: TestApp, **environ: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = app.get("/-/metrics", extra_environ={**LOCAL, **environ}).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def served(tmp_path) -> tuple[Env, TestApp]:
    registry = pypireg.create_app(staging_dir=str(tmp_path), metrics_token="scrape-secret")
    return Env(registry), TestApp(pypireg.site(registry))


def test_only_allowed_addresses_and_the_token_read_the_metrics(served) -> None:
    _, app = served
    assert app.get("/-/metrics", extra_environ=LOCAL).content_type == "text/plain"
    app.get("/-/metrics", extra_environ={"REMOTE_ADDR": "::1"}, status=200)
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert app.get("/-/metrics", extra_environ=outside, status=404).json == {
        "message": "404 Not Found"}
    app.get("/-/metrics", extra_environ=outside, status=404,
            headers={"Authorization": "Bearer wrong"})
    app.get("/-/metrics", extra_environ=outside, status=200,
            headers={"Authorization": "Bearer scrape-secret"})


def test_an_address_list_of_ones_own(tmp_path) -> None:
    registry = pypireg.create_app(staging_dir=str(tmp_path), metrics_allow=["10.0.0.0/8"])
    app = TestApp(pypireg.site(registry))
    app.get("/-/metrics", extra_environ={"REMOTE_ADDR": "10.1.2.3"}, status=200)
    app.get("/-/metrics", extra_environ=LOCAL, status=404)
    with pytest.raises(ValueError, match="not an address or a CIDR block"):
        pypireg.create_app(staging_dir=str(tmp_path), metrics_allow=["10.0.0.0/33"])


def test_requests_downloads_and_uploads_are_counted_exactly(served) -> None:
    env, app = served
    api = "/api/v4/projects/acme%2Ftools/packages/pypi"
    data = wheel_bytes("lib", "1.0")
    fields = [("name", "lib"), ("version", "1.0"), ("sha256_digest", sha256(data))]
    upload = [("content", wheel_name("lib", "1.0"), data)]
    app.post(f"{api}/", fields, upload_files=upload, headers=basic(env.writer), status=201)
    app.post(f"{api}/", fields, upload_files=upload, status=401)  # no token
    app.post(f"{api}/", fields, upload_files=upload, headers=basic(env.reader), status=403)
    page = app.get(f"{api}/simple/lib/")
    href = links(page.text)[0][0].removeprefix("http://localhost").split("#")[0]
    for _ in range(3):
        app.get(href)
    app.get("/api/v4/groups/acme/-/packages/pypi/simple/lib/")
    app.get("/api/v4/nothing/here", status=404)
    samples = scrape(app)
    assert value(samples, "pypireg_http_requests_total", endpoint="pypi.upload",
                 method="POST", status="2xx") == 1
    assert value(samples, "pypireg_http_requests_total", endpoint="pypi.upload",
                 method="POST", status="4xx") == 2
    assert value(samples, "pypireg_http_requests_total", endpoint="pypi.file",
                 method="GET", status="2xx") == 3
    assert value(samples, "pypireg_http_requests_total", endpoint="pypi.group.simple_package",
                 method="GET", status="2xx") == 1
    assert value(samples, "pypireg_http_request_duration_seconds_count",
                 endpoint="pypi.file") == 3
    assert value(samples, "pypireg_downloads_total", scope="project") == 3
    assert value(samples, "pypireg_download_bytes_total", scope="project") == 3 * len(data)
    assert value(samples, "pypireg_uploads_total", scope="project") == 1
    assert value(samples, "pypireg_upload_bytes_total", scope="project") == len(data)
    assert value(samples, "pypireg_uploads_refused_total", reason="unauthorized") == 1
    assert value(samples, "pypireg_uploads_refused_total", reason="forbidden") == 1
    assert value(samples, "pypireg_packages") == 1 and value(samples, "pypireg_files") == 1
    assert value(samples, "pypireg_stored_bytes") == len(data)
    assert value(samples, "pypireg_projects") == 3
    # Bounded labels: endpoint names, never paths or names.
    endpoints = {dict(labels).get("endpoint") for (name, labels) in samples
                 if name == "pypireg_http_requests_total"}
    assert "unmatched" in endpoints and not any("/" in (e or "") or "lib" in (e or "")
                                                for e in endpoints)


def test_web_pages_and_the_page_cache_are_counted(served) -> None:
    env, app = served
    env.upload_wheel("acme/tools", "lib", "1.0", token=env.writer, status=201)
    html = {"Accept": "text/html"}
    for _ in range(3):
        app.get("/acme/tools/-/packages/pypi/lib", headers=html)
    samples = scrape(app)
    assert value(samples, "pypireg_http_requests_total", endpoint="ui.package_by_name",
                 method="GET", status="2xx") == 3
    assert value(samples, "pypireg_page_cache_hits_total") >= 2
    assert value(samples, "pypireg_page_cache_bytes") > 0
    assert ("pypireg_http_requests_total", (("endpoint", "unmatched"), ("method", "GET"),
                                            ("status", "2xx"))) not in samples  # scrapes


def test_the_upstream_cache_is_counted(tmp_path) -> None:
    from .upstreams import caching_registry, one_wheel_index, serve

    data = wheel_bytes("six", "1.0")
    with serve(one_wheel_index("six", data)) as upstream:
        registry = caching_registry(tmp_path / "data", f"{upstream.url}/simple/")
        app = TestApp(pypireg.site(registry))
        page = app.get("/api/v4/projects/acme/packages/pypi/simple/six/")
        app.get("/api/v4/projects/acme/packages/pypi/simple/six/")  # fresh: a hit
        href = links(page.text)[0][0].removeprefix("http://localhost").split("#")[0]
        assert app.get(href).body == data  # fetched
        registry.upstreams.files.settle()  # kept once its answer has ended
        assert app.get(href).body == data  # kept: a hit
        samples = scrape(app)
    assert value(samples, "pypireg_upstream_requests_total", kind="page", result="fetched") == 1
    assert value(samples, "pypireg_upstream_requests_total", kind="page", result="hit") >= 1
    assert value(samples, "pypireg_upstream_requests_total", kind="file", result="fetched") == 1
    assert value(samples, "pypireg_upstream_requests_total", kind="file", result="hit") == 1
    assert value(samples, "pypireg_upstream_fetch_seconds_count", kind="file") == 1
    assert value(samples, "pypireg_downloads_total", scope="upstream") == 2


def test_storage_operations_are_counted_by_backend(tmp_path, monkeypatch) -> None:
    registry = pypireg.create_app(tmp_path / "data")
    env, app = Env(registry), TestApp(pypireg.site(registry))
    env.upload_wheel("acme/tools", "lib", "1.0", token=env.writer, status=201)
    page = app.get("/api/v4/projects/acme%2Ftools/packages/pypi/simple/lib/")
    href = links(page.text)[0][0].removeprefix("http://localhost").split("#")[0]
    app.get(href)
    storage = registry.storage.storage  # the backend itself, under its measures

    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "put_file", full)
    data = wheel_bytes("lib", "2.0")
    app.post("/api/v4/projects/acme%2Ftools/packages/pypi/",
             [("name", "lib"), ("version", "2.0"), ("sha256_digest", sha256(data))],
             upload_files=[("content", wheel_name("lib", "2.0"), data)],
             headers=basic(env.writer), status=507)
    samples = scrape(app)
    backend = type(storage).__name__
    assert backend == "FileSystemStorage"
    assert value(samples, "pypireg_storage_operations_total", backend=backend,
                 operation="put_file") == 2
    assert value(samples, "pypireg_storage_errors_total", backend=backend,
                 operation="put_file") == 1
    assert value(samples, "pypireg_storage_seconds_count", backend=backend,
                 operation="put_file") == 2
    served = value(samples, "pypireg_storage_operations_total", backend=backend,
                   operation="download_response") + value(
        samples, "pypireg_storage_operations_total", backend=backend, operation="open")
    assert served >= 1
    assert value(samples, "pypireg_uploads_refused_total", reason="storage_full") == 1


def test_the_registry_size_on_each_engine(env) -> None:  # type: ignore[no-untyped-def]
    """Live rows only: a deleted package's files no longer count, on SQLite and
    PostgreSQL alike."""
    env.upload_wheel("acme/tools", "lib", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/tools", "lib", "2.0", token=env.writer, status=201)
    catalog = env.registry.catalog
    size = catalog.registry_size()
    assert (size["projects"], size["packages"], size["files"]) == (3, 2, 2)
    assert size["stored_bytes"] == sum(
        f.size for p in catalog.versions_named(env.public.id, "lib")
        for f in catalog.package_files(p.id, limit=10, offset=0)[0])
    (first,) = [p for p in catalog.versions_named(env.public.id, "lib") if p.version == "1.0"]
    env.registry.delete_package(first)
    assert catalog.registry_size()["packages"] == 1
    assert catalog.registry_size()["files"] == 1
