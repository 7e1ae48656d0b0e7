"""A live registry on 127.0.0.1 and the real programs that drive it, for the end-to-end
tests (and tests/test_quickstart.py): pip, uv and twine in a clean environment, ``pypireg
serve`` and other servers run as subprocesses, distributions built with ``python -m
build``, and uploads written by hand for a test that must send them byte by byte.

tests/e2e/conftest.py makes fixtures of these; docs/clients.md's other clients are in
tests/e2e/clients.py.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pypireg

from ..distributions import wheel_bytes, wheel_name
from ..helpers import multipart
from ..upstreams import serve

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

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


# -- the registry, served ------------------------------------------------------------------


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


def live_keys(registry: pypireg.Registry) -> list[str]:
    """The storage keys live files use: their bytes and their core metadata."""
    rows = registry.catalog.db.query(
        "SELECT storage_key, metadata_key FROM package_files WHERE status = 'default'")
    return sorted({key for row in rows for key in row.values() if key})


# -- servers in subprocesses -----------------------------------------------------------------


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


def start(argv: list[str], cwd: Path, env: dict[str, str], ready: str, *, stderr: bool = False
          ) -> tuple[subprocess.Popen[str], list[str]]:
    """Start a server and read its log until a line starts with ``ready``.

    A thread reads the log, so that a server that hangs instead of starting fails the test
    after a minute rather than blocking it.
    """
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, text=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if stderr else subprocess.PIPE,
        stderr=subprocess.PIPE if stderr else subprocess.DEVNULL)
    stream = process.stderr if stderr else process.stdout
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:  # type: ignore[union-attr]
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    log: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while not log or ready not in log[-1]:
            log.append(lines.get(timeout=max(deadline - time.monotonic(), 0)).rstrip())
    except queue.Empty:
        process.terminate()
        process.wait(timeout=30)
        raise AssertionError(f"{argv[0]} did not start: {log}") from None
    return process, log


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the one process this test started, by its PID (every server here stops
    cleanly on it), and wait for it to exit."""
    process.terminate()  # nothing when it has already been waited for
    process.wait(timeout=timeout)


def writer_token(data: Path, *, init: bool = False) -> str:
    """A private group acme and project acme/tools in the registry at ``data`` (made first
    with ``pypireg init`` if ``init``), made with the CLI; returns a token that may upload to
    acme/tools."""
    def cli(*argv: str) -> str:
        result = run([sys.executable, "-m", "pypireg", *argv, "--data", str(data)])
        return result.stdout.splitlines()[-1]

    if init:
        cli("init")
    cli("group", "create", "acme")
    cli("project", "create", "acme/tools")
    return cli("token", "create", "ci", "--grant", "acme/tools:write")


def upload_form(name: str, version: str, wheel: bytes | None = None) -> tuple[bytes, str]:
    """A twine upload's multipart body for a wheel (by default a small one), and its
    Content-Type."""
    fields = {":action": "file_upload", "protocol_version": "1", "name": name,
              "version": version, "filetype": "bdist_wheel", "pyversion": "py3",
              "metadata_version": "2.1"}
    wheel = wheel if wheel is not None else wheel_bytes(name, version)
    return multipart(fields.items(), wheel_name(name, version), wheel, boundary="x")


# -- real clients ----------------------------------------------------------------------------


def client_env(tmp: Path) -> dict[str, str]:
    """The environment for pip, uv and twine: no config, cache or index but the ones given.

    This machine's own pip and uv settings (extra indexes, find-links) are removed so
    that an install can only succeed through the registry under test, and so is the
    virtual environment the tests run in, when it is activated: poetry and uv would
    otherwise install into it.
    """
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "TWINE_", "POETRY_", "PYTHONPATH"))
        and k not in ("VIRTUAL_ENV", "CONDA_PREFIX")
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
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a program to its end (five minutes at most), its output captured; unless
    ``check`` is false, one that fails fails the test with what it printed."""
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv[0]} exited {result.returncode}\n--- stdout\n"
                             f"{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def pip_shim(shims: Path, python: Path) -> Path:
    """A new directory ``shims`` whose ``pip`` installs into ``python``'s environment (one
    made without pip) with this environment's pip: for a PATH on which a doc's ``pip``
    commands run as written."""
    shims.mkdir()
    pip = shims / "pip"
    pip.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pip --python "{python}" "$@"\n')
    pip.chmod(0o755)
    return shims


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


# -- distributions built for real -----------------------------------------------------------


def python_build(source: Path, out: Path) -> list[Path]:
    """A real sdist and wheel of the project at ``source``, built into ``out`` with
    ``python -m build`` and this environment's setuptools (no isolation: no network)."""
    run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
         "--outdir", str(out), str(source)])
    return sorted(out.iterdir())


def build_dists(source: Path, out: Path, version: str) -> list[Path]:
    """``Acme.Greet`` at ``version``, as a wheel and an sdist."""
    package = source / "acme_greet"
    package.mkdir(parents=True)
    (source / "pyproject.toml").write_text(GREET_PYPROJECT.format(version=version))
    (package / "__init__.py").write_text(GREET_MODULE.format(version=version))
    return python_build(source, out)
