"""``pypireg import --from-index`` against live indexes the tests start (docs/cli.md#import):
a GitLab-layout pypireg (as it serves, and as GitLab does: HTML pages without upload
times, which its Packages API gives), a pypiserver and a devpi-server. Each import is run
twice, the second copying nothing, and the pages are compared file by file."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pypiserver
import pytest
from webtest import TestApp

import pypireg
from pypireg import mount

from ..distributions import sdist_bytes, wheel_bytes, wheel_name
from ..helpers import Env, basic
from ..upstreams import free_port, serve
from .live import BIN, client_env, run

V1_JSON = "application/vnd.pypi.simple.v1+json"
KEPT = ("filename", "hashes", "requires-python", "yanked", "core-metadata")


def dists() -> dict[str, bytes]:
    return {wheel_name("app", "1.0"): wheel_bytes("app", "1.0", ">=3.8"),
            wheel_name("app", "1.1"): wheel_bytes("app", "1.1", ">=3.9"),
            "app-1.1.tar.gz": sdist_bytes("app", "1.1", ">=3.9"),
            wheel_name("lib", "2.0"): wheel_bytes("lib", "2.0")}


def pypireg_import(data: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``pypireg import --from-index`` into acme/mirror of the registry at ``data``."""
    return subprocess.run([sys.executable, "-m", "pypireg", "import", "--project",
                           "acme/mirror", "--from-index", url, *extra, "--data", str(data)],
                          capture_output=True, text=True, timeout=600)


def mirror(tmp_path: Path) -> tuple[Path, TestApp, str]:
    """The registry imported into: its data, its app, and a token that reads acme/mirror."""
    data = tmp_path / "mirror"
    registry = pypireg.create_app(data)
    registry.create_group("acme", "private")
    registry.create_project("acme/mirror", "private")
    return data, TestApp(registry), registry.create_token("r", ["acme/mirror:read"])


def page(app: TestApp, path: str, token: str) -> list[dict[str, Any]]:
    return app.get(path, headers={"Accept": V1_JSON, **basic(token)}).json["files"]


def kept(files: list[dict[str, Any]], *fields: str) -> list[dict[str, Any]]:
    """The ``fields`` of each file (an empty one as a missing one: devpi writes
    ``"requires-python": ""`` where pypireg leaves the key out)."""
    return [{k: f.get(k) or None for k in fields} for f in files]


def twice(data: Path, url: str, *extra: str, files: int) -> None:
    """Import, then import again: the second run copies nothing and says so."""
    first = pypireg_import(data, url, *extra)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == str(files)
    assert "copied: " in first.stderr  # the progress, file by file
    second = pypireg_import(data, url, *extra)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[-1] == "0"
    assert f"skipped {files} already present" in second.stdout


# -- a GitLab-layout pypireg ---------------------------------------------------------------------


def gitlab_source(tmp_path: Path) -> tuple[pypireg.Registry, Env]:
    source = pypireg.create_app(tmp_path / "source")
    env = Env(source)
    for name, data in dists().items():
        package, version = (name[:-7].rsplit("-", 1) if name.endswith(".tar.gz")
                            else name.split("-")[:2])
        env.upload("acme/team/secret", name, data, token=env.writer, status=201,
                   name=package, version=version)
    source.yank("acme/team/secret", "app", "1.0", reason="broken build")
    return source, env


def as_gitlab(app: Any) -> Any:
    """Pages as GitLab's: HTML only, without PEP 700's upload times."""
    def html_only(environ: dict[str, Any], start_response: Any) -> Any:
        if "/simple/" in environ.get("PATH_INFO", ""):
            environ["HTTP_ACCEPT"] = "text/html"
        answer: list[Any] = []
        body = b"".join(app(environ, lambda status, headers, exc=None: answer.extend(
            (status, headers))))
        body = re.sub(rb' data-upload-time="[^"]*"', b"", body)
        status, headers = answer
        start_response(status, [(k, str(len(body)) if k.lower() == "content-length" else v)
                                for k, v in headers])
        return [body]
    return html_only


@pytest.mark.parametrize("shape", ["pypireg", "gitlab"])
def test_import_from_a_gitlab_layout_registry(tmp_path: Path, shape: str) -> None:
    source, env = gitlab_source(tmp_path)
    data, app, reader = mirror(tmp_path)
    served = mount(source, "/api/v4")
    with serve(as_gitlab(served) if shape == "gitlab" else served) as up:
        url = f"{up.url}/api/v4/projects/acme%2Fteam%2Fsecret/packages/pypi/simple"
        twice(data, url, "--token", env.reader, files=4)
    theirs = TestApp(source)
    for name in ("app", "lib"):
        original = page(theirs, f"/projects/acme%2Fteam%2Fsecret/packages/pypi/simple/{name}/",
                        env.reader)
        copied = page(app, f"/projects/acme%2Fmirror/packages/pypi/simple/{name}/", reader)
        # Every field but the URL: the same bytes, yanks, requires-python, core metadata
        # and upload times (from the Packages API, for GitLab's pages).
        assert kept(copied, *KEPT, "upload-time", "size") == kept(
            original, *KEPT, "upload-time", "size")


def test_only_the_names_asked_for_and_failures_reported(tmp_path: Path) -> None:
    source, env = gitlab_source(tmp_path)
    data, app, reader = mirror(tmp_path)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# what we run\nlib>=1.0 ; python_version >= '3.8'\n-r other.txt\n")
    with serve(mount(source, "/api/v4")) as up:
        url = f"{up.url}/api/v4/projects/acme%2Fteam%2Fsecret/packages/pypi/simple"
        done = pypireg_import(data, url, "--token", env.reader, "--requirements",
                              str(requirements))
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "1"
        app.get("/projects/acme%2Fmirror/packages/pypi/simple/app/",
                headers=basic(reader), status=404)
        refused = pypireg_import(data, url, "--token", "not-a-token", "--name", "app")
        assert refused.returncode == 1
        assert "failed: app:" in refused.stderr and "401" in refused.stderr
        down = pypireg_import(data, f"http://127.0.0.1:{free_port()}/simple/")
        assert down.returncode == 1 and "pypireg: error: --from-index" in down.stderr


# -- pypiserver ------------------------------------------------------------------------------


def test_import_from_a_pypiserver(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    for name, data in dists().items():
        (packages / name).write_bytes(data)
    (packages / "broken-1.0.tar.gz").write_bytes(b"not a tar")
    data, app, reader = mirror(tmp_path)
    with serve(pypiserver.app(roots=[str(packages)], disable_fallback=True)) as up:
        first = pypireg_import(data, f"{up.url}/simple/")
        assert first.returncode == 1  # one file failed, the others were copied
        assert "failed: broken: broken-1.0.tar.gz:" in first.stderr
        assert first.stdout.splitlines()[-1] == "4"
        again = pypireg_import(data, f"{up.url}/simple/", "--name", "app", "--name", "lib")
        assert again.returncode == 0 and again.stdout.splitlines()[-1] == "0"
        with urllib.request.urlopen(f"{up.url}/simple/app/", timeout=30) as answer:
            listed = re.findall(rb'href="[^"]*/([^/"#]+)#sha256=([0-9a-f]{64})"', answer.read())
    copied = page(app, "/projects/acme%2Fmirror/packages/pypi/simple/app/", reader)
    assert sorted((f["filename"], f["hashes"]["sha256"]) for f in copied) == sorted(
        (n.decode(), h.decode()) for n, h in listed)
    assert {f["requires-python"] for f in copied} == {">=3.8", ">=3.9"}  # from the metadata


# -- devpi-server --------------------------------------------------------------------------------


@contextmanager
def devpi(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A devpi-server with an index root/dev; yields its URL and root's password."""
    server_dir = tmp_path / "devpi"
    run([str(BIN / "devpi-init"), "--serverdir", str(server_dir), "--no-root-pypi",
         "--root-passwd", "secret"])
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "devpi-server"), "--serverdir", str(server_dir), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    serving, said = threading.Event(), []

    def drain() -> None:  # its log, read to the end, so that it never blocks writing it
        for line in process.stdout:  # type: ignore[union-attr]
            said.append(line)
            if "Serving on" in line:
                serving.set()
        serving.set()  # it ended: no need to wait longer

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not serving.wait(120) or process.poll() is not None:
            raise AssertionError("devpi-server did not start:\n" + "".join(said[-20:]))
        url = f"http://127.0.0.1:{port}"
        auth = base64.b64encode(b"root:secret").decode()
        made = urllib.request.Request(f"{url}/root/dev", method="PUT", data=json.dumps(
            {"type": "stage", "bases": []}).encode(), headers={
                "Authorization": f"Basic {auth}", "Content-Type": "application/json",
                "Accept": "application/json"})
        with urllib.request.urlopen(made, timeout=60) as answer:
            assert answer.status in (200, 201)
        yield url, "secret"
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=30)


def test_import_from_a_devpi_server(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for name, data in dists().items():
        (uploads / name).write_bytes(data)
    data, app, reader = mirror(tmp_path)
    with devpi(tmp_path) as (url, password):
        run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", f"{url}/root/dev/", "-u", "root", "-p", password,
             *map(str, sorted(uploads.iterdir()))], client_env(tmp_path))
        index = f"{url}/root/dev/+simple/"
        twice(data, index, "--username", "root", "--password", password, files=4)
        theirs = {}
        for name in ("app", "lib"):
            ask = urllib.request.Request(f"{index}{name}/", headers={"Accept": V1_JSON})
            with urllib.request.urlopen(ask, timeout=60) as answer:
                theirs[name] = json.loads(answer.read())["files"]
            details = urllib.request.Request(f"{url}/root/dev/{name}",
                                             headers={"Accept": "application/json"})
            with urllib.request.urlopen(details, timeout=60) as answer:
                logged = json.loads(answer.read())["result"]
            uploaded = {link["href"].rsplit("/", 1)[-1]: link["log"][0]["when"]
                        for release in logged.values() for link in release["+links"]}
            copied = page(app, f"/projects/acme%2Fmirror/packages/pypi/simple/{name}/", reader)
            assert kept(copied, "filename", "hashes", "requires-python") == kept(
                theirs[name], "filename", "hashes", "requires-python")
            for f in copied:  # devpi's upload times, to its second
                when = uploaded[f["filename"]]
                assert f["upload-time"].startswith(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}".format(*when[:6]))
