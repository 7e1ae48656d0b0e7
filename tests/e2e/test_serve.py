"""``pypireg serve`` as a user runs it: a subprocess on its own data directory."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Clients, run


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, Path, list[str]]]:
    """Start ``pypireg serve --port 0`` and read the URL it prints; stop it afterwards."""
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "pypireg", "serve", "--port", "0", "--data", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    banner: list[str] = []
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            banner.append(line.rstrip())
            if line.startswith("press Ctrl+C"):
                break
        url = next((line.split(" at ")[1] for line in banner if " serving " in line), None)
        assert url, f"pypireg serve printed no URL: {banner}"
        yield url, data, banner
    finally:
        process.terminate()
        process.wait(timeout=30)


def cli(data: Path, *argv: str) -> str:
    """Run a CLI command on ``data`` and return its last line of output."""
    result = run([sys.executable, "-m", "pypireg", *argv, "--data", str(data)])
    return result.stdout.splitlines()[-1]


def test_serve_creates_the_catalog_and_prints_where_to_go(served) -> None:
    url, data, banner = served
    assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v4")
    assert any("created an empty registry" in line for line in banner)
    assert any(f"{url}/projects/<id or path>/packages/pypi/simple" in line for line in banner)
    assert (data / "catalog.db").exists()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{url}/projects/1/packages/pypi/simple")
    assert missing.value.code == 404
    assert json.load(missing.value) == {"message": "404 Project Not Found"}
    outside = url.removesuffix("/api/v4") + "/elsewhere"
    with pytest.raises(urllib.error.HTTPError) as elsewhere:
        urllib.request.urlopen(outside)
    assert elsewhere.value.code == 404


def test_the_readme_recipe_against_a_served_registry(served, clients: Clients, greet_dists
                                                     ) -> None:
    url, data, _ = served
    cli(data, "group", "create", "acme")
    project_id = cli(data, "project", "create", "acme/tools")
    token = cli(data, "token", "create", "ci", "--grant", "acme/tools:write")
    clients.twine_upload(f"{url}/projects/acme%2Ftools/packages/pypi", token,
                         *greet_dists["2.0"])
    python = clients.new_venv("env")
    index = f"{url}/projects/{project_id}/packages/pypi/simple".replace(
        "http://", f"http://__token__:{token}@")
    clients.pip_install(python, index, "acme-greet")
    assert clients.greet(python) == "hello from acme.greet 2.0"
