"""Trusted publishing's checks (pypireg/oidc.py), against a real issuer: its discovery
document and keys over https with a test CA, tokens signed with its RSA and EC keys."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
import urllib3

from pypireg.models import TrustedPublisher
from pypireg.oidc import GITHUB_ISSUER, IssuerKeys, TokenRefused, token_id, verify

from .oidc_issuer import Authority, Issuer, github_claims, gitlab_claims, serve

AUDIENCE = "pypireg"


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
    assert found == [publisher]
    assert claims["repository"] == "acme/tools"
    assert token_id(issuer.url, claims, token) == f"{issuer.url} jti:{claims['jti']}"


def test_github_names_match_in_any_case_and_the_environment_too(issuer, keys) -> None:
    publisher = github(issuer, repository="Acme/Tools", environment="PyPI",
                       repository_owner_id="131804563")
    token = issuer.token(github_claims(issuer, repository="acme/tools", environment="pypi"))
    assert verify(token, audience=AUDIENCE, publishers=[publisher], keys=keys)[0] == [publisher]


def test_a_publisher_bound_to_the_environment_is_preferred(issuer, keys) -> None:
    anywhere = github(issuer, id=3, environment="")
    bound = github(issuer, id=4, environment="pypi")
    token = issuer.token(github_claims(issuer, environment="pypi"))
    assert verify(token, audience=AUDIENCE, publishers=[anywhere, bound], keys=keys)[0] == [bound]


def test_each_project_that_trusts_the_identity_gets_its_own_publisher(issuer, keys) -> None:
    """Another project naming the same workflow takes nothing from the first: each
    matching project is given (and, in each, the publisher bound to the environment)."""
    mine = github(issuer, id=1, project_id=7, environment="")
    theirs_any = github(issuer, id=2, project_id=8, environment="")
    theirs_bound = github(issuer, id=3, project_id=8, environment="pypi")
    token = issuer.token(github_claims(issuer, environment="pypi"))
    found = verify(token, audience=AUDIENCE, publishers=[theirs_bound, mine, theirs_any],
                   keys=keys)[0]
    assert found == [mine, theirs_bound]


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


@pytest.mark.parametrize("times, accepted", [
    ({"exp": -40, "iat": -340, "nbf": -340}, False),  # expired 40 s ago: past the leeway
    ({"exp": -20, "iat": -320, "nbf": -320}, True),  # expired 20 s ago: within it
    ({"nbf": 40, "iat": 40, "exp": 340}, False),  # valid in 40 s
    ({"nbf": 20, "iat": 20, "exp": 320}, True),  # valid in 20 s: a clock that is ahead
])
def test_times_are_checked_with_a_small_leeway(issuer, keys, times, accepted) -> None:
    now = int(time.time())
    token = issuer.token({**github_claims(issuer), **{k: now + v for k, v in times.items()}})
    if accepted:
        assert verify(token, audience=AUDIENCE, publishers=[github(issuer)], keys=keys)[0]
    else:
        assert refused(token, [github(issuer)], keys).code == "invalid-token"


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
    # signed by another key under the issuer's key id
    other = Issuer()
    other.url = issuer.url
    other.kids = dict(issuer.kids)
    assert refused(other.token(github_claims(issuer)), [publisher], keys).code == "invalid-token"
    # RS256 claimed over the EC key's id (and ES256 over the RSA key's)
    for signer, kid in (("rsa", issuer.kids["ec"]), ("ec", issuer.kids["rsa"])):
        token = issuer.token(github_claims(issuer), key=signer, headers={"kid": kid})
        assert refused(token, [publisher], keys).code == "invalid-token"
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
        assert verify(token, audience=AUDIENCE, publishers=[publisher], keys=keys)[0] == [publisher]
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
    assert verify(token, audience=AUDIENCE, publishers=[publisher], keys=keys)[0] == [publisher]


def test_an_oidc_publisher_wants_each_of_its_claims_exactly(issuer, keys) -> None:
    publisher = TrustedPublisher(id=5, project_id=7, kind="oidc", issuer=issuer.url,
                                 claims={"organization_slug": "acme", "pipeline_slug": "release",
                                         "build_branch_protected": "true"})
    claims = {"aud": AUDIENCE, "sub": "organization:acme:pipeline:release",
              "organization_slug": "acme", "pipeline_slug": "release",
              "build_branch_protected": True}
    assert verify(issuer.token(claims), audience=AUDIENCE, publishers=[publisher],
                  keys=keys)[0] == [publisher]
    for change in ({"pipeline_slug": "Release"}, {"organization_slug": None},
                   {"build_branch_protected": False}):
        token = issuer.token({**claims, **change})
        assert refused(token, [publisher], keys).code == "invalid-publisher", change
    empty = replace(publisher, claims={})
    assert refused(issuer.token(claims), [empty], keys).code == "invalid-publisher"


def test_a_token_without_jti_is_known_by_what_it_signed(issuer, keys) -> None:
    """ES256 signatures can be written two ways (s and n - s) for the same claims: both
    verify, and both are the same token to the registry."""
    from cryptography.hazmat.primitives.asymmetric import ec as curves

    publisher = TrustedPublisher(id=5, project_id=7, kind="oidc", issuer=issuer.url,
                                 claims={"pipeline_slug": "release"})
    token = issuer.token({"aud": AUDIENCE, "pipeline_slug": "release", "jti": None}, key="ec")
    head, body, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's order
    assert isinstance(issuer.ec.curve, curves.SECP256R1)
    other = r.to_bytes(32, "big") + (n - s).to_bytes(32, "big")
    twin = f"{head}.{body}.{base64.urlsafe_b64encode(other).rstrip(b'=').decode()}"
    assert twin != token
    claims = verify(token, audience=AUDIENCE, publishers=[publisher], keys=keys)[1]
    assert verify(twin, audience=AUDIENCE, publishers=[publisher], keys=keys)[0] == [publisher]
    assert "jti" not in claims
    assert token_id(issuer.url, claims, twin) == token_id(issuer.url, claims, token)
    assert token_id(issuer.url, claims, token).startswith(f"{issuer.url} sha256:")
    other_token = issuer.token({"aud": AUDIENCE, "pipeline_slug": "release", "jti": None},
                               key="ec", lifetime=301)
    assert token_id(issuer.url, claims, other_token) != token_id(issuer.url, claims, token)


def test_github_and_gitlab_tokens_need_a_jti(issuer, keys) -> None:
    token = issuer.token({**github_claims(issuer), "jti": None})
    found = refused(token, [github(issuer)], keys)
    assert (found.code, "'jti'" in found.description) == ("invalid-publisher", True)
    token = issuer.token({**gitlab_claims(issuer), "jti": None})
    assert refused(token, [gitlab(issuer)], keys).code == "invalid-publisher"


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


def test_ssl_cert_file_is_honoured(issuer, ca, monkeypatch) -> None:
    # As a registry is told of a self-managed GitLab's private CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    assert IssuerKeys().key(issuer.url, issuer.kids["rsa"]) is not None


class Recording:
    """A pool that notes what it was asked, and answers nothing."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def request(self, method: str, url: str, **options: Any) -> Any:
        self.asked.append(url)
        raise urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]


def test_an_issuer_that_is_not_https_is_never_asked() -> None:
    pool = Recording()
    keys = IssuerKeys(pool)  # type: ignore[arg-type]
    assert keys.key("http://127.0.0.1:9", "any") is None
    assert pool.asked == []
    assert keys.key("https://127.0.0.1:9", "any") is None
    assert pool.asked == ["https://127.0.0.1:9/.well-known/openid-configuration"]


def test_requests_that_arrive_while_keys_are_fetched_wait_for_that_fetch(ca) -> None:
    import threading

    with serve(Issuer(), ca) as slow:
        slow.pause = 0.3  # long enough for the others to arrive while it is fetched
        keys = IssuerKeys(urllib3.PoolManager(ca_certs=str(ca.ca_file)))
        start = threading.Barrier(4)
        found: list[Any] = []

        def ask() -> None:
            start.wait()
            found.append(keys.key(slow.url, slow.kids["rsa"]))

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(found) == 4 and all(key is not None for key in found)
        assert slow.fetches == 1


def test_an_issuer_that_trickles_its_keys_is_given_up_on_in_time(ca) -> None:
    with serve(Issuer(), ca) as slow:
        slow.trickle = 0.2  # a key set of a few hundred bytes: over a minute
        keys = IssuerKeys(urllib3.PoolManager(ca_certs=str(ca.ca_file)), fetch_time=1.0)
        started = time.monotonic()
        assert keys.key(slow.url, slow.kids["rsa"]) is None
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("key_set", [
    b'{"keys": 5}', b'[1, 2]', b"[" * 200_000, b"not json", b'{"keys": [5, {"kid": 1}]}',
    b"{}" + b" " * (2 << 20),
])
def test_a_broken_key_set_gives_no_keys_and_no_error(ca, key_set) -> None:
    with serve(Issuer(), ca) as broken:
        broken.key_set = key_set
        keys = IssuerKeys(urllib3.PoolManager(ca_certs=str(ca.ca_file)))
        assert keys.key(broken.url, broken.kids["rsa"]) is None


def test_a_private_key_in_a_key_set_is_passed_over(ca) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys

    with serve(Issuer(), ca) as careless:
        private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(
            rsa_keys.generate_private_key(public_exponent=65537, key_size=2048)))
        good = careless.jwks()["keys"]
        careless.key_set = json.dumps({"keys": [{**private, "kid": "private"}, *good]}).encode()
        keys = IssuerKeys(urllib3.PoolManager(ca_certs=str(ca.ca_file)))
        assert keys.key(careless.url, "private") is None
        assert keys.key(careless.url, careless.kids["ec"]) is not None
