"""The client matrix: every client still in use installs from, and where it can publishes to,
a live ``pypireg serve``, through JSON pages and through HTML pages (tests/e2e/matrix.py
says which versions, tests/e2e/matrix_live.py what they run against).

Each installer is asked for ``Acme.Widgets`` and must install 1.1, with ``Acme_Gears`` from
the same project: never the yanked 1.2, never 2.0, whose Requires-Python excludes every
Python here. Each publisher uploads the distributions to a project of its own, again
(nothing changes), and a file that differs from one stored, which is refused as "File
already exists" and skipped with ``--skip-existing`` where the client allows that flag.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from packaging.version import Version

from .clients import run
from .conftest import BIN
from .matrix import PIPS, Pip, find_python, pip_wheel, tool
from .matrix_live import (
    Matrix,
    check_install,
    completed,
    distributions,
    installed,
    need,
    new_venv,
    start,
    which,
)

FORMS = ("json", "html")
EXPECTED = ("1.1", "1.0")  # Acme.Widgets, Acme_Gears


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> Iterator[Matrix]:
    with ExitStack() as stack:
        found = start(tmp_path_factory.mktemp("matrix"), stack)
        yield found
        assert found.tripwire.hits == 0, "a client tried to reach the internet"


# -- pip -----------------------------------------------------------------------------------


def pip_environment(pip: Pip, where: Path, env: dict[str, str]) -> tuple[Path, Version]:
    """A new virtual environment of the pip's Python holding that pip, and its version."""
    python = need(find_python(pip.python), f"Python {pip.python} (for pip {pip.label})")
    if pip.spec:
        wheel = need(pip_wheel(pip.spec), f"a wheel of {pip.spec}")
        venv = new_venv(python, where)
        # pip installs itself from its own wheel, offline, as get-pip does.
        run([str(venv), f"{wheel}/pip", "install", "--quiet", "--no-index", str(wheel)], env)
    else:
        venv = new_venv(python, where, with_pip=True)  # the interpreter's own ensurepip
    said = run([str(venv), "-m", "pip", "--version"], env).stdout
    return venv, Version(said.split()[1])


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("pip", PIPS, ids=lambda p: p.label)
def test_pip_installs(matrix: Matrix, pip: Pip, form: str, tmp_path: Path) -> None:
    env = matrix.env(tmp_path)
    venv, version = pip_environment(pip, tmp_path / "venv", env)
    matrix.clear()
    run([str(venv), "-m", "pip", "install", "--index-url", matrix.index(form),
         "Acme.Widgets"], env)
    assert installed(venv, env) == EXPECTED
    check_install(matrix, form, asks_json=version >= Version("22.2"),
                  reads_metadata=version >= Version("23.2"))  # see tests/e2e/matrix.py


# -- uv ------------------------------------------------------------------------------------


UVS = ("uv-0.5.0", "newest")


def uv_bin(name: str) -> Path:
    return BIN / "uv" if name == "newest" else need(which(tool(name).bin), name)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("uv", UVS)
def test_uv_installs(matrix: Matrix, uv: str, form: str, tmp_path: Path) -> None:
    env = matrix.env(tmp_path)
    python = need(find_python("3.11"), "Python 3.11")
    venv = new_venv(python, tmp_path / "venv")
    matrix.clear()
    run([str(uv_bin(uv)), "pip", "install", "--python", str(venv), "--index-url",
         matrix.index(form), "Acme.Widgets"], env)
    assert installed(venv, env) == EXPECTED
    check_install(matrix, form, asks_json=True, reads_metadata=True)


@pytest.mark.parametrize("uv", UVS)
def test_uv_publishes(matrix: Matrix, uv: str, tmp_path: Path) -> None:
    project = f"acme/by-uv-{uv}"
    matrix.registry.create_project(project, "private")
    env = matrix.env(tmp_path)
    argv = [str(uv_bin(uv)), "publish", "--publish-url", matrix.upload_url(project),
            "--username", "__token__", "--password", matrix.writer]
    run([*argv, *map(str, matrix.dists)], env)
    assert matrix.files(project) == stored(matrix)
    run([*argv, *map(str, matrix.dists)], env)  # the same files again: nothing changes
    assert matrix.files(project) == stored(matrix)

    changed = distributions(tmp_path / "changed", "Acme.Widgets", "1.0", marker="# again\n")
    refused = completed([*argv, str(changed[0])], env)
    assert refused.returncode != 0
    assert "File already exists" in refused.stdout + refused.stderr
    assert matrix.files(project) == stored(matrix)


def stored(matrix: Matrix) -> dict[str, str]:
    """What the matrix project holds: every file the publishers upload, by sha256."""
    return matrix.files("acme/matrix")


# -- twine ---------------------------------------------------------------------------------


TWINES = ("twine-4", "twine-5", "twine-6.1", "twine-newest")


def twine_bin(name: str) -> Path:
    return BIN / "twine" if name == "twine-6.1" else need(which(tool(name).bin), name)


@pytest.mark.parametrize("twine", TWINES)
def test_twine_publishes(matrix: Matrix, twine: str, tmp_path: Path) -> None:
    project = f"acme/by-{twine}"
    matrix.registry.create_project(project, "private")
    env = matrix.env(tmp_path)
    command = twine_bin(twine)
    version = Version(re.search(r"twine version (\S+)", run([str(command), "--version"], env
                                                            ).stdout)[1])
    argv = [str(command), "upload", "--non-interactive", "--disable-progress-bar",
            "--repository-url", matrix.upload_url(project), "-u", "__token__", "-p",
            matrix.writer]
    run([*argv, *map(str, matrix.dists)], env)
    assert matrix.files(project) == stored(matrix)
    run([*argv, *map(str, matrix.dists)], env)  # the same files again: nothing changes
    assert matrix.files(project) == stored(matrix)

    changed = distributions(tmp_path / "changed", "Acme.Widgets", "1.0", marker="# again\n")
    refused = completed([*argv, str(changed[0])], env)
    assert refused.returncode != 0
    assert "File already exists" in refused.stdout + refused.stderr
    skipped = completed([*argv, "--skip-existing", str(changed[0])], env)
    if version < Version("6.2"):
        assert skipped.returncode == 0, skipped.stdout + skipped.stderr
        assert "Skipping acme_widgets-1.0-py3-none-any.whl" in skipped.stdout + skipped.stderr
    else:  # twine itself refuses the flag for any index but PyPI, sending nothing
        assert skipped.returncode != 0
        assert "--skip-existing" in skipped.stdout + skipped.stderr
    assert matrix.files(project) == stored(matrix)


# -- poetry --------------------------------------------------------------------------------


POETRIES = ("poetry-1.8", "newest")
CONSUMER = """\
[tool.poetry]
name = "consumer"
version = "0.1.0"
description = ""
authors = []
package-mode = false

[tool.poetry.dependencies]
python = ">=3.8"

[build-system]
requires = ["poetry-core>=1.0"]
build-backend = "poetry.core.masonry.api"
"""
PUBLISHER = """\
[tool.poetry]
name = "poetry-made"
version = "0.1.0"
description = "published by poetry"
authors = ["Acme <dev@acme.test>"]
packages = [{include = "poetry_made"}]

[tool.poetry.dependencies]
python = ">=3.8"

[build-system]
requires = ["poetry-core>=1.0"]
build-backend = "poetry.core.masonry.api"
"""


def poetry_env(matrix: Matrix, tmp: Path, **extra: str) -> dict[str, str]:
    return matrix.env(
        tmp, POETRY_CONFIG_DIR=str(tmp / "poetry" / "config"),
        POETRY_CACHE_DIR=str(tmp / "poetry" / "cache"),
        POETRY_DATA_DIR=str(tmp / "poetry" / "data"), POETRY_VIRTUALENVS_IN_PROJECT="true",
        POETRY_VIRTUALENVS_USE_POETRY_PYTHON="true", POETRY_NO_INTERACTION="1",
        XDG_CONFIG_HOME=str(tmp / ".config"), XDG_CACHE_HOME=str(tmp / ".cache"),
        XDG_DATA_HOME=str(tmp / ".local" / "share"), **extra)


def poetry_bin(name: str) -> Path:
    return BIN / "poetry" if name == "newest" else need(which(tool(name).bin), name)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("poetry", POETRIES)
def test_poetry_installs(matrix: Matrix, poetry: str, form: str, tmp_path: Path) -> None:
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "pyproject.toml").write_text(CONSUMER)
    env = poetry_env(matrix, tmp_path, POETRY_HTTP_BASIC_PYPIREG_USERNAME="__token__",
                     POETRY_HTTP_BASIC_PYPIREG_PASSWORD=matrix.reader)
    command = str(poetry_bin(poetry))
    index = matrix.index(form).replace(f"__token__:{matrix.reader}@", "")
    run([command, "source", "add", "--priority=primary", "pypireg", index], env, cwd=consumer)
    matrix.clear()
    # poetry adds the newest version and then asks that it fit the project's Pythons: 2.0
    # cannot, so it says so and installs nothing.
    refused = completed([command, "add", "Acme.Widgets"], env, cwd=consumer)
    assert refused.returncode != 0
    assert "python" in (refused.stdout + refused.stderr).lower()
    run([command, "add", "Acme.Widgets<2"], env, cwd=consumer)
    assert installed(consumer / ".venv" / "bin" / "python", env) == EXPECTED
    lock = (consumer / "poetry.lock").read_text()
    assert re.search(r'name = "acme-widgets"\nversion = "1.1"', lock)
    # poetry 1.8 asks for HTML pages, poetry 2 for JSON.
    check_install(matrix, form, asks_json=poetry != "poetry-1.8", reads_metadata=True)


@pytest.mark.parametrize("poetry", POETRIES)
def test_poetry_publishes(matrix: Matrix, poetry: str, tmp_path: Path) -> None:
    project = f"acme/by-poetry-{poetry}"
    matrix.registry.create_project(project, "private")
    package = tmp_path / "poetry-made"
    (package / "poetry_made").mkdir(parents=True)
    (package / "pyproject.toml").write_text(PUBLISHER)
    (package / "poetry_made" / "__init__.py").write_text("VERSION = '0.1.0'\n")
    env = poetry_env(matrix, tmp_path, POETRY_REPOSITORIES_PYPIREG_UPLOAD_URL=matrix.upload_url(
        project), POETRY_HTTP_BASIC_PYPIREG_UPLOAD_USERNAME="__token__",
        POETRY_HTTP_BASIC_PYPIREG_UPLOAD_PASSWORD=matrix.writer)
    run([str(poetry_bin(poetry)), "publish", "--build", "-r", "pypireg-upload"], env,
        cwd=package)
    built = {path.name: path for path in (package / "dist").iterdir()}
    assert sorted(built) == ["poetry_made-0.1.0-py3-none-any.whl", "poetry_made-0.1.0.tar.gz"]
    assert sorted(matrix.files(project)) == sorted(built)
    assert matrix.files(project)["poetry_made-0.1.0-py3-none-any.whl"] == \
        hashlib.sha256(built["poetry_made-0.1.0-py3-none-any.whl"].read_bytes()).hexdigest()
