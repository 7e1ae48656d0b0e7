"""Trusted publishing's checks (pypireg/oidc.py), against a real issuer: its discovery
document and keys over https with a test CA, tokens signed with its RSA and EC keys."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
import urllib3

from pypireg.models import TrustedPublisher
from pypireg.oidc import GITHUB_ISSUER, IssuerKeys, TokenRefused, token_id, verify

from .oidc_issuer import Authority, Issuer, authority, github_claims, gitlab_claims, serve

AUDIENCE = "pypireg"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def issuer(ca: Authority) -> Iterator[Issuer]:
    with serve(Issuer(), ca) as running:
        yield running


@pytest.fixture
def keys(ca: Authority) -> IssuerKeys:
    return IssuerKeys(urllib3.PoolManager(ca_certs=str(ca.ca_file)))


def github(running: Issuer, **fields: Any) -> TrustedPublisher:
    """A github publisher, its issuer the test issuer's (GitHub's own in life)."""
    return TrustedPublisher(**{"id": 1, "project_id": 7, "kind": "github", "issuer": running.url,
                               "repository": "acme/tools", "workflow": "release.yml",
                               "environment": "pypi", **fields})


def gitlab(running: Issuer, **fields: Any) -> TrustedPublisher:
    return TrustedPublisher(**{"id": 2, "project_id": 7, "kind": "gitlab", "issuer": running.url,
                               "project_path": "acme/tools", "ci_config_path": ".gitlab-ci.yml",
                               **fields})


def refused(token: str, publishers: list[TrustedPublisher], keys: IssuerKeys) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        verify(token, audience=AUDIENCE, publishers=publishers, keys=keys)
    return caught.value


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_a_github_token_of_the_publishers_workflow_is_accepted(issuer, keys, key) -> None:
    publisher = github(issuer)
    other = github(issuer, id=9, repository="acme/other")
    token = issuer.token(github_claims(issuer), key=key)
    found, claims = verify(token, audience=AUDIENCE, publishers=[other, publisher], keys=keys)
    assert found == publisher
    assert claims["repository"] == "acme/tools"
    assert token_id(claims, token) == f"jti:{claims['jti']}"


def test_github_names_match_in_any_case_and_the_environment_too(issuer, keys) -> None:
    publisher = github(issuer, repository="Acme/Tools", environment="PyPI",
                       repository_owner_id="131804563")
    token = issuer.token(github_claims(issuer, repository="acme/tools", environment="pypi"))
    assert verify(token, audience=AUDIENCE, publishers=[publisher], keys=keys)[0] == publisher


def test_a_publisher_bound_to_the_environment_is_preferred(issuer, keys) -> None:
    anywhere = github(issuer, id=3, environment="")
    bound = github(issuer, id=4, environment="pypi")
    token = issuer.token(github_claims(issuer, environment="pypi"))
    assert verify(token, audience=AUDIENCE, publishers=[anywhere, bound], keys=keys)[0] == bound


GITHUB_REFUSALS = {
    "wrong repository": ({"repository": "acme/other"}, "invalid-publisher", "'repository'"),
    "wrong workflow": ({"workflow": "ci.yml"}, "invalid-publisher", "'job_workflow_ref'"),
    "wrong environment": ({"environment": "staging"}, "invalid-publisher", "'environment'"),
    "no environment": ({"environment": None}, "invalid-publisher", "'environment'"),
    "pull_request_target": ({"event_name": "pull_request_target"}, "invalid-publisher",
                            "pull_request_target"),
    "a re-created owner": ({"owner_id": "999"}, "invalid-publisher", "'repository_owner_id'"),
    "wrong audience": ({"audience": "pypi"}, "invalid-token", "malformed or invalid token"),
    "several audiences": ({"audience": [AUDIENCE, "pypi"]}, "invalid-token",
                          "malformed or invalid token"),
}


@pytest.mark.parametrize("case", GITHUB_REFUSALS)
def test_github_refusals(issuer, keys, case) -> None:
    changes, code, words = GITHUB_REFUSALS[case]
    publisher = github(issuer, repository_owner_id="131804563")
    token = issuer.token(github_claims(issuer, **changes))
    found = refused(token, [publisher], keys)
    assert (found.code, words in found.description) == (code, True), found.description


def test_a_workflow_ref_at_another_ref_than_the_tokens_is_refused(issuer, keys) -> None:
    claims = github_claims(issuer)
    claims["job_workflow_ref"] = "acme/tools/.github/workflows/release.yml@refs/heads/evil"
    found = refused(issuer.token(claims), [github(issuer)], keys)
    assert found.code == "invalid-publisher"


@pytest.mark.parametrize("times, words", [
    ({"exp": -120, "iat": -420, "nbf": -420}, "expired"),
    ({"exp": 900, "iat": 300, "nbf": 300}, "not yet valid"),
])
def test_times_are_checked_with_a_small_leeway(issuer, keys, times, words) -> None:
    now = int(time.time())
    token = issuer.token({**github_claims(issuer), **{k: now + v for k, v in times.items()}})
    assert refused(token, [github(issuer)], keys).code == "invalid-token", words
    near = {k: now + (v // abs(v)) * 10 for k, v in times.items() if k == "nbf"}
    if near:  # ten seconds ahead of this clock is within the leeway
        token = issuer.token({**github_claims(issuer), **near})
        assert verify(token, audience=AUDIENCE, publishers=[github(issuer)], keys=keys)


def test_an_issuer_no_publisher_names_is_an_invalid_payload(issuer, keys) -> None:
    publisher = github(issuer, issuer=GITHUB_ISSUER)
    found = refused(issuer.token(github_claims(issuer)), [publisher], keys)
    assert (found.code, found.description) == ("invalid-payload",
                                               "unknown trusted publishing issuer")


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join([part(json.dumps(header).encode()), part(json.dumps(claims).encode()),
                     part(signature)])


def test_forged_tokens_are_refused(issuer, keys) -> None:
    now = int(time.time())
    claims = {**github_claims(issuer), "iss": issuer.url, "iat": now, "exp": now + 300,
              "jti": "forged"}
    publisher = github(issuer)
    # alg none, with the issuer's own key id
    assert refused(_unsigned({"alg": "none", "kid": issuer.kids["rsa"]}, claims),
                   [publisher], keys).code == "invalid-token"
    # HS256 with the issuer's public key as the secret (the key-confusion attack)
    public = issuer.rsa.public_key().public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).Encoding.PEM,
        __import__("cryptography.hazmat.primitives.serialization",
                   fromlist=["x"]).PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    import hmac

    head = _unsigned({"alg": "HS256", "kid": issuer.kids["rsa"], "typ": "JWT"}, claims)
    signing = head.rsplit(".", 1)[0]
    mac = hmac.new(public, signing.encode(), hashlib.sha256).digest()
    forged = f"{signing}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert refused(forged, [publisher], keys).code == "invalid-token"
    # RS256 header on the EC key's id, and a token signed by another key
    other = Issuer()
    other.url = issuer.url
    other.kids = dict(issuer.kids)
    assert refused(other.token(github_claims(issuer)), [publisher], keys).code == "invalid-token"
    # an unknown key id
    token = issuer.token(github_claims(issuer), headers={"kid": "nobody"})
    assert refused(token, [publisher], keys).code == "invalid-token"
    # tampered claims under a good signature
    good = issuer.token(github_claims(issuer)).split(".")
    body = json.loads(base64.urlsafe_b64decode(good[1] + "=="))
    body["repository"] = "acme/tools"
    body["environment"] = "pypi"
    body["job_workflow_ref"] = body["job_workflow_ref"].replace("release", "other")
    good[1] = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    assert refused(".".join(good), [publisher], keys).code == "invalid-token"


@pytest.mark.parametrize("token", [None, 42, "", "not a jwt", "a.b.c", "x" * 100_000,
                                   _unsigned({"alg": "RS256"}, {"sub": "no issuer"})])
def test_what_is_not_a_token_is_an_invalid_payload(keys, token) -> None:
    found = refused(token, [], keys)  # type: ignore[arg-type]
    assert (found.code, found.description) == ("invalid-payload", "malformed JWT")


def test_gitlab_self_managed_under_a_path_is_matched_with_its_own_host(ca, keys) -> None:
    with serve(Issuer(), ca, path="/gitlab") as issuer:
        assert issuer.url.endswith("/gitlab") and ":" in issuer.url.split("//")[1]
        publisher = gitlab(issuer, environment="production")
        token = issuer.token(gitlab_claims(issuer, environment="production"))
        assert verify(token, audience=AUDIENCE, publishers=[publisher], keys=keys)[0] == publisher
        claims = gitlab_claims(issuer)
        host = claims["ci_config_ref_uri"].split("/acme/")[0]
        assert host == issuer.url.removeprefix("https://")
        for change in ({"ci_config_ref_uri": claims["ci_config_ref_uri"].replace(
                            host, "gitlab.com")},
                       {"ci_config_ref_uri": claims["ci_config_ref_uri"].replace(
                           ".gitlab-ci.yml", "other.yml")},
                       {"sub": "project_path:acme/other:ref_type:tag:ref:v1.0"},
                       {"project_path": "acme/other"},
                       {"environment": "Production"},
                       {"sha": None}):
            token = issuer.token({**gitlab_claims(issuer, environment="production"), **change})
            assert refused(token, [publisher], keys).code == "invalid-publisher", change


def test_gitlab_paths_match_in_any_case(issuer, keys) -> None:
    publisher = gitlab(issuer, project_path="ACME/Tools")
    token = issuer.token(gitlab_claims(issuer, project_path="acme/tools"))
    assert verify(token, audience=AUDIENCE, publishers=[publisher], keys=keys)[0] == publisher


def test_an_oidc_publisher_wants_each_of_its_claims_exactly(issuer, keys) -> None:
    publisher = TrustedPublisher(id=5, project_id=7, kind="oidc", issuer=issuer.url,
                                 claims={"organization_slug": "acme", "pipeline_slug": "release",
                                         "build_branch_protected": "true"})
    claims = {"aud": AUDIENCE, "sub": "organization:acme:pipeline:release",
              "organization_slug": "acme", "pipeline_slug": "release",
              "build_branch_protected": True}
    assert verify(issuer.token(claims), audience=AUDIENCE, publishers=[publisher],
                  keys=keys)[0] == publisher
    for change in ({"pipeline_slug": "Release"}, {"organization_slug": None},
                   {"build_branch_protected": False}):
        token = issuer.token({**claims, **change})
        assert refused(token, [publisher], keys).code == "invalid-publisher", change
    empty = replace(publisher, claims={})
    assert refused(issuer.token(claims), [empty], keys).code == "invalid-publisher"


def test_a_token_without_jti_is_known_by_its_digest(issuer) -> None:
    token = issuer.token({"aud": AUDIENCE}, headers=None)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert token_id({k: v for k, v in claims.items() if k != "jti"}, token).startswith("sha256:")
    assert token_id({**claims, "jti": ""}, token) != token_id({**claims, "jti": ""}, token + "x")


def test_keys_are_fetched_again_for_an_unknown_kid_at_most_once_a_minute(ca, issuer) -> None:
    clock = [1000.0]
    keys = IssuerKeys(urllib3.PoolManager(ca_certs=str(ca.ca_file)), clock=lambda: clock[0])
    before = issuer.fetches
    assert keys.key(issuer.url, issuer.kids["rsa"]) is not None
    assert keys.key(issuer.url, issuer.kids["ec"]) is not None
    assert issuer.fetches == before + 1
    assert keys.key(issuer.url, "rotated") is None
    assert keys.key(issuer.url, "rotated") is None
    assert issuer.fetches == before + 1  # within the minute: not asked again
    clock[0] += 61
    assert keys.key(issuer.url, "rotated") is None
    assert issuer.fetches == before + 2


def test_an_issuer_whose_certificate_is_not_trusted_gives_no_keys(issuer) -> None:
    keys = IssuerKeys()  # the system's trust store: the test CA is not in it
    assert keys.key(issuer.url, issuer.kids["rsa"]) is None


def test_an_issuer_that_is_not_https_is_never_asked(tmp_path: Path) -> None:
    keys = IssuerKeys()
    assert keys.key("http://127.0.0.1:9/", "any") is None
