"""TokenAuth: GitLab-style personal, deploy and job tokens kept hashed in the catalog."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..models import ACTIONS, READ, Action, Principal, Project

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from ..catalog import Catalog

TOKEN_KINDS = ("personal", "deploy", "job")
JOB_USERNAME = "gitlab-ci-token"
TOKEN_PREFIX = "pypireg-"
_RANK = {action: rank for rank, action in enumerate(ACTIONS)}  # read < write < delete


class InvalidGrant(ValueError):
    """A grant or token request is malformed; the message says how."""


@dataclass(frozen=True)
class Grant:
    """``access`` (read, write or delete, each implying the ones before) on a group or project."""

    path: str
    access: Action

    def covers(self, action: Action, project: Project) -> bool:
        here = self.path.lower()
        target = project.path.lower()
        in_scope = target == here or target.startswith(here + "/")
        return in_scope and _RANK[self.access] >= _RANK[action]

    @classmethod
    def parse(cls, text: str) -> Grant:
        """``PATH:read|write|delete`` as the CLI takes it."""
        path, sep, access = text.rpartition(":")
        if not sep or not path or access not in ACTIONS:
            raise InvalidGrant(
                f"grant {text!r} must look like PATH:ACCESS with ACCESS one of"
                f" {', '.join(ACTIONS)}"
            )
        return cls(path.strip("/"), access)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TokenPrincipal(Principal):
    kind: str = "personal"
    grants: tuple[Grant, ...] = ()


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random strings, so one fast hash is enough to store them safely.
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    catalog: Catalog, name: str, grants: list[Grant], kind: str = "personal"
) -> str:
    """Create a token and return its secret; only the hash is stored."""
    if not name.strip():
        raise InvalidGrant("a token needs a name")
    if kind not in TOKEN_KINDS:
        raise InvalidGrant(f"token kind {kind!r} must be one of {', '.join(TOKEN_KINDS)}")
    if not grants:
        raise InvalidGrant("a token needs at least one grant (PATH:ACCESS)")
    for grant in grants:
        if not catalog.path_exists(grant.path):
            raise InvalidGrant(f"no group or project at {grant.path!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    catalog.add_token(
        name.strip(), kind, hash_secret(secret),
        [{"path": g.path, "access": g.access} for g in grants],
    )
    return secret


class TokenAuth:
    """Reads Basic, Bearer, ``PRIVATE-TOKEN`` and ``JOB-TOKEN`` credentials.

    Basic: a personal token takes any username, a deploy token its own name, a job
    token ``gitlab-ci-token``. Public projects are readable by anyone.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

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

    def _lookup(self, secret: str) -> TokenPrincipal | None:
        if not secret.startswith(TOKEN_PREFIX):
            return None
        digest = hash_secret(secret)
        row = self.catalog.token_by_hash(digest)
        if row is None or not hmac.compare_digest(row["secret_hash"], digest):
            return None
        return TokenPrincipal(
            name=row["name"],
            kind=row["kind"],
            grants=tuple(Grant(g["path"], g["access"]) for g in row["grants"]),
        )


def _offered_credentials(
    request: Request,
) -> Iterator[tuple[str, Callable[[TokenPrincipal], bool]]]:
    """Yield ``(secret, accepts(principal))`` for each credential the request carries."""
    auth = request.authorization
    if auth is not None and auth.type == "basic" and auth.password:
        username = auth.username or ""
        yield auth.password, lambda p: (
            p.kind == "personal"
            or (p.kind == "deploy" and username == p.name)
            or (p.kind == "job" and username == JOB_USERNAME)
        )
    elif auth is not None and auth.type == "bearer" and auth.token:
        yield auth.token, lambda p: True
    if "Private-Token" in request.headers:
        yield request.headers["Private-Token"], lambda p: p.kind in ("personal", "deploy")
    if "Job-Token" in request.headers:
        yield request.headers["Job-Token"], lambda p: p.kind == "job"
