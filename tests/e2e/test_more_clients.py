"""docs/clients.md's installers and uploaders, run: pip, uv, twine, and python-gitlab on the
Packages API (tests/e2e/clients.py says how the clients are kept off the internet)."""

from __future__ import annotations

import io
import re
import shutil
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from .clients import (
    CONSUMER_PYPROJECT,
    PROJECT,
    PYPI_PATH,
    Setup,
    block,
    dist_dir,
    hello,
    names,
    new_venv,
    upload,
)
from .live import BIN, client_env, run

# --- the tokens ---------------------------------------------------------------------------

def test_the_token_commands(tmp_path: Path) -> None:
    data = tmp_path / "pypireg-data"
    cli = str(BIN / "pypireg")
    run([cli, "init", "--data", str(data)])
    run([cli, "group", "create", "acme", "--data", str(data)])
    run([cli, "project", "create", PROJECT, "--data", str(data)])
    script = block("URLs and credentials", "sh", "READ_TOKEN=").replace(".venv/bin/", f"{BIN}/")
    script += 'printf "%s\\n%s\\n" "$TOKEN" "$READ_TOKEN"\n'
    env = {**client_env(tmp_path), "PYPIREG_DATA": str(data)}
    token, read_token = run(["bash", "-euo", "pipefail", "-c", script], env
                            ).stdout.splitlines()[-2:]
    assert token.startswith("pypireg-") and read_token.startswith("pypireg-")
    listed = run([cli, "token", "list", "--json", "--data", str(data)], env).stdout
    assert re.search(r'"name": "ci".*?"grants": \[\s*"acme/tools:write"', listed, re.S)
    assert re.search(r'"name": "reader".*?"grants": \[\s*"acme/tools:read"', listed, re.S)


# --- pip ----------------------------------------------------------------------------------

def test_pip_index_url(setup: Setup, dists) -> None:
    upload(setup, dists["0.1.0"])
    python, pip_into = new_venv(setup, "env")
    command = block("pip", "sh", "pip install --index-url \"http://__token__")
    setup.sh(command, setup.tmp, **pip_into)
    assert hello(setup, python) == "hello from my-package 0.1.0"
    assert setup.live.statuses("/simple/my-package/") == {200}


def test_pip_extra_index_url(setup: Setup, dists) -> None:
    # The main index is a public project of this registry, in PyPI's place: it does not
    # have the package, so pip finds it through the extra index alone.
    setup.live.registry.create_project("mirror", "public")
    upload(setup, dists["0.1.0"])
    python, pip_into = new_venv(setup, "env")
    command = block("pip", "sh", "--extra-index-url")
    setup.sh(command, setup.tmp, **pip_into,
             PIP_INDEX_URL=setup.live.index("mirror"))
    assert hello(setup, python) == "hello from my-package 0.1.0"
    assert setup.live.statuses("/projects/mirror/packages/pypi/simple/my-package/") == {404}
    assert setup.live.statuses(f"{PYPI_PATH}/simple/my-package/") == {200}


def test_pip_conf(setup: Setup, dists) -> None:
    upload(setup, dists["0.1.0"])
    conf = setup.tmp / "pip.conf"
    conf.write_text(setup.local(block("pip", "ini", "index-url")))
    python, _ = new_venv(setup, "env")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "my-package"],
        setup.env(PIP_CONFIG_FILE=str(conf)))
    assert hello(setup, python) == "hello from my-package 0.1.0"
    assert setup.live.statuses(f"{PYPI_PATH}/simple/my-package/") == {200}


def test_netrc_for_pip_and_uv(setup: Setup, dists) -> None:
    upload(setup, dists["0.1.0"])
    netrc = setup.tmp / ".netrc"  # the test's HOME
    netrc.write_text(setup.local(block("pip", "text", "machine")))
    netrc.chmod(0o600)
    command = block("pip", "sh", "pip install --index-url http://127.0.0.1")
    assert "__token__" not in command
    python, pip_into = new_venv(setup, "pip-env")
    setup.sh(command, setup.tmp, **pip_into)
    assert hello(setup, python) == "hello from my-package 0.1.0"

    with_uv, _ = new_venv(setup, "uv-env")
    setup.sh(f'uv pip install --python "{with_uv}" ' + command.removeprefix("pip install "),
             setup.tmp)
    assert hello(setup, with_uv) == "hello from my-package 0.1.0"

    # Without the file, the same commands are refused.
    netrc.unlink()
    setup.live.log.clear()
    python, pip_into = new_venv(setup, "no-netrc")
    with pytest.raises(AssertionError):
        setup.sh(command, setup.tmp, **pip_into)
    assert setup.live.statuses("/simple/my-package/") == {401}


# --- uv -----------------------------------------------------------------------------------

def test_uv_publish_and_project_index(setup: Setup, dists) -> None:
    publisher = dist_dir(setup.tmp / "publisher", dists["0.1.0"])
    setup.sh(block("uv", "sh", "uv publish --publish-url"), publisher)
    assert setup.files() == names(dists["0.1.0"])

    project = setup.tmp / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        CONSUMER_PYPROJECT + "\n"
        + setup.local(block("uv", "toml", "[[tool.uv.index]]")))
    setup.sh(block("uv", "sh", "uv add my-package"), project)
    assert hello(setup, project / ".venv" / "bin" / "python") == "hello from my-package 0.1.0"
    lock = (project / "uv.lock").read_text()
    assert f'registry = "{setup.live.index("acme%2Ftools")}"' in lock

    # Publishing through the index: uv asks it what it has, then uploads the rest.
    shutil.rmtree(project / "dist", ignore_errors=True)
    dist_dir(project, dists["0.2.0"])
    setup.live.log.clear()
    setup.sh(block("uv", "sh", "uv publish --index pypireg"), project)
    assert setup.files() == names(dists["0.1.0"] + dists["0.2.0"])
    assert ("GET", f"{PYPI_PATH}/simple/my-package/", 200) in setup.live.log

    # Again, with files the project already has: uv asks, is answered, uploads nothing.
    dist_dir(setup.tmp / "again", dists["0.1.0"])
    shutil.copytree(setup.tmp / "again" / "dist", project / "dist", dirs_exist_ok=True)
    setup.live.log.clear()
    said = setup.sh(block("uv", "sh", "uv publish --index pypireg"), project)
    assert setup.live.log and not [(m, s) for m, _, s in setup.live.log
                                   if m == "POST" or s == 401], setup.live.log
    assert said.stderr.count("already exists, skipping") == 4
    assert "not found" not in said.stderr.lower()


# --- twine --------------------------------------------------------------------------------

def test_twine_pypirc(setup: Setup, dists) -> None:
    (setup.tmp / ".pypirc").write_text(setup.local(block("twine", "ini", "[distutils]")))
    publisher = dist_dir(setup.tmp / "publisher", dists["0.1.0"])
    setup.sh(block("twine", "sh", "twine upload -r pypireg"), publisher)
    assert setup.files() == names(dists["0.1.0"])

    # In CI, the environment alone: the same files again are accepted, and change nothing.
    (setup.tmp / ".pypirc").unlink()
    setup.live.log.clear()
    setup.sh("twine upload dist/*", publisher, TWINE_REPOSITORY_URL=setup.live.upload_url(
        PROJECT), TWINE_USERNAME="__token__", TWINE_PASSWORD=setup.token)
    assert [s for m, _, s in setup.live.log if m == "POST"] == [200, 200]


# --- python-gitlab ------------------------------------------------------------------------

def test_python_gitlab_lists_and_deletes(setup: Setup, dists, monkeypatch) -> None:
    gitlab = pytest.importorskip(
        "gitlab", reason="python-gitlab is not installed: pip install python-gitlab")
    registry = setup.live.registry
    registry.create_project("acme/other", "private")
    upload(setup, dists["0.1.0"])
    # The doc's token, made by its command in a shell, on the live registry's data.
    made = block("python-gitlab", "sh", "GITLAB_TOKEN=").replace(".venv/bin/", f"{BIN}/")
    setup.sh(made + '\nprintf "%s" "$GITLAB_TOKEN" > gitlab-token\n', setup.tmp,
             PYPIREG_DATA=str(setup.tmp / "data"))
    monkeypatch.setenv("GITLAB_TOKEN", (setup.tmp / "gitlab-token").read_text())

    listing = setup.local(block("python-gitlab", "python", "gl.projects.get"))
    namespace: dict = {}
    out = io.StringIO()
    with redirect_stdout(out):
        exec(listing, namespace)  # noqa: S102
    lines = out.getvalue().splitlines()
    package = next(iter(registry.catalog.db.query("SELECT id FROM packages")))["id"]
    assert lines[0] == f"{package} my-package 0.1.0"
    assert sorted(line.split()[1] for line in lines[1:]) == names(dists["0.1.0"])
    assert [(p.name, p.project_path) for p in namespace["everything"]] == [
        ("my-package", PROJECT)]

    # The Projects API is not there: only a lazy project works.
    with pytest.raises(gitlab.GitlabGetError) as missing:
        namespace["gl"].projects.get(PROJECT)
    assert missing.value.response_code == 404

    setup.live.log.clear()
    exec(block("python-gitlab", "python", "package_files.delete"), namespace)  # noqa: S102
    deletes = [(path.rsplit("/", 2)[-2], status) for method, path, status in setup.live.log
               if method == "DELETE"]
    assert deletes == [("package_files", 204), ("packages", 204)]
    assert namespace["project"].packages.list(get_all=True) == []
    assert setup.files() == []

    # A job token, as a CI job sends it.
    upload(setup, dists["0.2.0"])
    job = registry.create_token("pipeline", [f"{PROJECT}:read"], kind="job")
    gl = gitlab.Gitlab(f"http://{setup.host}", job_token=job)
    listed = gl.projects.get(PROJECT, lazy=True).packages.list(get_all=True)
    assert [(p.name, p.version) for p in listed] == [("my-package", "0.2.0")]
