"""A PostgreSQL catalog restarted under load: requests caught in the restart get a 503
with Retry-After (pip and uv try again), never a 500, and none fails after it; a catalog
whose server is down answers 503 and serves again once it is back, without a restart of
the registry. A cluster of its own (tests/postgres.py), restarted with pg_ctl."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import pypireg
from pypireg.storage import FileSystemStorage

from .. import postgres
from ..distributions import wheel_bytes, wheel_name
from ..helpers import basic, sha256
from ..upstreams import waitress_serving
from .live import upload_form


@dataclass
class Answer:
    started: float  # time.monotonic() when the request was sent
    status: int
    retry_after: str | None


@pytest.fixture
def registry_on_postgres(tmp_path: Path) -> Iterator[tuple[postgres.Server, str, str]]:
    """A registry on a cluster of its own, served on 127.0.0.1: (the cluster, the API's
    base URL, a token that may upload to acme/tools, which holds pkg 1.0)."""
    with postgres.server() as server, server.database() as url:
        registry = pypireg.create_app(catalog=url,
                                      storage=FileSystemStorage(str(tmp_path / "files")),
                                      staging_dir=str(tmp_path / "staging"))
        registry.create_group("acme", "private")
        registry.create_project("acme/tools", "private")
        token = registry.create_token("ci", ["acme/tools:write"])
        try:
            with waitress_serving(pypireg.site(registry)) as port:
                base = f"http://127.0.0.1:{port}/api/v4"
                assert send(base, token, *upload_request(1)).status == 201
                yield server, base, token
        finally:
            registry.catalog.close()


def upload_request(n: int) -> tuple[str, bytes, str]:
    body, content_type = upload_form("pkg", f"1.{n}" if n > 1 else "1.0")
    return "/projects/acme%2Ftools/packages/pypi", body, content_type


READS = ["/projects/acme%2Ftools/packages/pypi/simple/pkg/",
         f"/projects/acme%2Ftools/packages/pypi/files/{sha256(wheel_bytes('pkg', '1.0'))}/"
         f"{wheel_name('pkg', '1.0')}",
         "/projects/acme%2Ftools/packages"]


def send(base: str, token: str, path: str, body: bytes | None = None,
         content_type: str = "") -> Answer:
    headers = basic(token, "__token__")
    if content_type:
        headers["Content-Type"] = content_type
    started = time.monotonic()
    request = urllib.request.Request(base + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
            return Answer(started, answer.status, None)
    except urllib.error.HTTPError as exc:
        return Answer(started, exc.code, exc.headers.get("Retry-After"))


def test_a_restart_under_load_answers_503s_and_no_500_and_nothing_fails_after_it(
        registry_on_postgres) -> None:
    server, base, token = registry_on_postgres
    answers: list[Answer] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            for path in READS:
                answers.append(send(base, token, path))

    def upload() -> None:
        n = 2
        while not done.is_set():
            answers.append(answer := send(base, token, *upload_request(n)))
            n += answer.status == 201

    workers = [threading.Thread(target=read) for _ in range(4)]
    workers.append(threading.Thread(target=upload))
    for worker in workers:
        worker.start()
    try:
        while len(answers) < 100:  # the load is on
            done.wait(0.05)
        server.pg_ctl("restart", "-m", "fast")
        restarted = time.monotonic()
        while len([a for a in answers if a.started > restarted]) < 200:
            done.wait(0.05)
    finally:
        done.set()
        for worker in workers:
            worker.join()

    statuses = sorted({a.status for a in answers})
    assert set(statuses) <= {200, 201, 503}, statuses
    assert all(a.retry_after == "5" for a in answers if a.status == 503)
    after = [a for a in answers if a.started > restarted]
    assert {a.status for a in after} <= {200, 201}, [a.status for a in after]
    assert any(a.status == 201 for a in after)  # uploads too, not only reads


def test_a_catalog_server_that_is_down_is_a_503_until_it_is_back(registry_on_postgres
                                                                 ) -> None:
    server, base, token = registry_on_postgres
    assert send(base, token, READS[0]).status == 200
    assert send(base.removesuffix("/api/v4"), token, "/acme/tools").status == 200
    server.pg_ctl("stop", "-m", "fast")
    try:
        down = send(base, token, READS[0])
        assert (down.status, down.retry_after) == (503, "5")
        refused = send(base, token, *upload_request(2))
        assert (refused.status, refused.retry_after) == (503, "5")
        page = send(base.removesuffix("/api/v4"), token, "/acme/tools")  # a web page
        assert (page.status, page.retry_after) == (503, "5")
    finally:
        server.pg_ctl("start")
    assert send(base, token, READS[0]).status == 200
    assert send(base, token, *upload_request(2)).status == 201
