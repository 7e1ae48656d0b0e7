"""What the tests of docs/clients.md share: the doc's blocks, the project they build, and a
tripwire for the internet.

Each test takes the doc's own blocks (commands and configuration files) and changes only
the server's port and the secrets. The clients run with their configuration and caches in
the test's directory, and with every proxy variable pointing at a tripwire: a listener that
counts connections. Anything a client tried to fetch from the internet (PyPI, a build
backend, an update check) would go there, and the test fails if anything did.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import doc_blocks
from ..helpers import missing
from .live import BIN, LiveRegistry, client_env, pip_shim, python_build, run

DOC = Path(__file__).resolve().parents[2] / "docs" / "clients.md"
PROJECT = "acme/tools"
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
PYPI_PATH = "/api/v4/projects/acme/tools/packages/pypi"  # as the server sees it, decoded
MODULE = 'def hello():\n    return "hello from my-package {version}"\n'
SETUPTOOLS_PYPROJECT = """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "my-package"
version = "{version}"
"""
POETRY_PYPROJECT = """\
[project]
name = "my-package"
version = "{version}"
requires-python = ">=3.8"

[build-system]
requires = ["poetry-core>=2.0"]
build-backend = "poetry.core.masonry.api"
"""
PUBLISHER_PYPROJECT = """\
[project]
name = "my-package"
version = "{version}"
requires-python = ">=3.8"
"""
CONSUMER_PYPROJECT = """\
[project]
name = "consumer"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = []
"""


# --- the doc ------------------------------------------------------------------------------

def block(title: str, lang: str, marker: str) -> str:
    """The one ``lang`` block of the section ``title`` that contains ``marker``."""
    return doc_blocks.block(DOC, lang, marker, title)


class Tripwire:
    """A TCP listener standing in for every proxy: it records who connects, answers nothing."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.hits = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.hits += 1
            conn.close()

    @property
    def env(self) -> dict[str, str]:
        proxy = f"http://127.0.0.1:{self.port}"
        names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        return {**{n: proxy for n in names}, **{n.lower(): proxy for n in names},
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

    def close(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.server.close()
        self.thread.join(timeout=10)


@dataclass
class Setup:
    """A live registry with the doc's project and tokens, and where clients run."""

    live: LiveRegistry
    tmp: Path
    token: str  # may publish
    read_token: str  # may only install
    tripwire: Tripwire

    @property
    def host(self) -> str:
        return self.live.url.removeprefix("http://").removesuffix("/api/v4")

    def local(self, text: str) -> str:
        """The doc's text for this server and these secrets."""
        return (text.replace("127.0.0.1:8080", self.host)
                .replace("<TOKEN>", self.token).replace("<READ_TOKEN>", self.read_token))

    def env(self, **extra: str) -> dict[str, str]:
        env = client_env(self.tmp)
        del env["UV_NO_CONFIG"]  # it would ignore a project's [tool.uv] settings too
        env.update(
            PATH=f"{BIN}{os.pathsep}{env['PATH']}",
            TOKEN=self.token,
            READ_TOKEN=self.read_token,
            XDG_CONFIG_HOME=str(self.tmp / ".config"),
            XDG_CONFIG_DIRS=str(self.tmp / "etc"),
            XDG_CACHE_HOME=str(self.tmp / ".cache"),
            XDG_DATA_HOME=str(self.tmp / ".local" / "share"),
            POETRY_CONFIG_DIR=str(self.tmp / "poetry" / "config"),
            POETRY_CACHE_DIR=str(self.tmp / "poetry" / "cache"),
            POETRY_DATA_DIR=str(self.tmp / "poetry" / "data"),
            POETRY_VIRTUALENVS_IN_PROJECT="true",
            POETRY_VIRTUALENVS_USE_POETRY_PYTHON="true",
            POETRY_NO_INTERACTION="1",
            PDM_CHECK_UPDATE="false",
            VIRTUALENV_NO_PERIODIC_UPDATE="1",
            **self.tripwire.env,
        )
        env.update(extra)
        return env

    def sh(self, script: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run doc commands in bash, as typed into a shell."""
        return run(["bash", "-euo", "pipefail", "-c", self.local(script)],
                   self.env(**extra), cwd=cwd)

    def files(self) -> list[str]:
        rows = self.live.registry.catalog.db.query(
            "SELECT file_name FROM package_files WHERE status = 'default' ORDER BY file_name")
        return [row["file_name"] for row in rows]


# --- helpers -----------------------------------------------------------------------------

def require(tool: str, package: str) -> None:
    """Skip without the tool, saying how to get it; under CI, which installs the test extra
    and so has every one, fail instead."""
    if shutil.which(tool, path=str(BIN)) is None:
        missing(tool, f"pip install {package} (or pip install -e '.[test]')")


def build(root: Path, version: str) -> list[Path]:
    """my-package at ``version``, as a wheel and an sdist (setuptools, no isolation)."""
    source, out = root / f"src-{version}", root / f"dist-{version}"
    (source / "src" / "my_package").mkdir(parents=True)
    (source / "pyproject.toml").write_text(SETUPTOOLS_PYPROJECT.format(version=version))
    (source / "src" / "my_package" / "__init__.py").write_text(MODULE.format(version=version))
    return python_build(source, out)


def dist_dir(where: Path, files: list[Path]) -> Path:
    """``where`` with ``files`` in its ``dist/``, as a build leaves them."""
    (where / "dist").mkdir(parents=True)
    for file in files:
        shutil.copy(file, where / "dist")
    return where


def upload(setup: Setup, files: list[Path]) -> None:
    run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", setup.live.upload_url(PROJECT), "-u", "__token__", "-p",
         setup.token, *map(str, files)], setup.env())


def new_venv(setup: Setup, name: str) -> tuple[Path, dict[str, str]]:
    """An empty environment, and the PATH on which ``pip`` installs into it."""
    python = Path(setup.tmp / name / "bin" / "python")
    run([sys.executable, "-m", "venv", "--without-pip", str(setup.tmp / name)])
    shims = pip_shim(setup.tmp / f"{name}-shims", python)
    return python, {"PATH": f"{shims}{os.pathsep}{setup.env()['PATH']}"}


def hello(setup: Setup, python: Path) -> str:
    return run([str(python), "-c", "import my_package; print(my_package.hello())"],
               setup.env()).stdout.strip()


def names(files: list[Path]) -> list[str]:
    return sorted(file.name for file in files)


def poetry_project(where: Path, version: str) -> Path:
    (where / "src" / "my_package").mkdir(parents=True)
    (where / "pyproject.toml").write_text(POETRY_PYPROJECT.format(version=version))
    (where / "src" / "my_package" / "__init__.py").write_text(MODULE.format(version=version))
    return where


def pdm_project(setup: Setup, name: str, pyproject: str) -> Path:
    """A project directory with its own empty ``.venv``, which pdm then uses.

    Left to choose, pdm could pick the first Python on PATH: this test environment's.
    """
    project = setup.tmp / name
    project.mkdir(exist_ok=True)
    (project / "pyproject.toml").write_text(pyproject)
    if not (project / ".venv").exists():
        run([BASE_PYTHON, "-m", "venv", "--without-pip", str(project / ".venv")])
    return project


def pdm_consumer(setup: Setup, name: str, source: str) -> Path:
    return pdm_project(setup, name, CONSUMER_PYPROJECT
                       + "\n[tool.pdm]\ndistribution = false\n\n" + setup.local(source))


FILE_KEYRING = """\
import json
import pathlib

from keyring.backend import KeyringBackend

STORE = pathlib.Path(__file__).with_name("keyring.json")


class FileKeyring(KeyringBackend):
    priority = 1

    def _load(self):
        return json.loads(STORE.read_text()) if STORE.exists() else {}

    def get_password(self, service, username):
        return self._load().get(f"{service} {username}")

    def set_password(self, service, username, password):
        STORE.write_text(json.dumps({**self._load(), f"{service} {username}": password}))

    def delete_password(self, service, username):
        data = self._load()
        data.pop(f"{service} {username}", None)
        STORE.write_text(json.dumps(data))
"""


def file_keyring(where: Path) -> dict[str, str]:
    """The environment for a keyring kept in a file: a stand-in for the desktop's."""
    where.mkdir()
    (where / "file_keyring.py").write_text(FILE_KEYRING)
    return {"PYTHONPATH": str(where), "PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring"}


