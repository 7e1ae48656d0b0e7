"""Tokens over their life: issue, list, rotate, revoke, expire. Secrets are shown once.

What the CLI, the Python API on ``Registry`` and the HTTP token endpoints share; the
catalog keeps only a hash of each secret, so nothing here can show one again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..catalog import CatalogError
from ..times import ahead, moment, parse_duration
from .tokens import (
    EVERYTHING,
    PUBLISHER,
    TOKEN_KINDS,
    TOKEN_PREFIX,
    Grant,
    InvalidGrant,
    hash_secret,
    is_expired,
)

if TYPE_CHECKING:
    from ..catalog import Catalog

@dataclass(frozen=True)
class TokenRecord:
    """A token as it may be shown: everything but its secret."""

    id: int
    name: str
    kind: str
    grants: tuple[Grant, ...]
    created_at: str
    last_used_at: str | None
    expires_at: str | None
    revoked: bool
    # A token minted by trusted publishing: its publishers and the identity's claims.
    trusted_publishing: dict[str, Any] | None = None

    @property
    def expired(self) -> bool:
        return is_expired(self.expires_at, datetime.now(timezone.utc))

    @property
    def active(self) -> bool:
        return not self.revoked and not self.expired

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TokenRecord:
        return cls(id=row["id"], name=row["name"], kind=row["kind"],
                   grants=tuple(Grant(g["path"], g["access"]) for g in row["grants"]),
                   created_at=row["created_at"], last_used_at=row["last_used_at"],
                   expires_at=row["expires_at"], revoked=bool(row["revoked"]),
                   trusted_publishing=row.get("trusted_publishing"))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "kind": self.kind,
            "grants": [f"{g.path}:{g.access}" for g in self.grants],
            "created_at": self.created_at, "last_used_at": self.last_used_at,
            "expires_at": self.expires_at, "revoked": self.revoked, "active": self.active,
            "trusted_publishing": self.trusted_publishing,
        }


def issue_token(catalog: Catalog, name: str, grants: list[Grant], kind: str = "personal",
                expires_at: str | None = None) -> tuple[TokenRecord, str]:
    """Create a token; returns it and its secret (the only time the secret exists)."""
    if not name.strip():
        raise InvalidGrant("a token needs a name")
    if kind not in TOKEN_KINDS:
        raise InvalidGrant(f"token kind {kind!r} must be one of {', '.join(TOKEN_KINDS)}")
    if not grants:
        raise InvalidGrant("a token needs at least one grant (PATH:ACCESS)")
    for grant in grants:
        if grant.path != EVERYTHING and not catalog.path_exists(grant.path):
            raise InvalidGrant(f"no group or project at {grant.path!r}")
    _check_future(expires_at)
    # Two live tokens of one name and kind could not be told apart in a list, and a deploy
    # token's name is the username it signs in with.
    for other in list_tokens(catalog):
        if other.active and other.kind == kind and other.name == name.strip():
            raise InvalidGrant(f"an active {kind} token is already named {other.name!r} (id"
                               f" {other.id}): choose another name, or rotate or revoke that"
                               " token")
    secret = _new_secret()
    token_id = catalog.add_token(
        name.strip(), kind, hash_secret(secret),
        [{"path": g.path, "access": g.access} for g in grants], expires_at,
    )
    return find_token(catalog, token_id), secret


def mint_token(catalog: Catalog, name: str, grants: list[Grant], expires_at: str,
               trusted_publishing: dict[str, Any]) -> tuple[TokenRecord, str]:
    """A token of trusted publishing (kind ``publisher``): never rotated, and named by its
    publisher, so several live at once under one name."""
    secret = _new_secret()
    token_id = catalog.add_token(
        name, PUBLISHER, hash_secret(secret),
        [{"path": g.path, "access": g.access} for g in grants], expires_at,
        trusted_publishing=trusted_publishing)
    return find_token(catalog, token_id), secret


def find_token(catalog: Catalog, token_id: int) -> TokenRecord:
    row = catalog.token(token_id)
    if row is None:
        raise CatalogError(f"no token with id {token_id}")
    return TokenRecord.from_row(row)


def list_tokens(catalog: Catalog) -> list[TokenRecord]:
    return [TokenRecord.from_row(row) for row in catalog.tokens()]


def revoke_token(catalog: Catalog, token_id: int) -> TokenRecord:
    """Revoke at once; revoking a revoked token again is harmless."""
    record = find_token(catalog, token_id)
    catalog.revoke_token(token_id)
    return find_token(catalog, record.id)


def rotate_token(catalog: Catalog, token_id: int, expires_at: str | None = None
                 ) -> tuple[TokenRecord, str]:
    """A new secret (and id) for an active token, which is revoked in the same
    transaction. ``expires_at`` defaults to the old token's."""
    old = find_token(catalog, token_id)
    if old.kind == PUBLISHER:
        raise InvalidGrant(f"token {token_id} was minted by trusted publishing: it cannot be"
                           " rotated; the CI job mints a new one")
    if not old.active:
        raise InvalidGrant(f"token {token_id} is {'revoked' if old.revoked else 'expired'}:"
                           " only an active token can be rotated")
    expires_at = expires_at if expires_at is not None else old.expires_at
    _check_future(expires_at)
    secret = _new_secret()
    try:
        new_id = catalog.replace_token(token_id, hash_secret(secret), expires_at)
    except LookupError:
        raise InvalidGrant(f"token {token_id} was revoked meanwhile") from None
    return find_token(catalog, new_id), secret


def expiry(*, expires_in: str | None = None, expires_at: str | None = None) -> str | None:
    """The catalog timestamp for ``--expires-in 30d`` (hours, days or weeks from now) or
    ``--expires-at 2027-01-31`` (that date at 00:00 UTC, as GitLab expires tokens)."""
    try:
        if expires_in is not None:
            return ahead(parse_duration(expires_in))
        if expires_at is not None:
            return moment(expires_at)
    except ValueError as exc:
        raise InvalidGrant(f"expiry {exc}") from None
    return None


def _check_future(expires_at: str | None) -> None:
    if is_expired(expires_at, datetime.now(timezone.utc)):
        raise InvalidGrant(f"the expiry {expires_at} is not in the future")


def _new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)
