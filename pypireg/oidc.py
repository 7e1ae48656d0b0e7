"""Trusted publishing's checks (docs/trusted-publishing.md): a CI job's OIDC identity
token, verified against its issuer's keys and matched with the publishers projects trust.

A token is refused as PyPI refuses it, with PyPI's error codes (:class:`TokenRefused`):
``invalid-payload`` when it is no JWT or names an issuer no publisher names,
``invalid-token`` when its signature or its times, audience or issuer do not hold, and
``invalid-publisher`` when it is valid but no publisher matches its claims. Only RS256 and
ES256 signatures count (never ``none``, never an HMAC, whatever the token's header says);
``aud`` must be exactly the registry's audience, a single string; ``exp``, ``iat`` and
``nbf`` hold with :data:`LEEWAY` seconds of slack.

The claims are matched as PyPI matches them, for each kind of publisher:

- ``github``: ``repository`` (any case), ``repository_owner_id`` when the publisher has
  one, ``job_workflow_ref`` naming the workflow file at the token's ``ref`` or ``sha``,
  ``environment`` (any case) when the publisher has one, and never a workflow run by
  ``pull_request_target``;
- ``gitlab``: ``sub`` and ``project_path`` (any case), ``ci_config_ref_uri`` naming the
  CI file at the token's ``ref_path`` or ``sha``, written with the issuer's own host (its
  port and path too, as GitLab writes them), ``environment`` (exactly) when the publisher
  has one;
- ``oidc``: every claim the publisher lists, exactly.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import jwt
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .exceptions import PypiregError
from .models import TrustedPublisher

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
KINDS = ("github", "gitlab", "oidc")
ALGORITHMS = ("RS256", "ES256")
LEEWAY = 30  # seconds of clock skew allowed on exp, iat and nbf, as PyPI allows
KEYS_COOLDOWN = 60.0  # seconds between fetches of an issuer's keys for an unknown kid
KEYS_MAX_AGE = 3600.0  # seconds an issuer's keys are used before they are fetched again
FETCH_TIME = 10.0  # seconds, in all, to fetch an issuer's discovery document and keys
MAX_DOCUMENT = 1 << 20  # bytes of a discovery document or a key set
MAX_TOKEN = 16 * 1024  # characters of an identity token
MAX_CLAIM = 255  # characters of a claim the audit log keeps
AUDITED_CLAIMS = (  # GitHub's, GitLab's and most issuers' names of what ran, where, when
    "iss", "sub", "repository", "repository_owner_id", "job_workflow_ref", "project_path",
    "ci_config_ref_uri", "ref", "ref_path", "sha", "run_id", "run_attempt", "pipeline_id",
    "job_id", "environment", "event_name", "actor", "user_login", "jti")
_WORKFLOW_REF = re.compile(
    r"(?P<repository>[^/]+/[^/]+)/\.github/workflows/(?P<file>[^/@]+)@(?P<ref>.+)")


class TokenRefused(PypiregError):
    """The token is refused: ``code`` is PyPI's error code, the message its description;
    ``claims``, those of a token whose signature held (None for any other); ``near``, the
    publishers that name the token's own repository or project, which it failed to match
    in some other claim (or whose projects it was already exchanged for)."""

    def __init__(self, code: str, description: str,
                 claims: Mapping[str, Any] | None = None,
                 near: Sequence[TrustedPublisher] = ()) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.claims = claims
        self.near = list(near)


def unverified_issuer(token: Any) -> str:
    """The ``iss`` a token claims, before anything of it is trusted."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        raise TokenRefused("invalid-payload", "malformed JWT")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise TokenRefused("invalid-payload", "malformed JWT") from None
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TokenRefused("invalid-payload", "malformed JWT")
    return issuer


def verify(token: str, *, audience: str, publishers: Sequence[TrustedPublisher],
           keys: IssuerKeys) -> tuple[list[TrustedPublisher], dict[str, Any]]:
    """The publishers among ``publishers`` that the token's claims match, one per project
    (each project that trusts the identity gets its own), and the claims; raises
    :class:`TokenRefused`. ``publishers`` are those that name the token's issuer (any
    others are passed over)."""
    issuer = unverified_issuer(token)
    candidates = [publisher for publisher in publishers if publisher.issuer == issuer]
    if not candidates:
        raise TokenRefused("invalid-payload", "unknown trusted publishing issuer")
    claims = _verified(token, issuer, audience, keys)
    reasons: dict[int, str] = {}
    found = []
    for publisher in candidates:
        reason = mismatch(publisher, claims)
        if reason is None:
            found.append(publisher)
        else:
            reasons[publisher.id] = reason
    if not found:
        # The reason worth telling is the one of the publishers of the token's own
        # repository or project, whatever other projects trust.
        near = [publisher for publisher in candidates if _same_source(publisher, claims)]
        told = {reasons[publisher.id] for publisher in near or candidates}
        reason = told.pop() if len(told) == 1 else "Publisher with matching claims was not found"
        raise TokenRefused("invalid-publisher",
                           f"valid token, but no corresponding publisher ({reason})", claims,
                           near)
    # In each project, one bound to the token's environment before one that takes any.
    found.sort(key=lambda publisher: (publisher.project_id, not publisher.environment,
                                      publisher.id))
    chosen = {publisher.project_id: publisher for publisher in reversed(found)}
    return sorted(chosen.values(), key=lambda publisher: publisher.project_id), claims


def _same_source(publisher: TrustedPublisher, claims: Mapping[str, Any]) -> bool:
    """Whether the publisher names the repository (github) or project (gitlab) the token
    comes from. Never an oidc publisher's: no one claim says where a token comes from."""
    if publisher.kind == "github":
        return _text(claims.get("repository")).lower() == publisher.repository.lower()
    if publisher.kind == "gitlab":
        return _text(claims.get("project_path")).lower() == publisher.project_path.lower()
    return False


def _verified(token: str, issuer: str, audience: str, keys: IssuerKeys) -> dict[str, Any]:
    invalid = TokenRefused("invalid-token", "malformed or invalid token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise invalid from None
    kid = header.get("kid")
    if header.get("alg") not in ALGORITHMS or not isinstance(kid, str) or not kid:
        raise invalid
    key = keys.key(issuer, kid)
    if key is None or key.algorithm_name != header["alg"]:
        raise invalid
    try:
        claims = jwt.decode(
            token, key=key.key, algorithms=[key.algorithm_name], audience=audience,
            issuer=issuer, leeway=LEEWAY,
            options={"require": ["iss", "aud", "exp", "iat"], "strict_aud": True,
                     "verify_signature": True})
    except (jwt.PyJWTError, TypeError, ValueError):
        raise invalid from None
    return claims


def mismatch(publisher: TrustedPublisher, claims: Mapping[str, Any]) -> str | None:
    """Why the claims are not this publisher's, or None when they are."""
    check = {"github": _github, "gitlab": _gitlab, "oidc": _oidc}.get(publisher.kind)
    if check is None:
        return f"unknown kind of publisher {publisher.kind!r}"
    return check(publisher, claims)


def _github(publisher: TrustedPublisher, claims: Mapping[str, Any]) -> str | None:
    missing = _missing(claims, "repository", "job_workflow_ref", "event_name", "jti")
    if missing:
        return missing
    if claims["event_name"] == "pull_request_target":
        return ("Publishing from a workflow invoked via 'pull_request_target' is not"
                " supported.")
    if str(claims["repository"]).lower() != publisher.repository.lower():
        return "Check failed for required claim 'repository'"
    if (publisher.repository_owner_id
            and _text(claims.get("repository_owner_id")) != publisher.repository_owner_id):
        return "Check failed for required claim 'repository_owner_id'"
    ref = _WORKFLOW_REF.fullmatch(str(claims["job_workflow_ref"]))
    refs = {_text(claims.get(name)) for name in ("ref", "sha")} - {""}
    if (ref is None or ref["repository"].lower() != publisher.repository.lower()
            or ref["file"] != publisher.workflow or ref["ref"] not in refs):
        return "Check failed for required claim 'job_workflow_ref'"
    if publisher.environment and (
            _text(claims.get("environment")).lower() != publisher.environment.lower()):
        return "Check failed for optional claim 'environment'"
    return None


def _gitlab(publisher: TrustedPublisher, claims: Mapping[str, Any]) -> str | None:
    missing = _missing(claims, "sub", "project_path", "ci_config_ref_uri", "ref_path", "sha",
                       "jti")
    if missing:
        return missing
    path = str(claims["project_path"])
    if path.lower() != publisher.project_path.lower():
        return "Check failed for required claim 'project_path'"
    subject = str(claims["sub"]).split(":")
    if len(subject) < 2 or subject[0] != "project_path" or subject[1].lower() != path.lower():
        return "Check failed for required claim 'sub'"
    where = f"{gitlab_host(publisher.issuer)}/{path}//{publisher.ci_config_path}@"
    if claims["ci_config_ref_uri"] not in {where + _text(claims["ref_path"]),
                                           where + _text(claims["sha"])}:
        return "Check failed for required claim 'ci_config_ref_uri'"
    if publisher.environment and _text(claims.get("environment")) != publisher.environment:
        return "Check failed for optional claim 'environment'"
    return None


def _oidc(publisher: TrustedPublisher, claims: Mapping[str, Any]) -> str | None:
    if not publisher.claims:  # never "any token of the issuer"
        return "the publisher requires no claim"
    for name, wanted in sorted(publisher.claims.items()):
        if name not in claims or claims[name] is None:
            return f"Missing claim {name!r}"
        if _text(claims[name]) != wanted:
            return f"Check failed for required claim {name!r}"
    return None


def gitlab_host(issuer: str) -> str:
    """The issuer as GitLab writes it in ``ci_config_ref_uri``: host, port and path, no
    scheme (``https://gitlab.example.com:8443/gitlab`` -> ``gitlab.example.com:8443/gitlab``)."""
    parts = urlsplit(issuer)
    return f"{parts.netloc}{parts.path}".rstrip("/")


def token_id(issuer: str, claims: Mapping[str, Any], token: str) -> str:
    """What a token is known by when it is accepted only once: its issuer and ``jti``, or
    for an issuer that sets none, the digest of what it signed (never of the signature,
    which can be written more than one way for the same signed claims)."""
    jti = claims.get("jti")
    if isinstance(jti, str) and jti:
        return f"{issuer} jti:{jti}"
    signed = token.rsplit(".", 1)[0]
    return f"{issuer} sha256:{hashlib.sha256(signed.encode()).hexdigest()}"


def audited(claims: Mapping[str, Any], publishers: Sequence[TrustedPublisher] = ()
            ) -> dict[str, str]:
    """The claims the audit log keeps of an identity token: who ran what, where and at
    which commit (:data:`AUDITED_CLAIMS`, and those the publishers name); never the token."""
    names = [*AUDITED_CLAIMS, *sorted({name for p in publishers for name in p.claims})]
    return {name: _text(claims[name])[:MAX_CLAIM] for name in dict.fromkeys(names)
            if claims.get(name) not in (None, "")}


def _missing(claims: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        if claims.get(name) in (None, ""):
            return f"Missing claim {name!r}"
    return None


def _text(value: Any) -> str:
    """A claim as the string a publisher's field holds: JSON's spelling for numbers and
    booleans (``true``, ``42``), a string as it is, nothing as ``""``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


class IssuerKeys:
    """The signing keys of each issuer, from its ``/.well-known/openid-configuration``'s
    ``jwks_uri``, fetched over https (certificates checked against the system's trust
    store, or ``SSL_CERT_FILE``; no redirects; both documents within :data:`FETCH_TIME`
    seconds in all) and kept for :data:`KEYS_MAX_AGE` seconds. A key id not among them
    fetches them again, at most once in :data:`KEYS_COOLDOWN` seconds per issuer. While
    one request fetches an issuer's keys, the others asking for them wait for that fetch
    rather than starting their own or giving up.

    ``locations`` maps an issuer to the https URL its documents are fetched from instead
    of its own (an issuer reached through a mirror; a test issuer standing in for
    GitHub's); its tokens still name the issuer itself."""

    def __init__(self, pool: urllib3.PoolManager | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 fetch_time: float = FETCH_TIME,
                 locations: Mapping[str, str] | None = None) -> None:
        self.pool = pool or urllib3.PoolManager()
        self.locations = dict(locations or {})
        self._clock = clock
        self._fetch_time = fetch_time
        self._keys: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}  # when, by kid
        self._tried: dict[str, float] = {}  # when each issuer was last fetched
        self._fetching: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def key(self, issuer: str, kid: str) -> jwt.PyJWK | None:
        """The issuer's key of this id, or None when it has none (or cannot be reached)."""
        with self._lock:
            fetching = self._fetching.setdefault(issuer, threading.Lock())
        with fetching:  # one fetch of an issuer at a time; the others wait for its keys
            now = self._clock()
            with self._lock:
                fetched, keys = self._keys.get(issuer, (0.0, {}))
                tried = self._tried.get(issuer)
            if (kid in keys and now - fetched < KEYS_MAX_AGE) or (
                    tried is not None and now - tried < KEYS_COOLDOWN):
                return keys.get(kid)
            found = self._fetch(issuer)
            with self._lock:
                self._tried[issuer] = self._clock()
                if found:  # an issuer that fails keeps the keys it had
                    self._keys[issuer] = (self._clock(), found)
                return self._keys.get(issuer, (0.0, {}))[1].get(kid)

    def _fetch(self, issuer: str) -> dict[str, jwt.PyJWK]:
        where = self.locations.get(issuer, issuer)
        if urlsplit(where).scheme != "https":
            return {}
        deadline = time.monotonic() + self._fetch_time
        try:
            discovery = self._json(
                f"{where.rstrip('/')}/.well-known/openid-configuration", deadline)
            uri = discovery.get("jwks_uri")
            if not isinstance(uri, str) or urlsplit(uri).scheme != "https":
                return {}
            listed = self._json(uri, deadline).get("keys")
        except (urllib3.exceptions.HTTPError, ValueError, OSError, RecursionError):
            return {}
        found = {}
        for data in listed if isinstance(listed, list) else ():
            if (not isinstance(data, dict) or not isinstance(data.get("kid"), str)
                    or "d" in data):  # a private key has no business in a key set
                continue
            try:
                key = jwt.PyJWK(data)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError):
                continue
            if key.algorithm_name in ALGORITHMS and isinstance(
                    key.key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
                found[data["kid"]] = key
        return found

    def _json(self, url: str, deadline: float) -> dict[str, Any]:
        """A JSON object at ``url``, read whole before ``deadline`` (a time.monotonic())."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise ValueError(f"{url}: out of time")
        response = self.pool.request(
            "GET", url, preload_content=False, headers={"Accept": "application/json"},
            redirect=False, retries=urllib3.Retry(total=1, read=0, redirect=0),
            timeout=urllib3.Timeout(connect=min(left, 5.0), read=min(left, 5.0)))
        whole = False
        try:
            if response.status != 200:
                raise ValueError(f"{url}: {response.status}")
            body = bytearray()
            # read1: what has arrived, so that the deadline holds for an issuer that
            # trickles its answer a byte at a time
            while chunk := response.read1(64 * 1024):
                body += chunk
                if len(body) > MAX_DOCUMENT:
                    raise ValueError(f"{url}: larger than {MAX_DOCUMENT} bytes")
                if time.monotonic() > deadline:
                    raise ValueError(f"{url}: took longer than {self._fetch_time:g} s")
            whole = True
        finally:
            if whole:
                response.release_conn()
            else:  # never read the rest of what was refused
                response.close()
        found = json.loads(bytes(body))
        if not isinstance(found, dict):
            raise ValueError(f"{url}: not a JSON object")
        return found
