"""Real twine, pip and uv against a live registry, with GitLab's recipes."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from .live import Clients, LiveRegistry


@pytest.fixture
def acme(live: LiveRegistry):
    registry = live.registry
    registry.create_group("acme", "public")
    registry.create_group("acme/team", "private")
    public = registry.create_project("acme/tools", "public")
    private = registry.create_project("acme/team/secret", "private")
    writer = registry.create_token("ci", ["acme:write"])
    reader = registry.create_token("reader", ["acme/team/secret:read"], kind="deploy")
    return public, private, writer, reader


def test_twine_upload_then_pip_and_uv_install_from_private_project(
    live: LiveRegistry, clients: Clients, greet_dists, acme
) -> None:
    _, private, writer, reader = acme
    result = clients.twine_upload(live.upload_url(private.id), writer, *greet_dists["1.0"])
    assert result.returncode == 0
    stored = {name for name, _, _ in _files(live)}
    assert stored == {p.name for p in greet_dists["1.0"]}

    # GitLab's recipe: the token in the index URL. A personal token with any username...
    with_pip = clients.new_venv("pip-env")
    clients.pip_install(with_pip, live.index(private.id, writer), "--no-deps", "acme-greet")
    assert clients.greet(with_pip) == "hello from acme.greet 1.0"

    # ...and a deploy token with its own name, through the path form of the project id.
    with_uv = clients.new_venv("uv-env")
    clients.uv_install(with_uv, live.index("acme/team/secret", reader, user="reader"),
                       "Acme.Greet")
    assert clients.greet(with_uv) == "hello from acme.greet 1.0"


def test_pip_downloads_the_sdist_and_checks_its_digest(
    live: LiveRegistry, clients: Clients, greet_dists, acme, tmp_path
) -> None:
    public, _, writer, _ = acme
    clients.twine_upload(live.upload_url(public.id), writer, *greet_dists["1.0"])
    out = tmp_path / "downloaded"
    clients.pip_download_sdist(live.index(public.id), "acme-greet", out)
    sdist = next(p for p in greet_dists["1.0"] if p.name.endswith(".tar.gz"))
    assert (out / sdist.name).read_bytes() == sdist.read_bytes()


def test_anonymous_install_from_public_project(
    live: LiveRegistry, clients: Clients, greet_dists, acme
) -> None:
    public, _, writer, _ = acme
    clients.twine_upload(live.upload_url("acme/tools"), writer, *greet_dists["1.0"],
                         *greet_dists["2.0"])
    with_pip = clients.new_venv("pip-env")
    clients.pip_install(with_pip, live.index(public.id), "acme-greet")
    assert clients.greet(with_pip) == "hello from acme.greet 2.0"
    with_uv = clients.new_venv("uv-env")
    clients.uv_install(with_uv, live.index("acme/tools"), "acme-greet<2")
    assert clients.greet(with_uv) == "hello from acme.greet 1.0"


def test_anonymous_install_from_private_project_fails(
    live: LiveRegistry, clients: Clients, greet_dists, acme
) -> None:
    _, private, writer, _ = acme
    clients.twine_upload(live.upload_url(private.id), writer, *greet_dists["1.0"])
    page = f"/projects/{private.id}/packages/pypi/simple/acme-greet/"
    python = clients.new_venv("env")
    pip = clients.pip_install(python, live.index(private.id), "acme-greet", check=False)
    assert pip.returncode != 0
    assert "No matching distribution" in pip.stderr
    assert live.statuses(page) == {401}
    uv = clients.uv_install(python, live.index(private.id), "acme-greet", check=False)
    assert uv.returncode != 0
    assert "401" in uv.stderr
    # A wrong token is no better than none.
    live.log.clear()
    pip = clients.pip_install(python, live.index(private.id, "pypireg-wrong"), "acme-greet",
                              check=False)
    assert pip.returncode != 0
    assert live.statuses(page) == {401}
    installed = clients.run_python(python, "import importlib.util as u;"
                                   " print(u.find_spec('acme_greet') is None)")
    assert installed == "True"


def test_twine_reupload_and_skip_existing(
    live: LiveRegistry, clients: Clients, greet_dists, acme, tmp_path
) -> None:
    public, _, writer, _ = acme
    url = live.upload_url(public.id)
    clients.twine_upload(url, writer, *greet_dists["1.0"])
    before = _files(live)

    # The same files again: accepted, nothing changes.
    assert clients.twine_upload(url, writer, *greet_dists["1.0"]).returncode == 0
    assert clients.twine_upload(url, writer, *greet_dists["1.0"],
                                extra=("--skip-existing",)).returncode == 0
    assert _files(live) == before

    # A rebuilt wheel under the same name: refused, and skipped with --skip-existing.
    wheel = next(p for p in greet_dists["1.0"] if p.suffix == ".whl")
    rebuilt = _rebuilt(wheel, tmp_path)
    refused = clients.twine_upload(url, writer, rebuilt, check=False)
    assert refused.returncode != 0
    assert "File already exists" in refused.stdout + refused.stderr
    skipped = clients.twine_upload(url, writer, rebuilt, extra=("--skip-existing",))
    assert "Skipping" in skipped.stdout + skipped.stderr
    assert _files(live) == before


def test_twine_with_read_only_token_is_forbidden(
    live: LiveRegistry, clients: Clients, greet_dists, acme
) -> None:
    _, private, _, reader = acme
    result = clients.twine_upload(live.upload_url(private.id), reader, *greet_dists["1.0"],
                                  user="reader", check=False)
    assert result.returncode != 0
    assert "403" in result.stdout + result.stderr
    assert live.statuses("/packages/pypi") == {403}
    assert _files(live) == []


def _files(live: LiveRegistry) -> list[tuple[str, str, int]]:
    rows = live.registry.catalog.db.query(
        "SELECT file_name, sha256, size FROM package_files ORDER BY id")
    return [tuple(row.values()) for row in rows]


def _rebuilt(wheel: Path, tmp_path: Path) -> Path:
    """The same wheel with other bytes (a zip comment), as a rebuild would give."""
    target = tmp_path / "rebuilt" / wheel.name
    target.parent.mkdir()
    shutil.copy(wheel, target)
    with zipfile.ZipFile(target, "a") as archive:
        archive.comment = b"rebuilt"
    return target
