"""Trusted publishers (docs/trusted-publishing.md): the CI identities a project trusts to
upload, kept per project, each change audited; and the exchange of a CI job's identity
token for an upload token. The HTTP API, the CLI, the ``/_/oidc/`` routes
(:mod:`pypireg.exchange`) and a host's own calls all go through
:class:`TrustedPublishing` (methods of the Registry).

A publisher is one of three kinds, each with its own fields:

- ``github``: ``repository`` (``OWNER/NAME``), ``workflow`` (the file's name under
  ``.github/workflows``), optionally ``environment`` and ``repository_owner_id``; its
  issuer is GitHub Actions' own;
- ``gitlab``: ``project_path`` (``NAMESPACE/PROJECT``), ``ci_config_path`` (the CI file's
  path in the repository), optionally ``environment``, and ``issuer``: GitLab.com's
  unless given (a self-managed GitLab's URL);
- ``oidc``: ``issuer`` and ``claims``, an object of the exact values required claims
  must have (at least one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .auth.lifecycle import TokenRecord, mint_token
from .auth.tokens import PUBLISHER, Grant, TokenAuth, hash_secret
from .catalog import PROJECT, CatalogError
from .catalog.publishers import FIELDS as TEXT_FIELDS  # repository .. environment
from .exceptions import PypiregError
from .models import HOST, Actor, Project, TrustedPublisher
from .oidc import (
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    KINDS,
    LEEWAY,
    IssuerKeys,
    TokenRefused,
    audited,
    token_id,
    unverified_issuer,
    verify,
)
from .times import ahead, stamp

if TYPE_CHECKING:
    from .catalog import Catalog
    from .protocols import AuthProvider

log = logging.getLogger("pypireg")

FIELDS = {  # each kind's fields besides issuer, required ones first
    "github": (("repository", "workflow"), ("environment", "repository_owner_id")),
    "gitlab": (("project_path", "ci_config_path"), ("environment",)),
    "oidc": (("claims",), ()),
}
ALL_FIELDS = ("kind", "issuer", *TEXT_FIELDS, "claims")
CHECKED_CLAIMS = ("iss", "aud", "exp", "iat", "nbf", "jti")  # verified for every token
MAX_FIELD = 255
MAX_CLAIMS = 20
MAX_PUBLISHERS = 20  # of a project
NOT_ENABLED = "Trusted publishing functionality not enabled"  # PyPI's words
SPENT_MARGIN = 60  # seconds past expiry and LEEWAY a spent token is kept, for clocks that differ
_PATTERNS = {
    "repository": (re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+"), "OWNER/NAME"),
    "workflow": (re.compile(r"[A-Za-z0-9._-]+\.ya?ml"),
                 "a workflow's file name, such as release.yml"),
    "project_path": (re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+"),
                     "NAMESPACE/PROJECT, with any subgroups"),
    "ci_config_path": (re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*\.ya?ml"),
                       "the CI file's path in the repository, such as .gitlab-ci.yml"),
    "repository_owner_id": (re.compile(r"[0-9]{1,20}"), "digits"),
    "environment": (re.compile(r"[^\x00-\x1f\x7f]{1,255}"), "a name"),
}


class InvalidPublisher(PypiregError, ValueError):
    """A publisher's field is missing or wrong (the message says which); ``conflict``: the
    project already trusts the same publisher (a 409)."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def checked(fields: Mapping[str, Any]) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """``(kind, issuer, fields, claims)`` of a new publisher, each checked; raises
    :class:`InvalidPublisher` naming the first field that is wrong."""
    unknown = sorted(set(fields) - set(ALL_FIELDS))
    if unknown:
        raise InvalidPublisher(f"{unknown[0]} is not a field of a trusted publisher: give"
                               f" {', '.join(ALL_FIELDS)}")
    kind = fields.get("kind")
    if kind not in KINDS:
        raise InvalidPublisher(f"kind must be one of {', '.join(KINDS)}")
    required, optional = FIELDS[kind]
    given = {name for name, value in fields.items() if value not in (None, "", {})}
    extra = sorted(given - {"kind", "issuer", *required, *optional})
    if extra:
        raise InvalidPublisher(f"{extra[0]} is not a field of a {kind} publisher: give"
                               f" {', '.join((*required, *optional))}")
    for name in required:
        if name not in given:
            raise InvalidPublisher(f"{name} is missing: a {kind} publisher needs"
                                   f" {' and '.join(required)}")
    values = {}
    for name in (*required, *optional):
        if name in given and name != "claims":
            values[name] = _field(name, fields[name])
    issuer = _issuer(kind, fields.get("issuer"))
    claims = _claims(fields["claims"]) if kind == "oidc" else {}
    return kind, issuer, values, claims


def _field(name: str, value: Any) -> str:
    pattern, spelled = _PATTERNS[name]
    if (not isinstance(value, str) or len(value) > MAX_FIELD or not pattern.fullmatch(value)
            or (name in ("repository", "project_path", "ci_config_path")
                and {".", ".."} & set(value.split("/")))):
        raise InvalidPublisher(f"{name} is invalid: {spelled}, at most {MAX_FIELD} characters")
    return value


def _issuer(kind: str, given: Any) -> str:
    if kind == "github":
        if given not in (None, "", GITHUB_ISSUER):
            raise InvalidPublisher(f"issuer of a github publisher is {GITHUB_ISSUER}")
        return GITHUB_ISSUER
    if given in (None, "") and kind == "gitlab":
        return GITLAB_ISSUER
    if given in (None, ""):
        raise InvalidPublisher("issuer is missing: an oidc publisher needs the issuer's URL")
    invalid = InvalidPublisher("issuer is invalid: an https URL (https://gitlab.example.com),"
                               " without credentials, query or fragment")
    if not isinstance(given, str) or len(given) > MAX_FIELD or not given.isprintable() or (
            any(c.isspace() for c in given)):
        raise invalid
    parts = urlsplit(given)
    try:
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        raise invalid from None
    if (parts.scheme.lower() != "https" or not parts.hostname or parts.username
            or parts.password or parts.query or parts.fragment or given.endswith("#")):
        raise invalid
    # As tokens name their issuer: scheme and host in lower case, the path as given
    # (an issuer whose iss ends in "/" keeps it).
    issuer = f"https://{parts.netloc.lower()}{parts.path}"
    if kind == "oidc" and issuer in (GITHUB_ISSUER, GITLAB_ISSUER):
        raise InvalidPublisher(f"issuer {issuer} takes a publisher of kind"
                               f" {'github' if issuer == GITHUB_ISSUER else 'gitlab'}, whose"
                               " checks its tokens need")
    return issuer


def _claims(given: Any) -> dict[str, str]:
    if not isinstance(given, Mapping) or not given or len(given) > MAX_CLAIMS:
        raise InvalidPublisher(f"claims is invalid: an object of 1 to {MAX_CLAIMS} claims and"
                               " the exact values they must have")
    found = {}
    for name, value in given.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", name):
            raise InvalidPublisher(f"claims is invalid: {str(name)[:64]!r} is not a claim's name")
        if name in CHECKED_CLAIMS:
            raise InvalidPublisher(f"claims is invalid: {name} is checked for every token")
        if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
            raise InvalidPublisher(f"claims is invalid: the value of {name} must be a string"
                                   f" of 1 to {MAX_FIELD} characters")
        found[name] = value
    return found


def publisher_json(publisher: TrustedPublisher) -> dict[str, Any]:
    """A publisher as the API shows it: every field, those of other kinds null."""
    found = asdict(publisher)
    found.pop("project_id")
    for name in TEXT_FIELDS:  # "" for a field the publisher does not have
        found[name] = found[name] or None
    found["claims"] = dict(publisher.claims)
    return found


class TrustedPublishing:
    """A project's trusted publishers, added and removed (and audited) in one place.
    (``Registry.trusted_publishers`` is another thing: the PEP 740 publishers whose
    attestations are verified, pypireg/attestations.py.)"""

    catalog: Catalog
    auth: AuthProvider
    oidc_audience: str
    oidc_token_lifetime: timedelta
    revoke_token: Callable[..., TokenRecord]  # Administration's

    def publishers(self, project: Project) -> list[TrustedPublisher]:
        return self.catalog.trusted_publishers(project.id)

    def publisher(self, project: Project, publisher_id: int) -> TrustedPublisher:
        """Raises :class:`CatalogError` for a publisher the project does not have."""
        found = self.catalog.trusted_publisher(project.id, publisher_id)
        if found is None:
            raise CatalogError(f"no trusted publisher {publisher_id} in {project.path}")
        return found

    def add_publisher(self, project: Project, *, actor: Actor = HOST,
                      **fields: Any) -> TrustedPublisher:
        """A new publisher from its fields (module docstring); raises
        :class:`InvalidPublisher` for a bad one or one the project already trusts."""
        kind, issuer, values, claims = checked(fields)
        with self.catalog.write():
            others = self.catalog.trusted_publishers(project.id)
            for other in others:
                if (other.kind, other.issuer, dict(other.claims)) == (kind, issuer, claims) and all(
                        _same(kind, name, getattr(other, name), values.get(name, ""))
                        for name in TEXT_FIELDS):
                    raise InvalidPublisher(f"{project.path} already trusts this publisher"
                                           f" (id {other.id})", conflict=True)
            if len(others) >= MAX_PUBLISHERS:
                raise InvalidPublisher(f"{project.path} trusts {MAX_PUBLISHERS} publishers"
                                       " already, as many as a project may: remove one first")
            publisher = self.catalog.add_trusted_publisher(project.id, kind, issuer, values,
                                                           claims)
            self._record_publisher(actor, "trusted_publisher_created", project, publisher)
        return publisher

    def remove_publisher(self, project: Project, publisher_id: int, *,
                         actor: Actor = HOST) -> TrustedPublisher:
        with self.catalog.write():
            publisher = self.publisher(project, publisher_id)
            self.catalog.delete_trusted_publisher(publisher)
            self._record_publisher(actor, "trusted_publisher_deleted", project, publisher)
        return publisher

    # -- the exchange ----------------------------------------------------------------------

    @cached_property
    def issuer_keys(self) -> IssuerKeys:
        """The issuers' signing keys, fetched as tokens need them (pypireg/oidc.py)."""
        return IssuerKeys()

    def publishing_enabled(self) -> bool:
        """Whether a token can be minted: some project trusts a publisher, and the
        registry's auth provider is (or extends) :class:`~pypireg.auth.TokenAuth`, which
        reads minted tokens. Else the exchange answers PyPI's ``not-enabled``."""
        return isinstance(self.auth, TokenAuth) and self.catalog.has_trusted_publishers()

    def mint_token(self, identity_token: Any, *, address: str | None = None
                   ) -> tuple[TokenRecord, str]:
        """An upload token for a CI job's OIDC identity token, and its secret: write access
        to each project with a publisher that matches the token's claims, for
        ``oidc_token_lifetime``. Each identity token is taken once. Raises
        :class:`~pypireg.oidc.TokenRefused` with PyPI's error code. ``address``: the
        client's, for the audit log."""
        known = None  # what the identity token is known by, once its signature holds
        try:
            if not self.publishing_enabled():
                raise TokenRefused("not-enabled", NOT_ENABLED)
            issuer = unverified_issuer(identity_token)
            try:
                found, claims = verify(identity_token, audience=self.oidc_audience,
                                       publishers=self.catalog.publishers_of_issuer(issuer),
                                       keys=self.issuer_keys)
            except TokenRefused as refused:
                if refused.claims is not None:
                    known = token_id(issuer, refused.claims, identity_token)
                raise
            known = token_id(issuer, claims, identity_token)
            with self.catalog.write():  # spent only if the upload token is made too
                if not self.catalog.spend_identity_token(known, _kept_until(claims["exp"])):
                    raise TokenRefused("invalid-reuse-token", "invalid token: already used",
                                       claims, found)
                record, secret = self._mint(found, claims, address)
        except TokenRefused as refused:
            self._record_refusal(refused, known, address)
            raise
        return record, secret

    def _mint(self, found: list[TrustedPublisher], claims: Mapping[str, Any],
              address: str | None) -> tuple[TokenRecord, str]:
        # Read again in the transaction: a publisher removed, or a project deleted, while
        # the token was verified gives nothing.
        projects = [(publisher, project) for publisher in found
                    if self.catalog.trusted_publisher(publisher.project_id, publisher.id)
                    and (project := self.catalog.project(publisher.project_id)) is not None]
        if not projects:
            raise TokenRefused("invalid-publisher", "valid token, but no corresponding"
                               " publisher (it was removed)", claims)
        trusted = {"publishers": [
            {"id": publisher.id, "project": project.path, "publisher": describe(publisher)}
            for publisher, project in projects], "claims": audited(claims, found)}
        record, secret = mint_token(
            self.catalog, describe(projects[0][0]),
            [Grant(project.path, "write") for _, project in projects],
            ahead(self.oidc_token_lifetime), trusted)
        actor = Actor(record.name, PUBLISHER, record.id, address, trusted)
        for publisher, project in projects:
            self.catalog.record_event(
                actor, "trusted_publisher_token_minted", entity_type=PROJECT,
                entity_id=project.id, entity_path=project.path, target_type="Token",
                target_id=record.id, target_details=record.name,
                details={"publisher_id": publisher.id, "expires_at": record.expires_at})
        return record, secret

    def burn_token(self, secret: Any, *, address: str | None = None) -> bool:
        """Revoke a token trusted publishing minted, given its secret (audited as any
        revocation, by the token itself); False, and nothing done, for any other secret
        or a token already revoked."""
        if not isinstance(secret, str) or not secret or len(secret) > 1024:
            return False
        row = self.catalog.token_by_hash(hash_secret(secret))
        if row is None or row["kind"] != PUBLISHER or row["revoked"]:
            return False
        actor = Actor(row["name"], PUBLISHER, row["id"], address, row["trusted_publishing"])
        self.revoke_token(row["id"], actor=actor)
        return True

    def _record_refusal(self, refused: TokenRefused, known: str | None,
                        address: str | None) -> None:
        """A refused identity token in the log. In the audit log too, once per identity
        token, in the projects whose publishers name its repository or project: a token
        of anyone else's (which anyone can have signed) must not fill their audit logs."""
        log.warning("trusted publishing refused an identity token from %s: %s (%s)",
                    address or "an unknown address", refused.code, refused.description)
        if refused.claims is None or known is None or not refused.near:
            return
        with self.catalog.write():
            if not self.catalog.spend_identity_token(f"refused {known}",
                                                     _kept_until(refused.claims["exp"])):
                return  # this token's refusal is in the audit log already
            actor = Actor("anonymous", address=address)
            for publisher in refused.near:
                project = self.catalog.project(publisher.project_id)
                if project is not None:
                    self.catalog.record_event(
                        actor, "trusted_publisher_token_refused", entity_type=PROJECT,
                        entity_id=project.id, entity_path=project.path,
                        target_type="TrustedPublisher", target_id=publisher.id,
                        target_details=describe(publisher),
                        details={"code": refused.code, "description": refused.description,
                                 "claims": audited(refused.claims, [publisher])})

    def _record_publisher(self, actor: Actor, event: str, project: Project,
                          publisher: TrustedPublisher) -> None:
        self.catalog.record_event(
            actor, event, entity_type=PROJECT, entity_id=project.id, entity_path=project.path,
            target_type="TrustedPublisher", target_id=publisher.id,
            target_details=describe(publisher), details=publisher_json(publisher))


def _same(kind: str, name: str, one: str, other: str) -> bool:
    """Whether two values of a field name the same thing, as tokens are matched: GitHub's
    repositories and environments and GitLab's projects in any case."""
    if name in ("repository", "project_path") or (name, kind) == ("environment", "github"):
        return one.lower() == other.lower()
    return one == other


def describe(publisher: TrustedPublisher) -> str:
    """One line naming the publisher, for logs, lists and the audit log."""
    if publisher.kind == "github":
        named = f"github {publisher.repository} {publisher.workflow}"
    elif publisher.kind == "gitlab":
        named = f"gitlab {publisher.project_path} {publisher.ci_config_path}"
        if publisher.issuer != GITLAB_ISSUER:
            named += f" ({publisher.issuer})"
    else:
        claims = ", ".join(f"{k}={v}" for k, v in sorted(publisher.claims.items()))
        named = f"oidc {publisher.issuer} {claims}"
    if publisher.environment:
        named += f" environment {publisher.environment}"
    return named


def _kept_until(expires: Any) -> str:
    """When an identity token that expires at ``expires`` (a Unix time) can be forgotten:
    once no clock within LEEWAY of ours would take it (a time past the catalog's years,
    the catalog's last)."""
    try:
        return stamp(datetime.fromtimestamp(float(expires) + LEEWAY + SPENT_MARGIN,
                                            timezone.utc))
    except (OverflowError, ValueError, OSError):
        return "9999-12-31T23:59:59.999Z"
