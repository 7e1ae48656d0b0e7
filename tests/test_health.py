"""Health checks at GitLab's paths: /-/health and /-/liveness say the process answers,
/-/readiness that the catalog and the storage are usable, or which is not and why."""

from __future__ import annotations

import io
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

from webtest import TestApp

import pypireg
from pypireg import health_checks, mount
from pypireg.storage import MemoryStorage

from .helpers import API, Env


def checked(registry: pypireg.Registry, prefix: str = "/api/v4") -> TestApp:
    return TestApp(mount(registry, prefix, beside=health_checks(registry)))


def test_health_and_liveness_answer_without_looking_further(env: Env) -> None:
    app = checked(env.registry)
    health = app.get("/-/health")
    assert health.text == "pypireg OK\n" and health.content_type == "text/plain"
    assert health.headers["Cache-Control"] == "no-store"
    assert app.get("/-/liveness").json == {"status": "ok"}
    assert app.head("/-/liveness").body == b""


def test_readiness_checks_the_catalog_and_the_storage(env: Env) -> None:
    answer = checked(env.registry).get("/-/readiness?all=1").json
    assert answer == {"status": "ok", "master_check": [{"status": "ok"}],
                      "catalog_check": [{"status": "ok"}], "storage_check": [{"status": "ok"}]}


def test_a_missing_storage_directory_is_not_ready(tmp_path) -> None:
    registry = pypireg.create_app(tmp_path / "data")
    app = checked(registry)
    shutil.rmtree(tmp_path / "data" / "files")
    answer = app.get("/-/readiness", status=503).json
    assert answer["status"] == "failed"
    assert answer["catalog_check"] == [{"status": "ok"}]
    assert answer["storage_check"] == [
        {"status": "failed", "message": "OSError (the server's log has the details)"}]


def test_a_catalog_that_cannot_be_read_is_not_ready(tmp_path) -> None:
    registry = pypireg.create_app(tmp_path / "data")
    app = checked(registry)
    registry.catalog.close()
    catalog = tmp_path / "data" / "catalog.db"
    for leftover in tmp_path.glob("data/catalog.db-*"):
        leftover.unlink()
    catalog.write_bytes(b"this is not a database" * 100)
    # A server thread opens its own connection to the catalog, as a new worker would.
    with ThreadPoolExecutor(1) as thread:
        answer = thread.submit(app.get, "/-/readiness", status=503).result().json
    [check] = answer["catalog_check"]
    assert check["status"] == "failed" and check["message"].startswith("DatabaseError")
    assert answer["storage_check"] == [{"status": "ok"}]


class Unreachable(MemoryStorage):
    def open(self, key: str) -> io.BytesIO:
        raise ConnectionError("the storage service does not answer")


def test_a_storage_without_its_own_check_is_probed_by_a_read(tmp_path) -> None:
    fine = pypireg.create_app(storage=MemoryStorage(), staging_dir=str(tmp_path))
    assert checked(fine).get("/-/readiness").json["storage_check"] == [{"status": "ok"}]
    down = pypireg.create_app(storage=Unreachable(), staging_dir=str(tmp_path))
    [storage] = checked(down).get("/-/readiness", status=503).json["storage_check"]
    assert storage == {"status": "failed",
                       "message": "ConnectionError (the server's log has the details)"}


def test_other_paths_and_methods_beside_the_registry_are_json_404s(env: Env) -> None:
    app = checked(env.registry)
    assert app.get("/-/nope", status=404).json == {"message": "404 Not Found"}
    assert app.post("/-/health", status=404).json == {"message": "404 Not Found"}
    assert app.get("/", status=404).json == {"message": "404 Not Found"}
    registry_answer = app.get("/api/v4" + API.format(project="nope") + "/simple/", status=404)
    assert registry_answer.json == {"message": "404 Project Not Found"}


def test_at_the_root_the_checks_sit_beside_the_flat_layout(tmp_path) -> None:
    registry = pypireg.create_app(tmp_path, layout="flat", project="tools")
    registry.create_project("tools", "public")
    app = checked(registry, prefix="/")
    assert app.get("/-/readiness").json["status"] == "ok"
    assert "Links for" in app.get("/simple/").text


def test_the_wsgi_module_serves_the_checks(tmp_path) -> None:
    from pypireg.wsgi import from_environ

    pypireg.create_app(tmp_path)
    app = TestApp(from_environ({"PYPIREG_DATA": str(tmp_path)}))
    assert app.get("/-/readiness").json["status"] == "ok"
    app.get("/api/v4/projects/nope/packages/pypi/simple/", status=404)


def test_a_host_mounts_the_checks_under_its_own_prefix(env: Env) -> None:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    host = DispatcherMiddleware(mount(env.registry, "/"), {
        "/pypi": env.registry, "/ops": health_checks(env.registry)})
    assert TestApp(host).get("/ops/-/readiness").json["status"] == "ok"


def test_the_details_of_a_failure_go_to_the_log_only(tmp_path, caplog) -> None:
    registry = pypireg.create_app(tmp_path / "data")
    shutil.rmtree(tmp_path / "data" / "files")
    body = checked(registry).get("/-/readiness", status=503).text
    assert str(tmp_path) not in body
    assert f"the storage directory {tmp_path / 'data' / 'files'} is missing" in caplog.text


class Hanging(MemoryStorage):
    """A storage whose service never answers until the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.calls = 0

    def check_ready(self) -> None:
        self.calls += 1
        self.release.wait(30)


def test_a_check_that_hangs_fails_at_the_deadline_and_runs_once(tmp_path) -> None:
    storage = Hanging()
    registry = pypireg.create_app(storage=storage, staging_dir=str(tmp_path))
    app = TestApp(mount(registry, "/api/v4", beside=health_checks(registry, deadline=0.2,
                                                                  reuse=0)))
    try:
        for _ in range(3):
            answer = app.get("/-/readiness", status=503).json
            assert answer["storage_check"] == [
                {"status": "failed", "message": "no answer within 0.2 s"}]
            assert answer["catalog_check"] == [{"status": "ok"}]
        assert storage.calls == 1  # still running: not started again
        assert app.get("/-/liveness").json == {"status": "ok"}
    finally:
        storage.release.set()


class Counting(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def check_ready(self) -> None:
        self.calls += 1


def test_one_result_answers_the_probes_of_a_second(tmp_path) -> None:
    storage = Counting()
    registry = pypireg.create_app(storage=storage, staging_dir=str(tmp_path))
    app = checked(registry)
    for _ in range(5):
        assert app.get("/-/readiness").json["status"] == "ok"
    assert storage.calls == 1
