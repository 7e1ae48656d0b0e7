"""Trusted publishing with the real clients (docs/trusted-publishing.md): ``uv publish
--trusted-publishing always`` in GitHub Actions' environment and in GitLab CI's, and the
exchange of pypa/gh-action-pypi-publish (tests/e2e/gh_action_exchange.py) before twine,
each against the registry over https and a test OIDC issuer (tests/oidc_issuer.py); pip
then installs what they uploaded."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import urllib3

import pypireg
from pypireg.oidc import GITHUB_ISSUER, IssuerKeys

from ..oidc_issuer import Authority, Issuer, github_claims, gitlab_claims, https
from .live import BIN, Clients, run

PROJECT = "acme/tools"
EXCHANGE = Path(__file__).with_name("gh_action_exchange.py")


@dataclass
class Served:
    registry: pypireg.Registry
    url: str  # https://127.0.0.1:PORT
    reader: str  # a token that reads acme/tools

    @property
    def upload_url(self) -> str:
        return f"{self.url}/api/v4/projects/acme%2Ftools/packages/pypi"

    def index(self) -> str:
        return self.upload_url.replace("https://", f"https://__token__:{self.reader}@") + "/simple"

    def files(self) -> list[str]:
        project = self.registry.catalog.project(PROJECT)
        packages = self.registry.catalog.list_packages([project.id])[0]
        return sorted(f.file_name for p in packages
                      for f in self.registry.catalog.package_files(p.id, limit=100, offset=0)[0])

    def minted(self) -> list[pypireg.auth.TokenRecord]:
        return [t for t in self.registry.list_tokens() if t.kind == "publisher"]


def _served(tmp_path: Path, ca: Authority, issuer: Issuer, **settings: str
            ) -> Iterator[Served]:
    registry = pypireg.create_app(tmp_path / "data", **settings)
    # GitHub's issuer is the test issuer: its keys are fetched there.
    registry.issuer_keys = IssuerKeys(urllib3.PoolManager(ca_certs=str(ca.ca_file)),
                                      locations={GITHUB_ISSUER: issuer.url})
    registry.create_group("acme", "private")
    registry.create_project(PROJECT, "private")
    reader = registry.create_token("reader", [f"{PROJECT}:read"])
    with https(pypireg.site(registry), ca) as port:
        yield Served(registry, f"https://127.0.0.1:{port}", reader)


@pytest.fixture
def served(tmp_path: Path, ca: Authority, issuer: Issuer) -> Iterator[Served]:
    """acme/tools over https, trusting GitHub's acme/tools release.yml in pypi."""
    for found in _served(tmp_path, ca, issuer):
        found.registry.add_publisher(found.registry.catalog.project(PROJECT), kind="github",
                                     repository="acme/tools", workflow="release.yml",
                                     environment="pypi")
        yield found


def ci_env(clients: Clients, ca: Authority, **variables: str) -> dict[str, str]:
    """A clean client environment that trusts the test CA, in no CI but the one given."""
    env = {name: value for name, value in clients.env.items()
           if not name.startswith(("GITHUB_", "GITLAB_", "ACTIONS_", "CI"))
           and not name.endswith("_ID_TOKEN")}
    return {**env, "SSL_CERT_FILE": str(ca.ca_file), "REQUESTS_CA_BUNDLE": str(ca.ca_file),
            **variables}


def github_env(clients: Clients, ca: Authority, issuer: Issuer, **claims: str
               ) -> dict[str, str]:
    """GitHub Actions' environment for a job of acme/tools's release.yml in pypi, its
    identity tokens asked of the test issuer (with ``claims`` changed)."""
    issuer.actions_claims = {**github_claims(issuer), "iss": GITHUB_ISSUER, **claims}
    return ci_env(clients, ca, GITHUB_ACTIONS="true",
                  ACTIONS_ID_TOKEN_REQUEST_URL=f"{issuer.url}/actions-token?api-version=2.0",
                  ACTIONS_ID_TOKEN_REQUEST_TOKEN=issuer.actions_secret,
                  GITHUB_STEP_SUMMARY=os.devnull)


def uv_publish(served: Served, env: dict[str, str], files: list[Path], check: bool = True):
    return run([str(BIN / "uv"), "publish", "--trusted-publishing", "always",
                "--publish-url", served.upload_url, *map(str, files)], env, check)


def installs(served: Served, clients: Clients, ca: Authority, version: str) -> None:
    """pip installs Acme.Greet from acme/tools, and it runs as that version."""
    python = clients.new_venv("installed")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--cert",
         str(ca.ca_file), "--index-url", served.index(), f"acme.greet=={version}"],
        ci_env(clients, ca))
    assert clients.greet(python) == f"hello from acme.greet {version}"


def test_uv_publishes_from_github_actions_with_no_stored_secret(served, clients, ca, issuer,
                                                                 greet_dists) -> None:
    result = uv_publish(served, github_env(clients, ca, issuer), greet_dists["1.0"])
    assert served.files() == sorted(path.name for path in greet_dists["1.0"])
    [token] = served.minted()
    # uv burns the token once it has published.
    assert token.revoked, f"uv did not burn its token: {result.stderr}"
    installs(served, clients, ca, "1.0")
    events = served.registry.audit_events()[0]
    published = [e for e in events if e.event_name == "package_published"]
    assert len(published) == 2 and all(
        e.details["trusted_publishing"]["claims"]["job_workflow_ref"]
        == "acme/tools/.github/workflows/release.yml@refs/tags/v1.0" for e in published)


def test_uv_publishes_from_gitlab_ci_with_the_audiences_variable(tmp_path, clients, ca, issuer,
                                                                  greet_dists) -> None:
    # A registry's own audience names the variable the job's id_tokens: entry sets.
    for served in _served(tmp_path, ca, issuer, oidc_audience="pypi.acme.example"):
        served.registry.add_publisher(
            served.registry.catalog.project(PROJECT), kind="gitlab", issuer=issuer.url,
            project_path="acme/tools", ci_config_path=".gitlab-ci.yml")
        token = issuer.token(gitlab_claims(issuer, audience="pypi.acme.example"))
        env = ci_env(clients, ca, GITLAB_CI="true", PYPI_ACME_EXAMPLE_ID_TOKEN=token)
        uv_publish(served, env, greet_dists["2.0"])
        assert served.files() == sorted(path.name for path in greet_dists["2.0"])
        installs(served, clients, ca, "2.0")
        # The same identity token again: refused, and uv says why.
        again = uv_publish(served, env, greet_dists["1.0"], check=False)
        assert again.returncode != 0 and "invalid-reuse-token" in again.stderr
        assert not any("1.0" in name for name in served.files())


def test_the_github_actions_exchange_then_twine(served, clients, ca, issuer,
                                                greet_dists) -> None:
    env = {**github_env(clients, ca, issuer), "INPUT_REPOSITORY_URL": served.upload_url}
    token = run([sys.executable, str(EXCHANGE)], env).stdout.strip().splitlines()[-1]
    run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", served.upload_url, "--cert", str(ca.ca_file), "-u", "__token__",
         "-p", token, *map(str, greet_dists["1.0"])], ci_env(clients, ca))
    assert served.files() == sorted(path.name for path in greet_dists["1.0"])
    installs(served, clients, ca, "1.0")


@pytest.mark.parametrize("claims, code", [
    ({"job_workflow_ref": "acme/tools/.github/workflows/ci.yml@refs/tags/v1.0"},
     "invalid-publisher"),
    ({"event_name": "pull_request_target"}, "invalid-publisher"),
    ({"environment": "staging"}, "invalid-publisher"),
])
def test_the_clients_say_why_a_token_was_refused(served, clients, ca, issuer, greet_dists,
                                                 claims, code) -> None:
    refused = uv_publish(served, github_env(clients, ca, issuer, **claims), greet_dists["1.0"],
                         check=False)
    assert refused.returncode != 0 and code in refused.stderr, refused.stderr
    env = {**github_env(clients, ca, issuer, **claims), "INPUT_REPOSITORY_URL": served.upload_url}
    action = run([sys.executable, str(EXCHANGE)], env, check=False)
    assert action.returncode == 1 and f"* `{code}`:" in action.stderr
    assert served.files() == [] and served.minted() == []


def test_a_registry_without_publishers_says_trusted_publishing_is_off(tmp_path, clients, ca,
                                                                       issuer, greet_dists
                                                                       ) -> None:
    for served in _served(tmp_path, ca, issuer):
        env = {**github_env(clients, ca, issuer), "INPUT_REPOSITORY_URL": served.upload_url}
        action = run([sys.executable, str(EXCHANGE)], env, check=False)
        assert "has trusted publishing disabled" in action.stderr
        refused = uv_publish(served, github_env(clients, ca, issuer), greet_dists["1.0"],
                             check=False)
        assert refused.returncode != 0 and "403" in refused.stderr
        assert served.files() == []
