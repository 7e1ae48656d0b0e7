"""Trusted publishing's exchange at the host's root (pypireg/exchange.py): the audience, a
CI job's identity token minted into an upload token, every refusal a 422 with PyPI's code
and nothing minted, the minted token's reach and life, and its burning. Tokens come from
a real issuer over https (tests/oidc_issuer.py); tests/e2e/test_trusted_publishing.py
runs the real clients."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone
from typing import Any

import jwt
import pytest
import urllib3
from webtest import TestApp
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import pypireg
from pypireg.oidc import GITHUB_ISSUER, IssuerKeys

from .distributions import wheel_bytes, wheel_name
from .helpers import basic, multipart
from .oidc_issuer import Authority, Issuer, github_claims, gitlab_claims

UPLOAD = "/api/v4/projects/{}/packages/pypi"
MINT = "/_/oidc/mint-token"


@pytest.fixture
def registry(ca: Authority, issuer: Issuer) -> pypireg.Registry:
    """acme/tools and acme/other (private), acme/tools trusting the release workflow of
    GitHub's acme/tools in its pypi environment; GitHub's issuer is the test issuer."""
    registry = pypireg.create_app()
    registry.issuer_keys = IssuerKeys(urllib3.PoolManager(ca_certs=str(ca.ca_file)),
                                      locations={GITHUB_ISSUER: issuer.url})
    registry.create_group("acme", "private")
    for name in ("tools", "other"):
        registry.create_project(f"acme/{name}", "private")
    registry.add_publisher(registry.catalog.project("acme/tools"), kind="github",
                           repository="acme/tools", workflow="release.yml", environment="pypi")
    return registry


@pytest.fixture
def app(registry: pypireg.Registry) -> TestApp:
    return TestApp(pypireg.site(registry))


def github_token(issuer: Issuer, **changes: Any) -> str:
    """A token as GitHub Actions mints it for acme/tools's release.yml in pypi."""
    claims = {**github_claims(issuer), "iss": GITHUB_ISSUER}
    headers = changes.pop("headers", None)
    key = changes.pop("key", "rsa")
    lifetime = changes.pop("lifetime", 300)
    return issuer.token({**claims, **changes}, key=key, lifetime=lifetime, headers=headers)


def mint(app: TestApp, token: str, status: int = 200, path: str = MINT) -> dict[str, Any]:
    # As uv and the GitHub action send it: a JSON body, whatever the Content-Type says.
    return app.post(path, json.dumps({"token": token}), status=status).json


def upload(app: TestApp, secret: str, project: str = "acme%2Ftools", version: str = "1.0",
           status: int = 201) -> Any:
    fields = {":action": "file_upload", "protocol_version": "1", "name": "acme-lib",
              "version": version, "filetype": "bdist_wheel", "pyversion": "py3",
              "metadata_version": "2.1"}
    body, kind = multipart(fields, wheel_name("acme-lib", version),
                           wheel_bytes("acme-lib", version))
    return app.post(UPLOAD.format(project), body, headers={
        **basic(secret, "__token__"), "Content-Type": kind}, status=status)


def names(registry: pypireg.Registry, project: str = "acme/tools") -> list[str]:
    """The names of the packages a project holds."""
    found = registry.catalog.project(project)
    return [p.name for p in registry.catalog.list_packages([found.id])[0]]


def minted(registry: pypireg.Registry) -> list[Any]:
    return [t for t in registry.list_tokens() if t.kind == "publisher"]


# -- the audience --------------------------------------------------------------------------


def test_the_audience_is_forbidden_until_a_project_trusts_a_publisher(issuer) -> None:
    registry = pypireg.create_app(oidc_audience="pypi.acme.example")
    app = TestApp(pypireg.site(registry))
    refused = app.get("/_/oidc/audience", status=403)
    assert refused.json == {"message": "Trusted publishing functionality not enabled"}
    assert mint(app, "x.y.z", 422)["errors"] == [
        {"code": "not-enabled", "description": "Trusted publishing functionality not enabled"}]
    registry.create_group("acme")
    project = registry.create_project("acme/tools")
    registry.add_publisher(project, kind="gitlab", project_path="acme/tools",
                           ci_config_path=".gitlab-ci.yml")
    assert app.get("/_/oidc/audience").json == {"audience": "pypi.acme.example"}
    assert app.get("/_/oidc/audience").headers["Cache-Control"] == "no-store"
    registry.delete_namespace(project.path)  # a deleted project's publishers count for nothing
    app.get("/_/oidc/audience", status=403)


def test_the_routes_are_at_the_root_whatever_the_mount_point(registry) -> None:
    for prefix in ("/api/v4", "/", "/registry/api"):
        app = TestApp(pypireg.site(registry, api=prefix))
        assert app.get("/_/oidc/audience").json == {"audience": "pypireg"}
        app.get("/_/oidc/nothing-here", status=404)
    alone = TestApp(pypireg.token_exchange(registry))  # a host's own mount at its root
    assert alone.get("/_/oidc/audience").json == {"audience": "pypireg"}
    alone.get("/simple/", status=404)
    alone.get("/audience", status=404)
    # Or at /_/oidc, beside the registry under a prefix of the host's (docs/mounting.md).
    host = TestApp(DispatcherMiddleware(pypireg.mount(registry, "/elsewhere"), {
        "/pypi": registry, "/_/oidc": pypireg.token_exchange(registry)}))
    assert host.get("/_/oidc/audience").json == {"audience": "pypireg"}
    host.get("/_/oidc/mint-token", status=405)
    app = TestApp(pypireg.site(registry))
    assert app.get(MINT, status=405).headers["Allow"] == "POST"
    assert app.post("/_/oidc/audience", status=405).headers["Allow"] == "GET, HEAD"


# -- minting, and what the minted token may do ----------------------------------------------


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_a_github_token_becomes_an_upload_token_for_its_project(registry, app, issuer,
                                                                key) -> None:
    before = time.time()
    answer = mint(app, github_token(issuer, key=key))
    assert answer["success"] is True and set(answer) == {"success", "token", "expires"}
    assert before + 15 * 60 - 5 <= answer["expires"] <= time.time() + 15 * 60 + 1
    [token] = minted(registry)
    assert [f"{g.path}:{g.access}" for g in token.grants] == ["acme/tools:write"]
    assert token.name == "github acme/tools release.yml environment pypi"
    assert datetime.fromtimestamp(answer["expires"], timezone.utc).isoformat()[:19] == (
        token.expires_at or "")[:19]
    upload(app, answer["token"])
    assert names(registry) == ["acme-lib"]
    # Another project: may not even be read with it, so it is not there.
    upload(app, answer["token"], "acme%2Fother", status=404)
    app.get(UPLOAD.format("acme%2Ftools") + "/simple/acme-lib",
            headers=basic(answer["token"], "__token__"))


def test_every_upload_of_a_minted_token_is_audited_with_its_claims(registry, app,
                                                                   issuer) -> None:
    token = github_token(issuer)
    secret = mint(app, token)["token"]
    upload(app, secret)
    events = registry.audit_events(project=registry.catalog.project("acme/tools"))[0]
    published = next(e for e in events if e.event_name == "package_published")
    trusted = published.details["trusted_publishing"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert trusted["claims"]["repository"] == "acme/tools"
    assert {trusted["claims"][name] for name in ("sha", "run_id", "ref", "job_workflow_ref")} == {
        claims[name] for name in ("sha", "run_id", "ref", "job_workflow_ref")}
    assert trusted["publishers"] == [{"id": 1, "project": "acme/tools",
                                      "publisher": "github acme/tools release.yml environment"
                                                   " pypi"}]
    assert published.author_class == "TrustedPublisherToken"
    made = next(e for e in events if e.event_name == "trusted_publisher_token_minted")
    assert made.details["publisher_id"] == 1 and made.details["trusted_publishing"] == trusted
    assert token not in json.dumps([e.to_json() for e in events])  # never the token itself


def test_a_token_two_projects_trust_uploads_to_both(registry, app, issuer) -> None:
    registry.add_publisher(registry.catalog.project("acme/other"), kind="github",
                           repository="acme/tools", workflow="release.yml")
    secret = mint(app, github_token(issuer))["token"]
    [token] = minted(registry)
    assert sorted(g.path for g in token.grants) == ["acme/other", "acme/tools"]
    upload(app, secret)
    upload(app, secret, "acme%2Fother")
    # Each project's audit log names its own publisher, never the other project.
    for path in ("acme/tools", "acme/other"):
        events = registry.audit_events(project=registry.catalog.project(path))[0]
        for event in events:
            if "trusted_publishing" in event.details:
                assert [p["project"] for p in event.details["trusted_publishing"][
                    "publishers"]] == [path]


def test_a_publisher_removed_while_a_token_is_verified_gives_nothing(registry, app,
                                                                      issuer) -> None:
    project = registry.catalog.project("acme/tools")
    keys = registry.issuer_keys

    class Removing:
        """The issuer's keys, fetched while a maintainer removes the publisher."""

        def key(self, issuer_url: str, kid: str) -> Any:
            for publisher in registry.publishers(project):
                registry.remove_publisher(project, publisher.id)
            return keys.key(issuer_url, kid)

    registry.issuer_keys = Removing()
    refused = mint(app, github_token(issuer), 422)
    assert refused["errors"][0]["code"] == "invalid-publisher"
    assert minted(registry) == []


def test_a_gitlab_token_of_a_self_managed_gitlab(registry, app, issuer) -> None:
    registry.add_publisher(registry.catalog.project("acme/other"), kind="gitlab",
                           issuer=issuer.url, project_path="acme/other",
                           ci_config_path=".gitlab-ci.yml")
    answer = mint(app, issuer.token(gitlab_claims(issuer, project_path="acme/other")),
                  path="/_/oidc/github/mint-token")  # PyPI's first path takes any kind
    upload(app, answer["token"], "acme%2Fother")
    upload(app, answer["token"], status=404)


def test_a_minted_token_is_refused_once_it_expires(registry, app, issuer) -> None:
    secret = mint(app, github_token(issuer))["token"]
    [token] = minted(registry)
    registry.catalog.run("UPDATE tokens SET expires_at = ? WHERE id = ?",
                         ["2000-01-01T00:00:00.000Z", token.id])
    refused = upload(app, secret, status=401)
    assert "WWW-Authenticate" in refused.headers
    assert "mint a new one" in refused.json["message"]
    assert names(registry) == []


def test_the_lifetime_is_a_setting(ca, issuer) -> None:
    registry = pypireg.create_app(oidc_token_lifetime="2m")
    registry.issuer_keys = IssuerKeys(urllib3.PoolManager(ca_certs=str(ca.ca_file)),
                                      locations={GITHUB_ISSUER: issuer.url})
    registry.create_group("acme")
    registry.add_publisher(registry.create_project("acme/tools"), kind="github",
                           repository="acme/tools", workflow="release.yml")
    before = time.time()
    answer = mint(TestApp(pypireg.site(registry)), github_token(issuer))
    assert before + 119 <= answer["expires"] <= time.time() + 121
    for wrong in ("30s", "2d", "soon"):
        with pytest.raises(ValueError, match="oidc_token_lifetime"):
            pypireg.create_app(oidc_token_lifetime=wrong)
    with pytest.raises(ValueError, match="oidc_audience"):
        pypireg.create_app(oidc_audience="two words")


def test_a_minted_token_is_listed_revocable_and_never_rotated(registry, app, issuer) -> None:
    secret = mint(app, github_token(issuer))["token"]
    admin = registry.create_token("admin", ["*:admin"])
    listed = app.get("/api/v4/personal_access_tokens", headers=basic(admin)).json
    shown = next(t for t in listed if t["kind"] == "publisher")
    assert shown["trusted_publishing"]["claims"]["repository"] == "acme/tools"
    assert shown["grants"] == ["acme/tools:write"]
    refused = app.post(f"/api/v4/personal_access_tokens/{shown['id']}/rotate",
                       headers=basic(admin), status=400)
    assert "cannot be rotated" in refused.json["message"]
    refused = app.post("/api/v4/personal_access_tokens/self/rotate",
                       headers=basic(secret, "__token__"), status=400)
    assert "cannot be rotated" in refused.json["message"]
    app.delete(f"/api/v4/personal_access_tokens/{shown['id']}", headers=basic(admin),
               status=204)
    upload(app, secret, status=401)


def test_a_minted_token_may_upload_and_nothing_more(registry, app, issuer) -> None:
    secret = mint(app, github_token(issuer))["token"]
    publishers = "/api/v4/projects/acme%2Ftools/packages/pypi/trusted_publishers"
    app.post_json(publishers, {"kind": "github", "repository": "evil/repo",
                               "workflow": "x.yml"}, headers=basic(secret, "__token__"),
                  status=403)
    app.post_json("/api/v4/personal_access_tokens", {"name": "more", "grants": ["*:admin"]},
                  headers=basic(secret, "__token__"), status=403)
    upload(app, secret)
    package = registry.catalog.list_packages([registry.catalog.project("acme/tools").id])[0][0]
    app.delete(f"/api/v4/projects/acme%2Ftools/packages/{package.id}",
               headers=basic(secret, "__token__"), status=403)
    # Signed in as a password with any username, a bearer or PRIVATE-TOKEN; never as a
    # job token, nor on the web pages.
    app.get("/api/v4/personal_access_tokens/self", headers={"PRIVATE-TOKEN": secret})
    app.get("/api/v4/personal_access_tokens/self", headers={"Authorization": f"Bearer {secret}"})
    refused = app.get("/api/v4/personal_access_tokens/self", headers={"JOB-TOKEN": secret},
                      status=401)
    assert "trusted publishing" in refused.json["message"]
    assert registry.auth.sign_in(secret) is None


def test_a_registry_whose_auth_cannot_read_minted_tokens_mints_none(issuer) -> None:
    class HostAuth:
        def authenticate(self, request: Any) -> None:
            return None

        def permits(self, principal: Any, action: Any, project: Any) -> bool:
            return False

    registry = pypireg.create_app(auth=HostAuth())  # type: ignore[arg-type]
    registry.create_group("acme")
    registry.add_publisher(registry.create_project("acme/tools"), kind="github",
                           repository="acme/tools", workflow="release.yml")
    app = TestApp(pypireg.site(registry))
    app.get("/_/oidc/audience", status=403)
    assert mint(app, github_token(issuer), 422)["errors"][0]["code"] == "not-enabled"


def test_gc_forgets_minted_tokens_a_day_after_they_expire(registry, app, issuer) -> None:
    person = registry.create_token("someone", ["acme/tools:read"])
    mint(app, github_token(issuer))
    mint(app, github_token(issuer))
    kept, old = minted(registry)  # the newest expires
    registry.catalog.run("UPDATE tokens SET expires_at = ? WHERE id = ?",
                         ["2000-01-01T00:00:00.000Z", old.id])
    report = registry.collect_garbage()
    assert report.minted_tokens == 1 and "1 token of trusted publishing" in str(report)
    assert [t.id for t in minted(registry)] == [kept.id]
    assert registry.auth.sign_in(person) is not None
    mint(app, github_token(issuer))  # a new token never takes a forgotten one's id
    assert max(t.id for t in registry.list_tokens()) == old.id + 1


# -- burning -------------------------------------------------------------------------------


def test_burning_revokes_a_minted_token_and_answers_alike_for_any_other(registry, app,
                                                                        issuer) -> None:
    secret = mint(app, github_token(issuer))["token"]
    person = registry.create_token("someone", ["acme/tools:write"])
    answers = [app.post("/_/oidc/burn-token", body) for body in (
        json.dumps({"token": secret}), json.dumps({"token": secret}),
        json.dumps({"token": person}), json.dumps({"token": "pypireg-nothing"}), "not json",
        json.dumps({"token": 7}), "")]
    assert {(a.status_int, a.body) for a in answers} == {(200, b'{"success": true}')}
    assert app.post("/_/oidc/burn-token", "x" * 100_000).body == b'{"success": true}'
    upload(app, secret, status=401)
    upload(app, person)  # only a minted token burns
    events = registry.audit_events(project=registry.catalog.project("acme/tools"))[0]
    [burned] = [e for e in events if e.event_name == "token_revoked"]
    assert burned.details["kind"] == "publisher" and burned.details["grants"] == [
        "acme/tools:write"]
    assert burned.author_class == "TrustedPublisherToken"


# -- refusals: each a 422 with PyPI's code, and nothing minted -----------------------------


def _none_token(issuer: Issuer) -> str:
    claims = {**github_claims(issuer), "iss": GITHUB_ISSUER, "iat": int(time.time()),
              "exp": int(time.time()) + 300, "jti": "j-none"}
    return jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kids["rsa"]})


def _hs256_with_public_key(issuer: Issuer) -> str:
    """HS256 'signed' with the issuer's public key as the secret: a classic confusion."""
    from cryptography.hazmat.primitives import serialization

    public = issuer.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = {**github_claims(issuer), "iss": GITHUB_ISSUER, "iat": int(time.time()),
              "exp": int(time.time()) + 300, "jti": "j-hs"}
    segments = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
                for part in ({"alg": "HS256", "typ": "JWT", "kid": issuer.kids["rsa"]}, claims)]
    import hashlib
    import hmac

    signed = b".".join(segments)
    signature = base64.urlsafe_b64encode(
        hmac.new(public, signed, hashlib.sha256).digest()).rstrip(b"=")
    return (signed + b"." + signature).decode()


REFUSALS = {
    "wrong repository": (lambda i: github_token(i, repository="acme/fork", job_workflow_ref=(
        "acme/fork/.github/workflows/release.yml@refs/tags/v1.0")), "invalid-publisher"),
    "wrong workflow": (lambda i: github_token(i, job_workflow_ref=(
        "acme/tools/.github/workflows/ci.yml@refs/tags/v1.0")), "invalid-publisher"),
    "wrong environment": (lambda i: github_token(i, environment="staging"),
                          "invalid-publisher"),
    "pull_request_target": (lambda i: github_token(i, event_name="pull_request_target"),
                            "invalid-publisher"),
    "expired": (lambda i: github_token(i, iat=int(time.time()) - 600,
                                       exp=int(time.time()) - 60), "invalid-token"),
    "not yet valid": (lambda i: github_token(i, nbf=int(time.time()) + 120), "invalid-token"),
    "wrong audience": (lambda i: github_token(i, aud="pypi"), "invalid-token"),
    "several audiences": (lambda i: github_token(i, aud=["pypireg", "pypi"]), "invalid-token"),
    "unknown issuer": (lambda i: i.token(github_claims(i)), "invalid-payload"),
    "unknown kid": (lambda i: github_token(i, headers={"kid": "rotated-away"}),
                    "invalid-token"),
    "alg none": (_none_token, "invalid-token"),
    "HS256 with the public key": (_hs256_with_public_key, "invalid-token"),
    "not a JWT": (lambda i: "not-a-jwt", "invalid-payload"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_refused_identity_token_mints_nothing(registry, app, issuer, case) -> None:
    make, code = REFUSALS[case]
    answer = mint(app, make(issuer), 422)
    assert answer["message"] == "Token request failed"
    [error] = answer["errors"]
    assert error["code"] == code and error["description"]
    assert minted(registry) == []


def test_an_identity_token_is_taken_once(registry, app, issuer) -> None:
    token = github_token(issuer)
    mint(app, token)
    again = mint(app, token, 422)
    assert again["errors"][0]["code"] == "invalid-reuse-token"
    assert len(minted(registry)) == 1
    # Refusals of tokens whose signature held are in the audit log; a forged one only in
    # the log (anyone can send one).
    staging = github_token(issuer, environment="staging")
    for _ in range(3):  # the same refused token, again and again: audited once
        mint(app, staging, 422)
    mint(app, _none_token(issuer), 422)
    # A token of another repository, which anyone can have signed: not audited at all.
    stranger = github_token(issuer, repository="mallory/tools", job_workflow_ref=(
        "mallory/tools/.github/workflows/release.yml@refs/tags/v1.0"))
    mint(app, stranger, 422)
    refusals = [e for e in registry.audit_events()[0]
                if e.event_name == "trusted_publisher_token_refused"]
    assert sorted(e.details["code"] for e in refusals) == [
        "invalid-publisher", "invalid-reuse-token"]
    assert all(e.details["claims"]["repository"] == "acme/tools" for e in refusals)
    assert {e.entity_path for e in refusals} == {"acme/tools"}


def test_a_refusal_names_the_claim_of_the_tokens_own_publisher(registry, app, issuer) -> None:
    # Another project trusts another repository: the reason stays this one's.
    registry.add_publisher(registry.catalog.project("acme/other"), kind="github",
                           repository="acme/other", workflow="release.yml")
    refused = mint(app, github_token(issuer, environment="staging"), 422)
    assert "'environment'" in refused["errors"][0]["description"]


@pytest.mark.parametrize("body", ["", "not json", "[]", '{"token": 7}', '{"jwt": "a.b.c"}',
                                  '{"token": ""}', "[" * 30_000])
def test_a_body_without_a_token_is_an_invalid_payload(app, body) -> None:
    answer = app.post(MINT, body, status=422).json
    assert answer["errors"][0]["code"] == "invalid-payload"


def test_a_body_too_large_is_a_413(app, registry) -> None:
    app.post(MINT, json.dumps({"token": "x" * 40_000}), status=413)
    assert minted(registry) == []


def test_the_exchange_answers_only_trusted_hosts(ca, issuer) -> None:
    registry = pypireg.create_app(trusted_hosts=["pypi.acme.example"])
    app = TestApp(pypireg.site(registry), extra_environ={"HTTP_HOST": "evil.example"})
    app.get("/_/oidc/audience", status=400)
