"""Group indexes with real pip and uv, and the Packages API around real uploads."""

from __future__ import annotations

import json
import urllib.request

from .live import Clients, LiveRegistry, live_keys


def api(live: LiveRegistry, path: str, token: str, method: str = "GET"):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(
        f"{live.url}{path}", method=method, headers={"PRIVATE-TOKEN": token})
    with urllib.request.urlopen(request) as response:
        body = response.read()
        return response.status, dict(response.headers), json.loads(body) if body else None


def test_pip_and_uv_install_through_a_group_seeing_only_readable_projects(
    live: LiveRegistry, clients: Clients, greet_dists
) -> None:
    registry = live.registry
    registry.create_group("acme", "public")
    registry.create_group("acme/team", "private")
    registry.create_project("acme/team/stable", "private")
    registry.create_project("acme/team/next", "private")
    writer = registry.create_token("ci", ["acme:write"])
    stable_only = registry.create_token("stable", ["acme/team/stable:read"], kind="deploy")
    clients.twine_upload(live.upload_url("acme/team/stable"), writer, *greet_dists["1.0"])
    clients.twine_upload(live.upload_url("acme/team/next"), writer, *greet_dists["2.0"])

    index = f"{live.url}/groups/acme/-/packages/pypi/simple".replace(
        "http://", f"http://stable:{stable_only}@")
    with_pip = clients.new_venv("pip-env")
    clients.pip_install(with_pip, index, "acme-greet")
    # 2.0 lives in a project this token cannot read, so the group never shows it.
    assert clients.greet(with_pip) == "hello from acme.greet 1.0"
    with_uv = clients.new_venv("uv-env")
    clients.uv_install(with_uv, index.replace("/groups/acme/", "/groups/acme%2Fteam/"),
                       "acme-greet")
    assert clients.greet(with_uv) == "hello from acme.greet 1.0"

    everything = f"{live.url}/groups/acme/-/packages/pypi/simple".replace(
        "http://", f"http://__token__:{writer}@")
    latest = clients.new_venv("latest")
    clients.pip_install(latest, everything, "acme-greet")
    assert clients.greet(latest) == "hello from acme.greet 2.0"


def test_upload_inspect_delete_through_the_api(
    live: LiveRegistry, clients: Clients, greet_dists
) -> None:
    registry = live.registry
    registry.create_project("tools", "private")
    token = registry.create_token("admin", ["tools:delete"])
    clients.twine_upload(live.upload_url("tools"), token, *greet_dists["1.0"],
                         *greet_dists["2.0"])
    # Four files, and the core metadata of each (some identical, so stored once).
    assert registry.catalog.db["package_files"].count == 4
    assert registry.storage.keys() == live_keys(registry)  # type: ignore[attr-defined]
    assert len(live_keys(registry)) > 4

    status, headers, packages = api(live, "/projects/tools/packages?order_by=version", token)
    assert status == 200 and headers["X-Total"] == "2"
    assert [(p["name"], p["version"]) for p in packages] == [
        ("Acme.Greet", "1.0"), ("Acme.Greet", "2.0")]
    old, new = packages
    assert old["_links"]["delete_api_path"] == f"{live.url}/projects/1/packages/{old['id']}"
    _, _, detail = api(live, f"/projects/tools/packages/{new['id']}", token)
    assert [v["version"] for v in detail["versions"]] == ["1.0"]
    _, _, files = api(live, f"/projects/tools/packages/{new['id']}/package_files", token)
    by_name = {f["file_name"]: f for f in files}
    for dist in greet_dists["2.0"]:
        assert by_name[dist.name]["size"] == dist.stat().st_size

    # Delete 2.0's wheel. Its sdist stays, but pip restricted to wheels now finds 1.0 only.
    wheel = next(f for f in files if f["file_name"].endswith(".whl"))
    status, _, _ = api(live, f"/projects/tools/packages/{new['id']}/package_files/{wheel['id']}",
                       token, "DELETE")
    assert status == 204
    index = live.index("tools", token)
    python = clients.new_venv("after-file-delete")
    clients.pip_install(python, index, "--only-binary", ":all:", "acme-greet")
    assert clients.greet(python) == "hello from acme.greet 1.0"

    # Delete the 1.0 package: nothing installable is left as a wheel.
    status, _, _ = api(live, f"/projects/tools/packages/{old['id']}", token, "DELETE")
    assert status == 204
    python = clients.new_venv("after-package-delete")
    result = clients.pip_install(python, index, "--only-binary", ":all:", "acme-greet",
                                 check=False)
    assert result.returncode != 0
    assert "from versions: none" in result.stderr
    _, _, left = api(live, "/projects/tools/packages", token)
    assert [p["version"] for p in left] == ["2.0"]

    # The deleted files' blobs are gone: what is left is the 2.0 sdist and its metadata.
    sdist = next(p for p in greet_dists["2.0"] if p.name.endswith(".tar.gz"))
    left = registry.storage.keys()  # type: ignore[attr-defined]
    assert left == live_keys(registry)
    assert any(key.endswith(by_name[sdist.name]["file_sha256"]) for key in left)
    assert len(left) == 2
