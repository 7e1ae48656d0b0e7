"""A live registry on 127.0.0.1, real distributions, and real pip, uv and twine to drive it."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import pypireg
from pypireg import mount
from pypireg.cli.serving import max_body_size

from ..upstreams import serve, waitress_serving

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from .clients import Setup, Tripwire

BIN = Path(sys.executable).parent
PREFIX = "/api/v4"

GREET_PYPROJECT = """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "Acme.Greet"
version = "{version}"
requires-python = ">=3.8"
description = "says hello"
"""
GREET_MODULE = 'def hello():\n    return "hello from acme.greet {version}"\n'


@dataclass
class LiveRegistry:
    registry: pypireg.Registry
    url: str  # http://127.0.0.1:PORT/api/v4
    log: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status

    def record(self, app: WSGIApplication) -> WSGIApplication:
        """Wrap ``app`` so that every request and its status lands in ``log``."""

        def recorded(environ, start_response):  # type: ignore[no-untyped-def]
            def start(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
                path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
                self.log.append((environ["REQUEST_METHOD"], path, int(status.split()[0])))
                return start_response(status, headers, exc_info)

            return app(environ, start)

        return recorded

    def statuses(self, path_part: str) -> set[int]:
        return {status for _, path, status in self.log if path_part in path}

    def index(self, project: str | int, token: str | None = None, user: str = "__token__") -> str:
        base = self.url
        if token:
            base = base.replace("http://", f"http://{user}:{token}@")
        return f"{base}/projects/{project}/packages/pypi/simple"

    def upload_url(self, project: str | int) -> str:
        return f"{self.url}/projects/{project}/packages/pypi"


@contextmanager
def serving(app: WSGIApplication) -> Iterator[str]:
    """Serve any WSGI app on 127.0.0.1 for the block; yields its base URL."""
    with serve(app) as served:
        yield served.url


@contextmanager
def serve_command(*argv: str, env: dict[str, str] | None = None,
                  started: list[subprocess.Popen[str]] | None = None,
                  ) -> Iterator[tuple[str, list[str]]]:
    """Run ``pypireg serve --port 0 ARGV`` for the block: yields the base URL it prints
    and every line it printed before it was ready; stops it afterwards. The process is
    appended to ``started``, for a test that looks at it."""
    process = subprocess.Popen([sys.executable, "-m", "pypireg", "serve", "--port", "0", *argv],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=env)
    if started is not None:
        started.append(process)
    try:
        banner: list[str] = []
        for line in process.stdout:  # type: ignore[union-attr]
            banner.append(line.rstrip())
            if line.startswith("press Ctrl+C"):
                break
        url = next((line.split(" at ")[1] for line in banner if " serving " in line), None)
        assert url, f"pypireg serve printed no URL: {banner}"
        yield url, banner
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def live(tmp_path) -> Iterator[LiveRegistry]:
    """The registry on a real data dir behind waitress, set up as ``serve`` sets it up."""
    registry = pypireg.create_app(tmp_path / "data")
    live = LiveRegistry(registry, "")
    with waitress_serving(live.record(mount(registry, PREFIX)),
                          max_request_body_size=max_body_size(registry.limits)) as port:
        live.url = f"http://127.0.0.1:{port}{PREFIX}"
        yield live


def build_dists(source: Path, out: Path, version: str) -> list[Path]:
    """Build a real sdist and wheel with ``python -m build`` (no network: no isolation)."""
    package = source / "acme_greet"
    package.mkdir(parents=True)
    (source / "pyproject.toml").write_text(GREET_PYPROJECT.format(version=version))
    (package / "__init__.py").write_text(GREET_MODULE.format(version=version))
    run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
         "--outdir", str(out), str(source)])
    return sorted(out.iterdir())


@pytest.fixture(scope="session")
def greet_dists(tmp_path_factory) -> dict[str, list[Path]]:
    """``Acme.Greet`` 1.0 and 2.0, each as a wheel and an sdist."""
    root = tmp_path_factory.mktemp("dists")
    return {
        version: build_dists(root / f"src-{version}", root / f"dist-{version}", version)
        for version in ("1.0", "2.0")
    }


def live_keys(registry: pypireg.Registry) -> list[str]:
    """The storage keys live files use: their bytes and their core metadata."""
    rows = registry.catalog.db.query(
        "SELECT storage_key, metadata_key FROM package_files WHERE status = 'default'")
    return sorted({key for row in rows for key in row.values() if key})


def client_env(tmp: Path) -> dict[str, str]:
    """The environment for pip, uv and twine: no config, cache or index but the ones given.

    This machine's own pip and uv settings (extra indexes, find-links) are removed so
    that an install can only succeed through the registry under test.
    """
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "TWINE_", "PYTHONPATH"))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_NO_CACHE_DIR="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        HOME=str(tmp),
    )
    return env


def run(argv: list[str], env: dict[str, str] | None = None, check: bool = True,
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{argv[0]} exited {result.returncode}\n--- stdout\n{result.stdout}"
            f"\n--- stderr\n{result.stderr}"
        )
    return result


@dataclass
class Clients:
    """Real pip, uv and twine, each run in a clean environment."""

    tmp: Path

    @property
    def env(self) -> dict[str, str]:
        return client_env(self.tmp)

    def new_venv(self, name: str) -> Path:
        """A fresh, empty virtual environment; returns its python."""
        path = self.tmp / name
        venv.EnvBuilder(with_pip=False).create(path)
        return path / "bin" / "python"

    def pip_install(self, python: Path, index: str, *packages: str, check: bool = True):
        return run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--index-url", index, *packages], self.env, check)

    def uv_install(self, python: Path, index: str, *packages: str, check: bool = True):
        return run([str(BIN / "uv"), "pip", "install", "--python", str(python),
                    "--index-url", index, *packages], self.env, check)

    def pip_download_sdist(self, index: str, package: str, dest: Path):
        # Reading an sdist's metadata builds it: this test environment has setuptools.
        return run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                    ":all:", "--no-build-isolation", "--dest", str(dest), "--index-url", index,
                    package], self.env)

    def twine_upload(self, url: str, token: str, *files: Path, extra: tuple[str, ...] = (),
                     user: str = "__token__", check: bool = True):
        return run([str(BIN / "twine"), "upload", "--non-interactive",
                    "--disable-progress-bar", "--repository-url", url, "-u", user,
                    "-p", token, *extra, *map(str, files)], self.env, check)

    def run_python(self, python: Path, code: str) -> str:
        return run([str(python), "-c", code], self.env).stdout.strip()

    def greet(self, python: Path) -> str:
        return self.run_python(python, "import acme_greet; print(acme_greet.hello())")


@pytest.fixture
def clients(tmp_path) -> Clients:
    return Clients(tmp_path)


# -- docs/clients.md's clients (tests/e2e/clients.py holds what their tests share) -------------


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, list[Path]]:
    """my-package 0.1.0 and 0.2.0, each as a wheel and an sdist."""
    from .clients import build

    root = tmp_path_factory.mktemp("my-package")
    return {version: build(root, version) for version in ("0.1.0", "0.2.0")}


@pytest.fixture
def setup(live: LiveRegistry, tmp_path: Path) -> Iterator[Setup]:
    """A private acme/tools with a write and a read token, and a tripwire that fails the
    test if a client reaches for the internet or installs into the tests' environment."""
    from .clients import PROJECT, Setup, Tripwire

    registry = live.registry
    registry.create_group("acme", "private")
    registry.create_project(PROJECT, "private")
    tripwire = Tripwire()
    try:
        yield Setup(live, tmp_path, registry.create_token("ci", [f"{PROJECT}:write"]),
                    registry.create_token("reader", [f"{PROJECT}:read"]), tripwire)
    finally:
        tripwire.close()
    assert tripwire.hits == 0, "a client tried to reach the internet"
    own = run([sys.executable, "-c",
               "import importlib.util as u; print(u.find_spec('my_package'))"])
    assert own.stdout.strip() == "None", "a client installed into the tests' own environment"


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    """A proxy that fails the test if a client reaches for the internet through it."""
    from .clients import Tripwire

    wire = Tripwire()
    try:
        yield wire
    finally:
        wire.close()
    assert wire.hits == 0, "a client tried to reach the internet"
