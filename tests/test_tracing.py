"""OpenTelemetry tracing (pypireg/tracing.py): a server span per request, named by its
endpoint, holding the catalog's, the storage's and the upstreams' spans; read through the
SDK's in-memory exporter, as a host's exporter would receive them."""

from __future__ import annotations

import pytest
from opentelemetry.sdk import trace as sdk  # in the test extra
from webtest import TestApp

import pypireg

from .distributions import wheel_bytes, wheel_name
from .helpers import Env, basic, links, sha256


@pytest.fixture(scope="module")
def exported():  # type: ignore[no-untyped-def]
    """The spans this process exports: one provider, set once for the module (the API
    takes a global provider only once), shut down after it so that later tests keep no
    spans."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    exporter.shutdown()
    provider.shutdown()


def test_a_request_is_a_span_holding_the_catalogs_and_the_storages(exported, tmp_path
                                                                    ) -> None:
    registry = pypireg.create_app(tmp_path / "data")
    env, app = Env(registry), TestApp(pypireg.site(registry))
    exported.clear()
    data = wheel_bytes("lib", "1.0")
    app.post("/api/v4/projects/acme%2Ftools/packages/pypi/",
             [("name", "lib"), ("version", "1.0"), ("sha256_digest", sha256(data))],
             upload_files=[("content", wheel_name("lib", "1.0"), data)],
             headers=basic(env.writer), status=201)
    spans = exported.get_finished_spans()
    (server,) = [s for s in spans if s.kind.name == "SERVER"]
    assert server.name == "POST pypi.upload"
    assert server.attributes["http.route"] == "pypi.upload"
    assert server.attributes["http.response.status_code"] == 201
    inside = [s for s in spans if s.parent is not None
              and s.context.trace_id == server.context.trace_id]
    names = {s.name for s in inside}
    assert {"catalog.query", "storage.put_file"} <= names
    operations = {s.attributes["db.operation.name"] for s in inside if s.name == "catalog.query"}
    assert {"SELECT", "INSERT"} <= operations
    assert all(env.writer not in str(dict(s.attributes or {})) for s in spans)


def test_fetches_from_an_upstream_are_spans(exported, tmp_path) -> None:
    from .upstreams import caching_registry, one_wheel_index, serve

    data = wheel_bytes("six", "1.0")
    with serve(one_wheel_index("six", data)) as upstream:
        registry = caching_registry(tmp_path / "data", f"{upstream.url}/simple/")
        app = TestApp(pypireg.site(registry))
        exported.clear()
        page = app.get("/api/v4/projects/acme/packages/pypi/simple/six/")
        href = links(page.text)[0][0].removeprefix("http://localhost").split("#")[0]
        app.get(href)
        registry.upstreams.files.settle()  # the fetch's span ends once the file is kept
    names = [s.name for s in exported.get_finished_spans()]
    assert "upstream.page" in names and "upstream.file" in names
    assert "GET pypi.simple_package" in names and "GET pypi.file" in names


def test_without_a_provider_the_site_looks_for_one_at_most_once_a_second(tmp_path, monkeypatch
                                                                          ) -> None:
    """Asking OpenTelemetry's API on every request would cost more than all the rest of
    the site's layer: while there is no provider, it asks again only after a second."""
    from types import SimpleNamespace

    from pypireg import website

    now, looks = [100.0], []
    monkeypatch.setattr(website, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    monkeypatch.setattr(website, "tracer", lambda: looks.append(now[0]))  # finds none
    app = TestApp(pypireg.site(pypireg.create_app(tmp_path / "data")))
    for _ in range(3):
        assert app.get("/-/liveness").headers["X-Request-Id"]
    assert looks == [100.0]
    now[0] += 0.5
    app.get("/-/liveness")
    assert looks == [100.0]
    now[0] += 0.5
    app.get("/-/liveness")
    assert looks == [100.0, 101.0]
