"""Staged releases against live servers with real clients (docs/staging.md): a matrix of
uploads by twine and uv into a stage while pip installs in a loop and never sees part of
the version; a publish after which pip and uv install it; two ``pypireg serve`` processes,
on SQLite and on PostgreSQL, publishing two stages that hold one file name, one winner."""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

import pypireg

from ..distributions import sdist_bytes, wheel_bytes, wheel_file, wheel_metadata, wheel_name
from ..helpers import basic, sha256
from .live import BIN, Clients, LiveRegistry, run, serve_command, upload_form

pytestmark = pytest.mark.e2e

V1_JSON = "application/vnd.pypi.simple.v1+json"
TAGS = ("cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-macosx_11_0_arm64",
        "cp312-cp312-win_amd64")


def call(url: str, *, method: str = "GET", token: str | None = None,
            body: bytes | None = None, headers: dict[str, str] | None = None
            ) -> tuple[int, bytes]:
    sent = urllib.request.Request(url, data=body, method=method, headers={
        **(basic(token) if token else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(sent, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def matrix_files(root: Path, version: str) -> list[Path]:
    """What a CI matrix builds for ``stagedapp`` ``version``: an sdist, a pure wheel and a
    wheel per platform, written to ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    files = {f"stagedapp-{version}.tar.gz": sdist_bytes("stagedapp", version),
             wheel_name("stagedapp", version): wheel_bytes("stagedapp", version)}
    for tag in TAGS:
        name = f"stagedapp-{version}-{tag}.whl"
        files[name] = wheel_file(name, wheel_metadata("stagedapp", version), tag)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return [root / name for name in files]


def test_a_matrix_release_appears_whole_to_pip_and_uv(live: LiveRegistry, clients: Clients,
                                                        tmp_path: Path) -> None:
    registry = live.registry
    registry.create_group("acme", "private")
    registry.create_project("acme/tools", "private")
    token = registry.create_token("ci", ["acme/tools:write"])
    api = live.upload_url("acme%2Ftools")
    index = live.index("acme%2Ftools", token)
    clients.twine_upload(api, token, *matrix_files(tmp_path / "v1", "1.0"))
    v2 = matrix_files(tmp_path / "v2", "2.0")
    status, body = call(f"{api}/stages", method="POST", token=token,
                           body=json.dumps({"name": "2.0"}).encode(),
                           headers={"Content-Type": "application/json"})
    assert status == 201, body
    stage = json.loads(body)

    # While the matrix uploads, pip asks for 2.0 again and again, and the page is read
    # as fast as it answers: 2.0 must show none of its files, then all of them.
    publishing, published = threading.Event(), threading.Event()
    seen: list[int] = []
    pip_runs: list[int] = []

    def read_pages() -> None:
        while True:
            done = published.is_set()
            status, page = call(f"{api}/simple/stagedapp/", token=token,
                                   headers={"Accept": V1_JSON})
            assert status == 200
            seen.append(sum(f["filename"].startswith("stagedapp-2.0")
                            for f in json.loads(page)["files"]))
            if done:
                return

    def install_in_a_loop() -> None:
        while not publishing.is_set():
            tried = run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest",
                         str(tmp_path / "pip-loop"), "--index-url", index, "stagedapp==2.0"],
                        clients.env, check=False)
            if publishing.is_set():  # it may have read the page after the publish
                return
            assert tried.returncode != 0, "pip found 2.0 before it was published"
            assert "No matching distribution found for stagedapp==2.0" in tried.stderr
            pip_runs.append(tried.returncode)

    watchers = [threading.Thread(target=read_pages), threading.Thread(target=install_in_a_loop)]
    for watcher in watchers:
        watcher.start()
    try:
        # Each job of the matrix uploads its own file, by twine or by uv.
        for number, path in enumerate(v2):
            if number % 2:
                run([str(BIN / "uv"), "publish", "--publish-url", stage["upload_url"],
                     "-u", "__token__", "-p", token, str(path)], clients.env)
            else:
                clients.twine_upload(stage["upload_url"], token, path)
        status, body = call(f"{api}/stages/2.0", token=token)
        assert sorted(f["file_name"] for f in json.loads(body)["files"]) == sorted(
            p.name for p in v2)
        # Before publishing, the stage's own index installs 2.0, beside the project's.
        preview = stage["index_url"].replace("http://", f"http://__token__:{token}@")
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest",
             str(tmp_path / "preview"), "--index-url", index, "--extra-index-url", preview,
             "stagedapp==2.0"], clients.env)
        assert [p.name for p in (tmp_path / "preview").iterdir()] == [wheel_name(
            "stagedapp", "2.0")]
        publishing.set()
        status, body = call(f"{api}/stages/2.0/publish", method="POST", token=token)
        assert status == 200, body
    finally:
        publishing.set()
        published.set()
        for watcher in watchers:
            watcher.join(timeout=300)
    assert pip_runs, "pip never ran while the stage was open"
    assert set(seen) == {0, len(v2)}, seen  # never a part of the release
    assert seen == sorted(seen)  # and, once whole, whole from then on
    answer = json.loads(body)
    assert sorted(f["file_name"] for f in answer["files"]) == sorted(p.name for p in v2)
    status, page = call(f"{api}/simple/stagedapp/", token=token, headers={"Accept": V1_JSON})
    times = {f["upload-time"] for f in json.loads(page)["files"]
             if f["filename"].startswith("stagedapp-2.0")}
    assert times == {answer["published_at"]}
    for installer in (clients.pip_install, clients.uv_install):
        python = clients.new_venv(f"venv-{installer.__name__}")
        installer(python, index, "stagedapp==2.0")
        assert clients.run_python(python, "import stagedapp; print(stagedapp.VERSION)") == "2.0"


@contextmanager
def two_servers(engine: str, tmp_path: Path, request: pytest.FixtureRequest
                ) -> Iterator[tuple[pypireg.Registry, list[str]]]:
    """Two ``pypireg serve`` processes on one catalog and one storage; yields a registry
    on the same catalog (to set things up) and the servers' base URLs."""
    with ExitStack() as stack:
        files = tmp_path / "files"
        if engine == "sqlite":
            registry = pypireg.create_app(tmp_path / "data")
            where = []
        else:
            server = request.getfixturevalue("postgres_server")
            url = stack.enter_context(server.database(server.template))
            registry = pypireg.create_app(tmp_path / "data", catalog=url,
                                          storage=f"file://{files}")
            stack.callback(registry.catalog.close)
            where = ["--catalog", url, "--storage", f"file://{files}"]
        urls = []
        for number in range(2):  # with a catalog URL, --data holds only staged uploads
            data = tmp_path / ("data" if engine == "sqlite" else f"data-{number}")
            url, _ = stack.enter_context(serve_command(*where, "--data", str(data)))
            urls.append(url)
        yield registry, urls


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_two_servers_publishing_one_file_name_give_one_winner(
        engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with two_servers(engine, tmp_path, request) as (registry, urls):
        registry.create_group("acme", "private")
        registry.create_project("acme/tools", "private")
        token = registry.create_token("ci", ["acme/tools:write"])
        apis = [f"{url}/projects/acme%2Ftools/packages/pypi" for url in urls]
        contents = {}
        for stage, api in zip("ab", apis, strict=True):
            status, body = call(f"{api}/stages", method="POST", token=token,
                                   body=json.dumps({"name": stage}).encode(),
                                   headers={"Content-Type": "application/json"})
            assert status == 201, body
            contents[stage] = wheel_bytes("raced", "1.0", payload=stage)
            form, content_type = upload_form("raced", "1.0", contents[stage])
            assert call(f"{api}/stages/{stage}", method="POST", token=token, body=form,
                           headers={"Content-Type": content_type})[0] == 201
            form, content_type = upload_form(f"only-{stage}", "1.0")
            assert call(f"{api}/stages/{stage}", method="POST", token=token, body=form,
                           headers={"Content-Type": content_type})[0] == 201
        start = threading.Barrier(2)
        answers: dict[str, tuple[int, bytes]] = {}

        def publish(stage: str, api: str) -> None:
            start.wait()
            answers[stage] = call(f"{api}/stages/{stage}/publish", method="POST",
                                     token=token)

        threads = [threading.Thread(target=publish, args=pair)
                   for pair in zip("ab", apis, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(status for status, _ in answers.values()) == [200, 409], answers
        winner = next(stage for stage, (status, _) in answers.items() if status == 200)
        loser = "b" if winner == "a" else "a"
        assert wheel_name("raced", "1.0") in json.loads(answers[loser][1])["message"]
        for api in apis:  # both servers show the winner's file, and nothing of the loser's
            status, page = call(f"{api}/simple/raced/", token=token,
                                   headers={"Accept": V1_JSON})
            assert [f["hashes"]["sha256"] for f in json.loads(page)["files"]] == [
                sha256(contents[winner])]
            assert call(f"{api}/simple/only-{loser}/", token=token)[0] == 404
            assert call(f"{api}/simple/only-{winner}/", token=token)[0] == 200
        status, body = call(f"{apis[0]}/stages/{loser}", token=token)
        assert json.loads(body)["status"] == "open"
