"""docs/clients.md's project tools, run: poetry, pdm and hatch publishing to the registry
and installing from it (tests/e2e/clients.py says how they are kept off the internet)."""

from __future__ import annotations

import shutil

from .clients import (
    BASE_PYTHON,
    CONSUMER_PYPROJECT,
    PROJECT,
    PUBLISHER_PYPROJECT,
    Setup,
    block,
    dist_dir,
    file_keyring,
    hello,
    names,
    pdm_consumer,
    pdm_project,
    poetry_project,
    require,
)
from .live import BIN, run

# --- poetry -------------------------------------------------------------------------------

def test_poetry_publish_and_install(setup: Setup) -> None:
    require("poetry", "poetry")
    package = poetry_project(setup.tmp / "my-package", "0.1.0")
    setup.sh(block("poetry", "sh", "poetry publish --build"), package)
    built = ["my_package-0.1.0-py3-none-any.whl", "my_package-0.1.0.tar.gz"]
    assert setup.files() == built

    consumer = setup.tmp / "consumer"
    consumer.mkdir()
    (consumer / "pyproject.toml").write_text(
        CONSUMER_PYPROJECT + '\n[tool.poetry]\npackage-mode = false\n')
    setup.sh(block("poetry", "sh", "poetry source add"), consumer)
    python = consumer / ".venv" / "bin" / "python"
    assert hello(setup, python) == "hello from my-package 0.1.0"
    pyproject = (consumer / "pyproject.toml").read_text()
    assert f'url = "{setup.live.index("acme%2Ftools")}"' in pyproject
    assert 'priority = "primary"' in pyproject
    # Installs went through the read token's source: the publishing name was not needed.
    assert setup.live.statuses("/simple/my-package/") == {200}

    # In CI: nothing in poetry's config, only environment variables.
    ci = {"POETRY_CONFIG_DIR": str(setup.tmp / "poetry-ci")}
    shutil.rmtree(consumer / ".venv")
    run([str(BIN / "poetry"), "install"], setup.env(
        **ci, POETRY_HTTP_BASIC_PYPIREG_USERNAME="__token__",
        POETRY_HTTP_BASIC_PYPIREG_PASSWORD=setup.read_token), cwd=consumer)
    assert hello(setup, python) == "hello from my-package 0.1.0"

    upload_url = setup.live.upload_url("acme%2Ftools")
    next_version = poetry_project(setup.tmp / "next", "0.2.0")
    run([str(BIN / "poetry"), "publish", "--build", "-r", "pypireg-upload"], setup.env(
        **ci, POETRY_REPOSITORIES_PYPIREG_UPLOAD_URL=upload_url,
        POETRY_HTTP_BASIC_PYPIREG_UPLOAD_USERNAME="__token__",
        POETRY_HTTP_BASIC_PYPIREG_UPLOAD_PASSWORD=setup.token), cwd=next_version)
    assert "my_package-0.2.0-py3-none-any.whl" in setup.files()


def test_poetry_read_token_cannot_publish(setup: Setup) -> None:
    require("poetry", "poetry")
    package = poetry_project(setup.tmp / "my-package", "0.1.0")
    result = run([str(BIN / "poetry"), "publish", "--build", "-r", "pypireg-upload"],
                 setup.env(POETRY_REPOSITORIES_PYPIREG_UPLOAD_URL=setup.live.upload_url(PROJECT),
                           POETRY_HTTP_BASIC_PYPIREG_UPLOAD_USERNAME="__token__",
                           POETRY_HTTP_BASIC_PYPIREG_UPLOAD_PASSWORD=setup.read_token),
                 cwd=package, check=False)
    assert result.returncode != 0
    assert "403" in result.stdout + result.stderr
    assert setup.files() == []


# --- pdm ----------------------------------------------------------------------------------

def test_pdm_publish_and_install(setup: Setup, dists) -> None:
    require("pdm", "pdm")
    publisher = pdm_project(setup, "publisher", PUBLISHER_PYPROJECT.format(version="0.1.0"))
    dist_dir(publisher, dists["0.1.0"])
    setup.sh(block("pdm", "sh", "pdm publish --no-build --repository http"), publisher)
    assert setup.files() == names(dists["0.1.0"])

    source = block("pdm", "toml", "[[tool.pdm.source]]")
    assert "${PYPIREG_TOKEN}" in source and setup.read_token not in setup.local(source)
    consumer = pdm_consumer(setup, "consumer", source)
    setup.sh(block("pdm", "sh", "pdm add my-package"), consumer)
    python = consumer / ".venv" / "bin" / "python"
    assert hello(setup, python) == "hello from my-package 0.1.0"
    assert "my-package" in (consumer / "pdm.lock").read_text()

    # pdm install, from the lock file, into a new environment.
    shutil.rmtree(consumer / ".venv")
    run([BASE_PYTHON, "-m", "venv", "--without-pip", str(consumer / ".venv")])
    run([str(BIN / "pdm"), "install"], setup.env(PYPIREG_TOKEN=setup.read_token),
        cwd=consumer)
    assert hello(setup, python) == "hello from my-package 0.1.0"

    # A source named pypi takes PyPI's place without any setting.
    as_pypi = pdm_consumer(setup, "as-pypi", source.replace('name = "pypireg"', 'name = "pypi"'))
    run([str(BIN / "pdm"), "add", "my-package"], setup.env(PYPIREG_TOKEN=setup.read_token),
        cwd=as_pypi)
    assert hello(setup, as_pypi / ".venv" / "bin" / "python") == "hello from my-package 0.1.0"

    # The named repository of pdm's configuration, for the next version. With keyring
    # installed (it is here, for twine), pdm keeps the password in the keyring: a file one.
    pdm_project(setup, "publisher", PUBLISHER_PYPROJECT.format(version="0.2.0"))
    shutil.rmtree(publisher / "dist")
    dist_dir(publisher, dists["0.2.0"])
    keyring = file_keyring(setup.tmp / "keyring")
    setup.sh(block("pdm", "sh", "pdm config repository.pypireg.url"), publisher, **keyring)
    assert setup.files() == names(dists["0.1.0"] + dists["0.2.0"])
    config = (setup.tmp / ".config" / "pdm" / "config.toml").read_text()
    assert "[repository.pypireg]" in config and setup.token not in config
    assert setup.token in (setup.tmp / "keyring" / "keyring.json").read_text()

    # In CI, the environment alone: the same files again are accepted, and change nothing.
    setup.live.log.clear()
    run([str(BIN / "pdm"), "publish", "--no-build"], setup.env(
        PDM_PUBLISH_REPO=setup.live.upload_url(PROJECT), PDM_PUBLISH_USERNAME="__token__",
        PDM_PUBLISH_PASSWORD=setup.token), cwd=publisher)
    assert [s for m, _, s in setup.live.log if m == "POST"] == [200, 200]
    assert setup.files() == names(dists["0.1.0"] + dists["0.2.0"])


# --- hatch --------------------------------------------------------------------------------

def test_hatch_publish(setup: Setup, dists) -> None:
    require("hatch", "hatch")
    publisher = dist_dir(setup.tmp / "publisher", dists["0.1.0"])
    setup.sh(block("hatch", "sh", "hatch publish --repo http"), publisher)
    assert setup.files() == names(dists["0.1.0"])

    config = setup.tmp / "hatch-config.toml"
    config.write_text(setup.local(block("hatch", "toml", "repos.pypireg")))
    env = {"HATCH_CONFIG": str(config)}
    shutil.rmtree(publisher / "dist")
    dist_dir(publisher, dists["0.2.0"])
    setup.sh(block("hatch", "sh", "hatch publish --repo pypireg"), publisher, **env)
    assert setup.files() == names(dists["0.1.0"] + dists["0.2.0"])

    # In CI, the environment alone: the same files again are accepted, and change nothing.
    setup.live.log.clear()
    setup.sh("hatch publish", publisher, HATCH_INDEX_REPO=setup.live.upload_url(PROJECT),
             HATCH_INDEX_USER="__token__", HATCH_INDEX_AUTH=setup.token)
    assert [s for m, _, s in setup.live.log if m == "POST"] == [200, 200]
    assert setup.files() == names(dists["0.1.0"] + dists["0.2.0"])

