"""TokenAuth: GitLab-style personal, deploy and job tokens kept hashed in the catalog."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..bookkeeping import BestEffort
from ..exceptions import PypiregError
from ..models import ACTIONS, READ, Action, Group, Principal, Project
from ..times import parse_time, utcnow

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from ..catalog import Catalog

TOKEN_KINDS = ("personal", "deploy", "job")  # the kinds people create
PUBLISHER = "publisher"  # the kind trusted publishing mints (publishing.py), never created
JOB_USERNAME = "gitlab-ci-token"
TOKEN_PREFIX = "pypireg-"
ADMIN = "admin"  # above delete: also manages tokens; granted on the whole registry only
EVERYTHING = "*"  # a grant's path meaning every group and project
ACCESS_LEVELS = (*ACTIONS, ADMIN)
_RANK = {access: rank for rank, access in enumerate(ACCESS_LEVELS)}  # read < ... < admin
LAST_USED_INTERVAL = 60.0  # seconds between two writes of a token's last_used_at


class InvalidGrant(PypiregError, ValueError):
    """A grant or token request is malformed; the message says how."""


@dataclass(frozen=True)
class Grant:
    """``access`` on a group or project (or ``*``, everything): read, write, delete or
    admin, each implying the ones before it."""

    path: str
    access: str

    def covers(self, action: Action, project: Project | Group) -> bool:
        here = self.path.lower()
        target = project.path.lower()
        in_scope = here == EVERYTHING or target == here or target.startswith(here + "/")
        return in_scope and _RANK[self.access] >= _RANK[action]

    @property
    def is_admin(self) -> bool:
        return self.access == ADMIN

    @classmethod
    def parse(cls, text: str) -> Grant:
        """``PATH:read|write|delete``, or ``*:ACCESS``, as the CLI takes it."""
        path, sep, access = text.rpartition(":")
        if not sep or not path or access not in ACCESS_LEVELS:
            raise InvalidGrant(
                f"grant {text!r} must look like PATH:ACCESS with ACCESS one of"
                f" {', '.join(ACCESS_LEVELS)}"
            )
        if access == ADMIN and path != EVERYTHING:
            raise InvalidGrant(f"admin is granted on the whole registry only: use"
                               f" '{EVERYTHING}:{ADMIN}', not {text!r}")
        return cls(path.strip("/") or path, access)


@dataclass(frozen=True)
class TokenPrincipal(Principal):
    kind: str = "personal"
    grants: tuple[Grant, ...] = ()
    id: int = 0  # the token's id in the catalog
    # A token minted by trusted publishing: its publishers and the identity's claims.
    trusted_publishing: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def is_admin(self) -> bool:
        return any(grant.is_admin for grant in self.grants)


def is_expired(expires_at: str | None, now: datetime) -> bool:
    return expires_at is not None and parse_time(expires_at) <= now


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random strings, so one fast hash is enough to store them safely.
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenAuth:
    """Reads Basic, Bearer, ``PRIVATE-TOKEN`` and ``JOB-TOKEN`` credentials.

    Basic: a personal token takes any username, a deploy token its own name, a job
    token ``gitlab-ci-token``. Public projects are readable by anyone.
    """

    def __init__(self, catalog: Catalog, last_used_interval: float = LAST_USED_INTERVAL) -> None:
        self.catalog = catalog
        self.last_used_interval = last_used_interval
        self._last_use = BestEffort("tokens' last use")

    def authenticate(self, request: Request) -> Principal | None:
        for secret, accepts in _offered_credentials(request):
            principal = self._lookup(secret)
            if principal is not None and accepts(principal):
                return principal
        return None

    def permits(self, principal: Principal | None, action: Action, project: Project) -> bool:
        if action == READ and project.is_public:
            return True
        if not isinstance(principal, TokenPrincipal):
            return False
        return any(grant.covers(action, project) for grant in principal.grants)

    def permits_group(self, principal: Principal | None, action: Action, group: Group) -> bool:
        """A grant on the group (or above it) covers everything in it."""
        if not isinstance(principal, TokenPrincipal):
            return False
        return any(grant.covers(action, group) for grant in principal.grants)

    def refusal(self, request: Request) -> str | None:
        """Why the request's token did not sign it in. Only the holder of a real secret
        learns more than "not valid": that it expired (and when), was revoked, or needs
        another username (a deploy token's name, which it then signs in with)."""
        offered = False
        for secret, accepts in _offered_credentials(request):
            offered = True
            row = self._row(secret)
            if row is None:
                continue
            if row["revoked"]:
                return "the token was revoked: create a new one"
            if is_expired(row["expires_at"], datetime.now(timezone.utc)):
                if row["kind"] == PUBLISHER:
                    return (f"the token expired at {row['expires_at']}: a token of trusted"
                            " publishing lasts minutes; mint a new one in the CI job")
                return (f"the token expired at {row['expires_at']}: create a new one (or rotate"
                        " tokens before they expire)")
            if not accepts(self._principal(row)):
                return _wrong_username(row["kind"], row["name"])
        return "the token is not valid" if offered else None

    def _row(self, secret: str) -> dict | None:
        """The catalog's row of the token with this secret, if there is one."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        digest = hash_secret(secret)
        row = self.catalog.token_by_hash(digest)
        if row is None or not hmac.compare_digest(row["secret_hash"], digest):
            return None
        return row

    def _lookup(self, secret: str) -> TokenPrincipal | None:
        row = self._row(secret)
        if row is None:
            return None
        now = datetime.now(timezone.utc)
        if row["revoked"] or is_expired(row["expires_at"], now):
            return None  # reads as a wrong secret does (refusal() says which it was)
        self._touch(row, now)
        return self._principal(row)

    def _touch(self, row: dict, now: datetime) -> None:
        """Note the token's use, at most once per ``last_used_interval``."""
        last = row["last_used_at"]
        if last is None or (now - parse_time(last)).total_seconds() >= self.last_used_interval:
            self._last_use.run(lambda: self.catalog.touch_token(row["id"], utcnow()))

    # -- sessions of the web pages (protocols.SignsIn) ------------------------------------

    def sign_in(self, secret: str) -> str | None:
        """A personal token's session subject: its id and the start of its stored hash,
        so that rotating the token (a new secret) ends the sessions of the old one."""
        row = self._row(secret.strip())
        if row is None or row["kind"] != "personal" or row["revoked"] or is_expired(
                row["expires_at"], datetime.now(timezone.utc)):
            return None
        return f"{row['id']}:{row['secret_hash'][:16]}"

    def session(self, subject: str) -> TokenPrincipal | None:
        number, _, fingerprint = subject.partition(":")
        row = self.catalog.token(int(number)) if number.isascii() and number.isdigit() else None
        if row is None or not hmac.compare_digest(row["secret_hash"][:16], fingerprint):
            return None
        now = datetime.now(timezone.utc)
        if row["revoked"] or is_expired(row["expires_at"], now):
            return None
        self._touch(row, now)  # a session's pages are the token's use
        return self._principal(row)

    @staticmethod
    def _principal(row: dict) -> TokenPrincipal:
        return TokenPrincipal(
            name=row["name"],
            kind=row["kind"],
            grants=tuple(Grant(g["path"], g["access"]) for g in row["grants"]),
            id=row["id"],
            trusted_publishing=row.get("trusted_publishing"),
        )


def _wrong_username(kind: str, name: str) -> str:
    if kind == "deploy":
        return f"a deploy token signs in with its own name as the username: {name!r}"
    if kind == "job":
        return f"a job token signs in with the username {JOB_USERNAME!r} (or JOB-TOKEN)"
    if kind == PUBLISHER:
        return ("a token of trusted publishing signs in as the password, with any username"
                " (clients send __token__)")
    return "a personal token signs in as the password, with any username"


def _offered_credentials(
    request: Request,
) -> Iterator[tuple[str, Callable[[TokenPrincipal], bool]]]:
    """Yield ``(secret, accepts(principal))`` for each credential the request carries."""
    environ = request.environ
    if not ("HTTP_AUTHORIZATION" in environ or "HTTP_PRIVATE_TOKEN" in environ
            or "HTTP_JOB_TOKEN" in environ):
        return  # anonymous, the common case, found without parsing any header
    auth = request.authorization
    if auth is not None and auth.type == "basic" and auth.password:
        username = auth.username or ""
        yield auth.password, lambda p: (
            p.kind in ("personal", PUBLISHER)  # any username (clients send __token__)
            or (p.kind == "deploy" and username == p.name)
            or (p.kind == "job" and username == JOB_USERNAME)
        )
    elif auth is not None and auth.type == "bearer" and auth.token:
        yield auth.token, lambda p: True
    if "Private-Token" in request.headers:
        yield request.headers["Private-Token"], lambda p: p.kind in (
            "personal", "deploy", PUBLISHER)
    if "Job-Token" in request.headers:
        yield request.headers["Job-Token"], lambda p: p.kind == "job"
