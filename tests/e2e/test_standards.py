"""Real pip and uv against PEP 658 metadata, PEP 592 yanks and upstream forwarding."""

from __future__ import annotations

import sys

import pypireg

from .live import BIN, Clients, LiveRegistry, run, serving


def publish(live: LiveRegistry, clients: Clients, greet_dists) -> str:  # type: ignore[no-untyped-def]
    live.registry.create_project("tools", "public")
    token = live.registry.create_token("ci", ["tools:write"])
    clients.twine_upload(live.upload_url("tools"), token, *greet_dists["1.0"],
                         *greet_dists["2.0"])
    live.log.clear()
    return live.index("tools")


def fetched(live: LiveRegistry, suffix: str) -> list[str]:
    return [path for method, path, status in live.log
            if method == "GET" and status == 200 and path.endswith(suffix)]


def test_pip_resolves_from_metadata_without_downloading_wheels(
    live: LiveRegistry, clients: Clients, greet_dists, tmp_path
) -> None:
    index = publish(live, clients, greet_dists)
    python = clients.new_venv("env")
    report = tmp_path / "report.json"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run",
         "--report", str(report), "--index-url", index, "acme-greet"], clients.env)
    assert '"version": "2.0"' in report.read_text()
    assert [p.rsplit("/", 1)[1] for p in fetched(live, ".metadata")] == [
        "acme_greet-2.0-py3-none-any.whl.metadata"]
    assert fetched(live, ".whl") == []  # no wheel was downloaded to learn its metadata


def test_uv_compiles_from_metadata_without_downloading_wheels(
    live: LiveRegistry, clients: Clients, greet_dists, tmp_path
) -> None:
    index = publish(live, clients, greet_dists)
    requirements = tmp_path / "requirements.in"
    requirements.write_text("acme-greet\n")
    result = run([str(BIN / "uv"), "pip", "compile", str(requirements), "--index-url", index,
                  "--python", sys.executable], clients.env)
    assert "acme-greet==2.0" in result.stdout
    assert fetched(live, ".metadata") != []
    assert fetched(live, ".whl") == []


def test_pip_and_uv_skip_a_yanked_version_unless_pinned(
    live: LiveRegistry, clients: Clients, greet_dists
) -> None:
    index = publish(live, clients, greet_dists)
    live.registry.yank("tools", "acme-greet", "2.0", reason="use 1.0")
    with_pip = clients.new_venv("pip-env")
    clients.pip_install(with_pip, index, "acme-greet")
    assert clients.greet(with_pip) == "hello from acme.greet 1.0"
    pinned = clients.new_venv("pip-pinned")
    result = clients.pip_install(pinned, index, "acme-greet==2.0")
    assert clients.greet(pinned) == "hello from acme.greet 2.0"
    assert "use 1.0" in result.stdout + result.stderr  # pip warns with the reason
    with_uv = clients.new_venv("uv-env")
    clients.uv_install(with_uv, index, "acme-greet")
    assert clients.greet(with_uv) == "hello from acme.greet 1.0"
    uv_pinned = clients.new_venv("uv-pinned")
    clients.uv_install(uv_pinned, index, "acme-greet==2.0")
    assert clients.greet(uv_pinned) == "hello from acme.greet 2.0"


def test_pip_installs_through_forwarding_to_another_registry(
    tmp_path, clients: Clients, greet_dists
) -> None:
    upstream = pypireg.create_app(tmp_path / "upstream")
    upstream.create_project("public-mirror", "public")
    token = upstream.create_token("ci", ["public-mirror:write"])
    with serving(upstream) as upstream_root:
        clients.twine_upload(f"{upstream_root}/projects/public-mirror/packages/pypi", token,
                             *greet_dists["1.0"])
        simple = f"{upstream_root}/projects/public-mirror/packages/pypi/simple/"
        local = pypireg.create_app(tmp_path / "local", upstream=simple)
        local.create_project("tools", "public")
        with serving(local) as local_root:
            python = clients.new_venv("env")
            clients.pip_install(
                python, f"{local_root}/projects/tools/packages/pypi/simple", "acme-greet")
            assert clients.greet(python) == "hello from acme.greet 1.0"
    # The file came from the upstream registry; the local one holds nothing.
    upstream.downloads.flush()
    (row,) = upstream.catalog.db.query("SELECT last_downloaded_at FROM packages")
    assert row["last_downloaded_at"] is not None
    assert local.catalog.db["packages"].count == 0
