"""Request ids and the JSON request and event log (pypireg/requestlog.py): what each line
holds, that no secret is in any, and that ``pypireg.wsgi`` and ``pypireg serve`` write
them when told to."""

from __future__ import annotations

import io
import json
import logging

import pytest
from webtest import TestApp

import pypireg
from pypireg.requestlog import JsonAccessLog, JsonFormatter, configure
from pypireg.wsgi import from_environ

from .distributions import wheel_bytes, wheel_name
from .helpers import Env, basic, sha256

UPLOAD = "/api/v4/projects/acme%2Ftools/packages/pypi/"


def test_every_answer_carries_its_request_id(tmp_path) -> None:
    app = TestApp(pypireg.site(pypireg.create_app(staging_dir=str(tmp_path))))
    made = app.get("/-/health").headers["X-Request-Id"]
    assert len(made) == 32 and made != app.get("/-/health").headers["X-Request-Id"]
    kept = app.get("/", headers={"X-Request-Id": "lb-1234.abc:9"}).headers["X-Request-Id"]
    assert kept == "lb-1234.abc:9"
    for unusable in ("x" * 65, "a b", "<script>", "é"):
        answer = app.get("/api/v4/", headers={"X-Request-Id": unusable}, status="*")
        assert answer.headers["X-Request-Id"] not in (unusable, "")


def test_a_json_line_per_request_without_secrets(tmp_path) -> None:
    registry = pypireg.create_app(staging_dir=str(tmp_path))
    env = Env(registry)
    lines = io.StringIO()
    app = TestApp(JsonAccessLog(pypireg.site(registry), stream=lines))
    data = wheel_bytes("lib", "1.0")
    app.post(UPLOAD, [("name", "lib"), ("version", "1.0"), ("sha256_digest", sha256(data))],
             upload_files=[("content", wheel_name("lib", "1.0"), data)],
             headers={**basic(env.writer), "X-Request-Id": "upload-1"}, status=201,
             extra_environ={"REQUEST_URI": UPLOAD})  # as servers set it, before decoding
    app.get("/api/v4/projects/acme%2Fteam%2Fsecret/packages/pypi/simple/", status=401)
    first, second = (json.loads(line) for line in lines.getvalue().splitlines())
    token = registry.catalog.token_by_hash(pypireg.auth.tokens.hash_secret(env.writer))
    assert first == {**first, "request_id": "upload-1", "method": "POST",
                     "endpoint": "pypi.upload", "path": UPLOAD, "status": 201,
                     "remote_addr": None, "token_id": token["id"], "token_kind": "personal"}
    assert isinstance(first["bytes"], int) and 0 <= first["seconds"] < 60
    assert first["time"].endswith("Z")
    assert second["status"] == 401 and second["token_id"] is None
    assert second["endpoint"] == "pypi.simple_index"
    assert env.writer not in lines.getvalue()


def test_changes_are_json_events(tmp_path) -> None:
    stream = io.StringIO()
    configure("json", stream)
    try:
        registry = pypireg.create_app(staging_dir=str(tmp_path))
        env = Env(registry)
        env.upload_wheel("acme/tools", "lib", "1.0", token=env.writer, status=201)
        registry.yank("acme/tools", "lib", "1.0", reason="broken")
        logging.getLogger("pypireg").warning("something to know")
    finally:
        configure("text")
    found = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = {line["event"]: line for line in found if "event" in line}
    assert {"project_created", "token_created", "package_published",
            "package_yanked"} <= set(events)
    upload = events["package_published"]
    assert upload == {**upload, "level": "info", "logger": "pypireg.events",
                      "entity_path": "acme/tools", "target": "lib-1.0-py3-none-any.whl",
                      "author": "writer"}
    assert isinstance(upload["token_id"], int) and env.writer not in stream.getvalue()
    assert events["package_yanked"]["target"] == "lib 1.0"
    assert found[-1] == {**found[-1], "level": "warning", "message": "something to know"}


def test_the_formatter_keeps_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("pypireg").makeRecord(
            "pypireg", logging.ERROR, __file__, 1, "failed", (), exc_info=True)
        import sys
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "error" and "ValueError: boom" in line["error"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_pypireg_wsgi_logs_json_when_told(tmp_path, capsys, log_format) -> None:
    data = tmp_path / "data"
    pypireg.create_app(data)
    try:
        app = TestApp(from_environ({"PYPIREG_DATA": str(data),
                                    "PYPIREG_LOG_FORMAT": log_format}))
        app.get("/-/health", headers={"X-Request-Id": "probe-7"})
    finally:
        configure("text")
    err = capsys.readouterr().err
    if log_format == "json":
        line = json.loads(err.splitlines()[-1])
        assert line["request_id"] == "probe-7" and line["path"] == "/-/health"
    else:
        assert "probe-7" not in err  # the request log is gunicorn's
