"""The examples, served for real: pip and twine through a Flask host, a Pyramid host, a
bare WSGI server, and a host whose own users log in."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

import pytest

import pypireg

from ..helpers import EXAMPLES, load_example
from .live import Clients, live_keys, serving


@pytest.mark.parametrize("example", ["flask_host", "pyramid_host"])
def test_install_through_a_framework_host(example: str, tmp_path, clients: Clients,
                                          greet_dists) -> None:
    app = load_example(example).create(str(tmp_path / "data"))
    registry = app.extensions["pypireg"] if example == "flask_host" else app.pypireg
    registry.create_project("tools", "private")
    token = registry.create_token("ci", ["tools:write"])
    with serving(app) as root:
        with urllib.request.urlopen(f"{root}/health") as response:  # the host's own route
            assert response.status == 200
        clients.twine_upload(f"{root}/pypi/projects/tools/packages/pypi", token,
                             *greet_dists["1.0"])
        index = f"{root}/pypi/projects/tools/packages/pypi/simple".replace(
            "http://", f"http://__token__:{token}@")
        python = clients.new_venv("env")
        clients.pip_install(python, index, "acme-greet")
        assert clients.greet(python) == "hello from acme.greet 1.0"


def test_host_users_log_in_with_pip_and_twine(tmp_path, clients: Clients, greet_dists) -> None:
    example = load_example("host_auth")
    users = example.HostUsers()
    users.add("dev", "dev-secret", "developer")
    users.add("viewer", "view-secret", "viewer")
    app = example.create(str(tmp_path / "data"), users)
    app.extensions["pypireg"].create_project("internal", "private")
    with serving(app) as root:
        upload = f"{root}/pypi/projects/internal/packages/pypi"
        refused = clients.twine_upload(upload, "view-secret", *greet_dists["1.0"], user="viewer",
                                       check=False)
        assert refused.returncode != 0 and "403" in refused.stdout
        clients.twine_upload(upload, "dev-secret", *greet_dists["1.0"], user="dev")
        index = f"{root}/pypi/projects/internal/packages/pypi/simple"
        python = clients.new_venv("env")
        anonymous = clients.pip_install(python, index, "acme-greet", check=False)
        assert anonymous.returncode != 0
        clients.pip_install(python, index.replace("http://", "http://viewer:view-secret@"),
                            "acme-greet")
        assert clients.greet(python) == "hello from acme.greet 1.0"


def test_bare_wsgi_server_example(tmp_path, clients: Clients, greet_dists) -> None:
    data = tmp_path / "data"
    registry = pypireg.create_app(data)
    registry.create_project("tools", "public")
    token = registry.create_token("ci", ["tools:write"])
    process = subprocess.Popen([sys.executable, str(EXAMPLES / "serve.py"), str(data),
                                "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        base = line.split(" at ")[1].strip()
        clients.twine_upload(f"{base}/projects/tools/packages/pypi", token, *greet_dists["2.0"])
        python = clients.new_venv("env")
        clients.pip_install(python, f"{base}/projects/tools/packages/pypi/simple", "acme-greet")
        assert clients.greet(python) == "hello from acme.greet 2.0"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_live_registry_on_the_example_storage(tmp_path, clients: Clients,
                                               greet_dists) -> None:
    storage = load_example("custom_storage").SQLiteChunkStorage(str(tmp_path / "blobs.db"))
    registry = pypireg.create_app(tmp_path / "data", storage=storage)
    registry.create_project("tools", "public")
    token = registry.create_token("ci", ["tools:write"])
    with serving(registry) as root:
        clients.twine_upload(f"{root}/projects/tools/packages/pypi", token, *greet_dists["1.0"])
        python = clients.new_venv("env")
        clients.pip_install(python, f"{root}/projects/tools/packages/pypi/simple", "acme-greet")
        assert clients.greet(python) == "hello from acme.greet 1.0"
    # The wheel, the sdist and their metadata, all in SQLite.
    assert sorted(storage.keys()) == live_keys(registry)
    assert registry.catalog.db["package_files"].count == 2
    assert not (tmp_path / "data" / "files").exists()  # nothing went to the default storage


# Run each host as its script is run, with INFO logging so that waitress says where it is.
AS_A_SCRIPT = ("import logging, runpy, sys; logging.basicConfig(level=logging.INFO);"
               " sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


@pytest.mark.parametrize(("example", "banner", "own_page", "status"), [
    ("flask_host.py", "Running on http://", "/health", 200),
    ("pyramid_host.py", "Serving on http://", "/health", 200),
    ("host_auth.py", "Running on http://", "/whoami", 401),
])
def test_framework_hosts_bind_to_loopback_by_default(example: str, banner: str, own_page: str,
                                                      status: int, tmp_path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", AS_A_SCRIPT, str(EXAMPLES / example), str(tmp_path / "data"),
         "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:  # type: ignore[union-attr]
            if banner in line:
                url = "http://" + line.split(banner, 1)[1].split()[0].rstrip("/")
                break
        else:
            raise AssertionError(f"{example} printed no address")
        assert url.startswith("http://127.0.0.1:")
        try:
            with urllib.request.urlopen(f"{url}{own_page}") as page:
                assert page.status == status
        except urllib.error.HTTPError as refused:
            assert refused.code == status
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{url}/pypi/projects/nope/packages/pypi/simple/")
        assert missing.value.code == 404
    finally:
        process.terminate()
        process.wait(timeout=30)
