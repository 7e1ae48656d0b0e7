"""Real clients acting on what pypireg serves for supply-chain safety: ``uv audit`` reading
PEP 792 statuses, the cooldowns of uv (``--exclude-newer``, from JSON and from HTML) and
pip (``--uploaded-prior-to``, from JSON) reading upload times, and PEP 740 attestations
uploaded by twine and read back by pypi-simple."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from pypireg import mount

from .clients import Tripwire
from .live import BIN, PREFIX, Clients, LiveRegistry, run, serving

OLD = "2025-06-01T00:00:00.000Z"  # when 1.0 "was uploaded"
CUTOFF = "2026-01-01T00:00:00Z"  # between 1.0 and 2.0 (uploaded now)


def client_env(clients: Clients, tripwire: Tripwire) -> dict[str, str]:
    return {**clients.env, **tripwire.env}


def publish(live: LiveRegistry, clients: Clients, tripwire: Tripwire, *dists: Path) -> str:
    """The dists in a public project ``tools`` (uploaded by twine); its index URL."""
    live.registry.create_project("tools", "public")
    token = live.registry.create_token("ci", ["tools:write"])
    run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", live.upload_url("tools"), "-u", "__token__", "-p", token,
         *map(str, dists)], client_env(clients, tripwire))
    return live.index("tools")


# -- uv audit: PEP 792 statuses from the project's own index ------------------------------


@pytest.fixture
def osv() -> Iterator[tuple[str, list[dict]]]:
    """A vulnerability service that knows of none (OSV's batch query API, which uv audit
    asks): its URL, and the queries it was sent."""
    queries: list[dict] = []

    @Request.application
    def service(request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        queries.append(body)
        results = [{} for _ in body.get("queries", [])]
        return Response(json.dumps({"results": results}), mimetype="application/json")

    with serving(service) as url:
        yield url, queries


def test_uv_audit_reports_archived_and_quarantined_packages(
    live: LiveRegistry, clients: Clients, tripwire: Tripwire, greet_dists, dists, osv,
    tmp_path,
) -> None:
    index = publish(live, clients, tripwire, *greet_dists["1.0"], *dists["0.1.0"])
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "consumer"\nversion = "0.1.0"\nrequires-python = ">=3.8"\n'
        'dependencies = ["acme-greet", "my-package"]\n')
    env = client_env(clients, tripwire)
    del env["UV_NO_CONFIG"]  # the project's own settings apply
    run([str(BIN / "uv"), "lock", "--default-index", index], env, cwd=project)
    audit = [str(BIN / "uv"), "audit", "--frozen", "--service-url", osv[0],
             "--output-format", "json"]

    clean = json.loads(run(audit, env, cwd=project).stdout)
    assert clean["summary"] == {"audited_packages": 2, "vulnerabilities": 0,
                                "adverse_statuses": 0}
    registry = live.registry
    tools = registry.catalog.project("tools")
    registry.set_name_status(tools, "acme-greet", "archived", reason="moved to acme-hello")
    registry.set_name_status(tools, "my-package", "quarantined", reason="malware found")
    report = json.loads(run(audit, env, cwd=project).stdout)
    assert report["summary"]["adverse_statuses"] == 2
    assert sorted(report["adverse_statuses"], key=lambda s: s["name"]) == [
        {"name": "acme-greet", "status": "archived", "reason": "moved to acme-hello"},
        {"name": "my-package", "status": "quarantined", "reason": "malware found"}]
    assert {q["package"]["name"] for q in osv[1][-1]["queries"]} == {"acme-greet", "my-package"}


# -- cooldowns: upload times on both page forms -------------------------------------------


def backdate(live: LiveRegistry, version: str) -> None:
    """Make ``version``'s files look uploaded at :data:`OLD` (their pages change too)."""
    catalog = live.registry.catalog
    with catalog.write():
        catalog.run("UPDATE package_files SET created_at = ? WHERE file_name LIKE ?",
                    [OLD, f"acme_greet-{version}%"])
        catalog.bump_serial(catalog.project("tools").id)


def html_only(app):  # type: ignore[no-untyped-def]
    """``app`` as an index that serves HTML only, whatever the client asks for."""
    def html(environ, start_response):  # type: ignore[no-untyped-def]
        environ["HTTP_ACCEPT"] = "text/html"
        return app(environ, start_response)
    return html


def installed(clients: Clients, python: Path) -> str:
    return clients.greet(python).rsplit(" ", 1)[1]


def test_cooldowns_of_uv_and_pip_pick_the_older_version(
    live: LiveRegistry, clients: Clients, tripwire: Tripwire, greet_dists,
) -> None:
    index = publish(live, clients, tripwire, *greet_dists["1.0"], *greet_dists["2.0"])
    backdate(live, "1.0")
    env = client_env(clients, tripwire)
    pages = live.registry.catalog.file_links([live.registry.catalog.project("tools").id],
                                             "acme-greet")
    assert sorted({(link.version, link.upload_time == OLD) for link in pages}) == [
        ("1.0", True), ("2.0", False)]

    def uv(name: str, url: str, *extra: str) -> str:
        python = clients.new_venv(name)
        run([str(BIN / "uv"), "pip", "install", "--python", str(python), "--index-url", url,
             "--no-cache", *extra, "acme-greet"], env)
        return installed(clients, python)

    def pip(name: str, *extra: str) -> str:
        python = clients.new_venv(name)
        run([sys.executable, "-m", "pip", "--python", str(python), "install", "--index-url",
             index, *extra, "acme-greet"], env)
        return installed(clients, python)

    assert uv("uv-newest", index) == "2.0"
    assert uv("uv-json", index, "--exclude-newer", CUTOFF) == "1.0"
    with serving(html_only(mount(live.registry, PREFIX))) as html_base:
        html_index = live.index("tools").replace(live.url.removesuffix(PREFIX), html_base)
        assert uv("uv-html-newest", html_index) == "2.0"
        assert uv("uv-html", html_index, "--exclude-newer", CUTOFF) == "1.0"
    assert pip("pip-newest") == "2.0"
    assert pip("pip-json", "--uploaded-prior-to", CUTOFF) == "1.0"


# -- PEP 740: a real attestation, uploaded by twine, read back by pypi-simple -------------


def test_twine_uploads_attestations_and_pypi_simple_reads_the_provenance(
    live: LiveRegistry, clients: Clients, tripwire: Tripwire, tmp_path,
) -> None:
    from pypi_simple import PyPISimple

    fixtures = Path(__file__).parents[1] / "fixtures" / "attestations"
    sdist = "gitlab_oidc_project-0.0.3.tar.gz"
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in (sdist, f"{sdist}.publish.attestation"):
        shutil.copy(fixtures / name, dist / name)
    live.registry.create_project("tools", "public")
    token = live.registry.create_token("ci", ["tools:write"])
    # As `twine upload --attestations dist/*` runs: twine sends each DIST.*.attestation
    # given with its distribution.
    run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
         "--attestations", "--repository-url", live.upload_url("tools"), "-u", "__token__",
         "-p", token, *sorted(map(str, dist.iterdir()))], client_env(clients, tripwire))
    sent = json.loads((fixtures / f"{sdist}.publish.attestation").read_text())
    for accept in ("application/vnd.pypi.simple.v1+json", "text/html"):
        with PyPISimple(live.index("tools") + "/", accept=accept) as client:
            page = client.get_project_page("gitlab-oidc-project")
            assert page.repository_version == "1.4"
            (package,) = page.packages
            assert package.provenance_url == package.url.partition("#")[0] + "/provenance"
            provenance = client.get_provenance(package)
        (bundle,) = provenance["attestation_bundles"]
        assert bundle["publisher"]["kind"] == "GitLab"
        assert bundle["publisher"]["repository"] == "facutuesca/gitlab-oidc-project"
        assert bundle["attestations"] == [sent]


# -- refusals, as the uploading clients print them ----------------------------------------


def test_twine_and_uv_print_why_an_upload_is_refused(
    live: LiveRegistry, clients: Clients, tripwire: Tripwire, greet_dists,
) -> None:
    publish(live, clients, tripwire, *greet_dists["1.0"])
    registry = live.registry
    tools = registry.catalog.project("tools")
    registry.set_name_status(tools, "acme-greet", "archived", reason="moved to acme-hello")
    env = client_env(clients, tripwire)
    token = registry.create_token("dev", ["tools:write"])
    wheel = next(p for p in greet_dists["2.0"] if p.suffix == ".whl")

    def twine() -> str:
        result = run([str(BIN / "twine"), "upload", "--non-interactive",
                      "--disable-progress-bar", "--repository-url", live.upload_url("tools"),
                      "-u", "__token__", "-p", token, str(wheel)], env, check=False)
        assert result.returncode != 0
        return " ".join((result.stdout + result.stderr).split())

    def uv() -> str:
        result = run([str(BIN / "uv"), "publish", "--publish-url", live.upload_url("tools"),
                      "--username", "__token__", "--password", token, str(wheel)], env,
                     check=False)
        assert result.returncode != 0
        return " ".join((result.stdout + result.stderr).split())

    closed = "acme-greet is archived (moved to acme-hello): it takes no new files"
    assert closed in twine()
    assert closed in uv()
    registry.set_name_status(tools, "acme-greet", "active")
    rule = registry.add_protection_rule(tools, package_name_pattern="acme-*",
                                        package_type="pypi",
                                        minimum_access_level_for_push="maintainer")
    protected = (f"Package protected: acme-greet matches protection rule {rule.id}"
                 " ('acme-*') of tools: to push it takes the maintainer level or above")
    assert protected in twine()
    assert protected in uv()
    assert live.statuses("/packages/pypi") >= {400, 403}
