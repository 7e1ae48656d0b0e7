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
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from .live import run
from .matrix import PIPS, Pip, Tool, find_python, pip_wheel, tools
from .matrix_live import (
    Matrix,
    check_install,
    distributions,
    installed,
    need,
    new_venv,
    start,
)

FORMS = ("json", "html")
EXPECTED = ("1.1", "1.0")  # Acme.Widgets, Acme_Gears


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> Iterator[Matrix]:
    with ExitStack() as stack:
        yield start(tmp_path_factory.mktemp("matrix"), stack)


@pytest.fixture(autouse=True)
def offline(matrix: Matrix) -> Iterator[None]:
    """Each test fails if its client reached for the internet (through the tripwire)."""
    before = matrix.tripwire.hits
    yield
    assert matrix.tripwire.hits == before, "a client tried to reach the internet"


def command(tool: Tool) -> str:
    return str(need(tool.bin if tool.bin.exists() else None, tool.name))


def ids(tool: Tool) -> str:
    return tool.name


def stored(matrix: Matrix) -> dict[str, str]:
    """What the matrix project holds, by sha256: every file the publishers upload."""
    return matrix.files("acme/matrix")


def refused_as_existing(matrix: Matrix, argv: list[str], env: dict[str, str], project: str,
                        tmp: Path) -> list[str]:
    """A file under a stored name with other bytes is refused, and nothing changes;
    returns the argv that uploads it, to try again with other options."""
    changed = distributions(tmp / "changed", "Acme.Widgets", "1.0", marker="# again\n")
    refused = run([*argv, str(changed[0])], env, check=False)
    assert refused.returncode != 0
    assert "File already exists" in refused.stdout + refused.stderr
    assert matrix.files(project) == stored(matrix)
    return [*argv, str(changed[0])]


# -- pip -----------------------------------------------------------------------------------


def pip_environment(pip: Pip, where: Path, env: dict[str, str]) -> Path:
    """A new virtual environment of the pip's Python holding that pip; returns its python."""
    interpreter = need(find_python(pip.python), f"Python {pip.python} (for pip {pip.label})")
    if pip.own:
        python = new_venv(interpreter, where, with_pip=True)  # the interpreter's ensurepip
    else:
        wheel = need(pip_wheel(pip.spec), f"a wheel of {pip.spec}")
        python = new_venv(interpreter, where)
        # pip installs itself from its own wheel, offline, as get-pip does.
        run([str(python), f"{wheel}/pip", "install", "--quiet", "--no-index", str(wheel)], env)
    return python


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("pip", PIPS, ids=lambda p: p.label)
def test_pip_installs(matrix: Matrix, pip: Pip, form: str, tmp_path: Path) -> None:
    env = matrix.env(tmp_path)
    python = pip_environment(pip, tmp_path / "venv", env)
    version = Version(run([str(python), "-m", "pip", "--version"], env).stdout.split()[1])
    assert version in SpecifierSet(pip.spec.removeprefix("pip")), version
    matrix.clear()
    run([str(python), "-m", "pip", "install", "--index-url", matrix.index(form),
         "Acme.Widgets"], env)
    assert installed(python, env) == EXPECTED
    check_install(matrix, form, asks_json=version >= Version("22.2"),
                  reads_metadata=version >= Version("23.2"))  # see tests/e2e/matrix.py


# -- uv ------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("uv", tools("uv"), ids=ids)
def test_uv_installs(matrix: Matrix, uv: Tool, form: str, tmp_path: Path) -> None:
    env = matrix.env(tmp_path)
    python = new_venv(need(find_python("3.11"), "Python 3.11"), tmp_path / "venv")
    matrix.clear()
    run([command(uv), "pip", "install", "--python", str(python), "--index-url",
         matrix.index(form), "Acme.Widgets"], env)
    assert installed(python, env) == EXPECTED
    check_install(matrix, form, asks_json=True, reads_metadata=True)


@pytest.mark.parametrize("uv", tools("uv"), ids=ids)
def test_uv_publishes(matrix: Matrix, uv: Tool, tmp_path: Path) -> None:
    project = f"acme/by-{uv.name}"
    matrix.registry.create_project(project, "private")
    env = matrix.env(tmp_path)
    argv = [command(uv), "publish", "--publish-url", matrix.upload_url(project),
            "--username", "__token__", "--password", matrix.writer]
    run([*argv, *map(str, matrix.dists)], env)
    assert matrix.files(project) == stored(matrix)
    run([*argv, *map(str, matrix.dists)], env)  # the same files again: nothing changes
    assert matrix.files(project) == stored(matrix)
    refused_as_existing(matrix, argv, env, project, tmp_path)


# -- twine ---------------------------------------------------------------------------------


@pytest.mark.parametrize("twine", tools("twine"), ids=ids)
def test_twine_publishes(matrix: Matrix, twine: Tool, tmp_path: Path) -> None:
    project = f"acme/by-{twine.name}"
    matrix.registry.create_project(project, "private")
    env = matrix.env(tmp_path)
    said = run([command(twine), "--version"], env).stdout
    version = Version(re.search(r"twine version (\S+)", said)[1])  # type: ignore[index]
    argv = [command(twine), "upload", "--non-interactive", "--disable-progress-bar",
            "--repository-url", matrix.upload_url(project), "-u", "__token__", "-p",
            matrix.writer]
    run([*argv, *map(str, matrix.dists)], env)
    assert matrix.files(project) == stored(matrix)
    run([*argv, *map(str, matrix.dists)], env)  # the same files again: nothing changes
    assert matrix.files(project) == stored(matrix)

    changed = refused_as_existing(matrix, argv, env, project, tmp_path)
    skipped = run([*changed, "--skip-existing"], env, check=False)
    output = skipped.stdout + skipped.stderr
    if version < Version("6.2"):
        assert skipped.returncode == 0, output
        assert "Skipping acme_widgets-1.0-py3-none-any.whl" in output
    else:  # twine itself refuses the flag for any index but PyPI, sending nothing
        assert skipped.returncode != 0
        assert "--skip-existing" in output
    assert matrix.files(project) == stored(matrix)


def test_twine_5_refuses_metadata_2_4_before_sending(matrix: Matrix, tmp_path: Path) -> None:
    """docs/clients.md's warning: twine 5 reads no Metadata-Version past 2.3."""
    twine = next(t for t in tools("twine") if t.name == "twine-5")
    newer = distributions(tmp_path, "Acme.Widgets", "3.0", metadata_version="2.4")
    matrix.clear()
    refused = run([command(twine), "upload", "--non-interactive", "--repository-url",
                   matrix.upload_url("acme/matrix"), "-u", "__token__", "-p", matrix.writer,
                   str(newer[0])], matrix.env(tmp_path), check=False)
    assert refused.returncode != 0
    assert "missing required fields" in refused.stdout + refused.stderr
    assert matrix.answers() == []  # nothing was sent


# -- poetry --------------------------------------------------------------------------------


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


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("poetry", tools("poetry"), ids=ids)
def test_poetry_installs(matrix: Matrix, poetry: Tool, form: str, tmp_path: Path) -> None:
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "pyproject.toml").write_text(CONSUMER)
    env = poetry_env(matrix, tmp_path, POETRY_HTTP_BASIC_PYPIREG_USERNAME="__token__",
                     POETRY_HTTP_BASIC_PYPIREG_PASSWORD=matrix.reader)
    index = matrix.index(form).replace(f"__token__:{matrix.reader}@", "")
    run([command(poetry), "source", "add", "--priority=primary", "pypireg", index], env,
        cwd=consumer)
    matrix.clear()
    # poetry adds the newest version and only then asks that it fit the project's Pythons:
    # 2.0 cannot, so poetry says so and installs nothing.
    refused = run([command(poetry), "add", "Acme.Widgets"], env, cwd=consumer, check=False)
    assert refused.returncode != 0
    assert "acme-widgets (^2.0)" in refused.stdout + refused.stderr
    assert not (consumer / "poetry.lock").exists()
    run([command(poetry), "add", "Acme.Widgets<2"], env, cwd=consumer)
    assert installed(consumer / ".venv" / "bin" / "python", env) == EXPECTED
    lock = (consumer / "poetry.lock").read_text()
    assert re.search(r'name = "acme-widgets"\nversion = "1.1"', lock)
    # poetry 1.8 asks for HTML pages, poetry 2 for JSON.
    check_install(matrix, form, asks_json=poetry.name != "poetry-1.8", reads_metadata=True)


@pytest.mark.parametrize("poetry", tools("poetry"), ids=ids)
def test_poetry_publishes(matrix: Matrix, poetry: Tool, tmp_path: Path) -> None:
    project = f"acme/by-{poetry.name}"
    matrix.registry.create_project(project, "private")
    package = tmp_path / "poetry-made"
    (package / "poetry_made").mkdir(parents=True)
    (package / "pyproject.toml").write_text(PUBLISHER)
    (package / "poetry_made" / "__init__.py").write_text("VERSION = '0.1.0'\n")
    env = poetry_env(matrix, tmp_path, POETRY_REPOSITORIES_PYPIREG_UPLOAD_URL=matrix.upload_url(
        project), POETRY_HTTP_BASIC_PYPIREG_UPLOAD_USERNAME="__token__",
        POETRY_HTTP_BASIC_PYPIREG_UPLOAD_PASSWORD=matrix.writer)
    publish = [command(poetry), "publish", "-r", "pypireg-upload"]
    run([*publish, "--build"], env, cwd=package)
    built = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
             for path in (package / "dist").iterdir()}
    assert sorted(built) == ["poetry_made-0.1.0-py3-none-any.whl", "poetry_made-0.1.0.tar.gz"]
    assert matrix.files(project) == built
    run(publish, env, cwd=package)  # the same files again: nothing changes
    assert matrix.files(project) == built

    # Rebuilt with other contents: refused, and skipped with --skip-existing. (poetry asks
    # before it builds over files in dist/.)
    (package / "poetry_made" / "__init__.py").write_text("VERSION = '0.1.0'  # again\n")
    shutil.rmtree(package / "dist")
    refused = run([*publish, "--build"], env, cwd=package, check=False)
    assert refused.returncode != 0
    assert "File already exists" in refused.stdout + refused.stderr
    skipped = run([*publish, "--skip-existing"], env, cwd=package)
    assert (skipped.stdout + skipped.stderr).count("File exists. Skipping") == 2
    assert matrix.files(project) == built
