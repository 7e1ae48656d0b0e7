"""Trusted publishing's rows (docs/trusted-publishing.md): the publishers each project
trusts, and the identity tokens already exchanged, each accepted once until it expires,
across every process and host that shares the catalog."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..models import TrustedPublisher
from .base import CatalogBase, utcnow

FIELDS = ("repository", "repository_owner_id", "workflow", "project_path", "ci_config_path",
          "environment")
_COLUMNS = f"id, project_id, kind, issuer, {', '.join(FIELDS)}, claims, created_at"
_OF_P = ", ".join(f"p.{name.strip()}" for name in _COLUMNS.split(","))  # joined as p


class PublisherQueries(CatalogBase):
    def trusted_publishers(self, project_id: int) -> list[TrustedPublisher]:
        """A project's publishers, oldest first."""
        return [_publisher(row) for row in self.tuples(
            f"SELECT {_COLUMNS} FROM trusted_publishers WHERE project_id = ? ORDER BY id",
            [project_id])]

    def trusted_publisher(self, project_id: int, publisher_id: int) -> TrustedPublisher | None:
        rows = self.tuples(f"SELECT {_COLUMNS} FROM trusted_publishers"
                           " WHERE project_id = ? AND id = ?", [project_id, publisher_id])
        return next((_publisher(row) for row in rows), None)

    def has_trusted_publishers(self) -> bool:
        """Whether any project that is not deleted trusts a publisher."""
        return self.value(
            "SELECT 1 FROM trusted_publishers p JOIN projects j ON j.id = p.project_id"
            " WHERE j.deleted_at IS NULL LIMIT 1") is not None

    def publishers_of_issuer(self, issuer: str) -> list[TrustedPublisher]:
        """Every publisher that names this issuer, of the projects that are not deleted."""
        return [_publisher(row) for row in self.tuples(
            f"SELECT {_OF_P} FROM trusted_publishers p JOIN projects j ON j.id = p.project_id"
            " WHERE p.issuer = ? AND j.deleted_at IS NULL ORDER BY p.id", [issuer])]

    def add_trusted_publisher(self, project_id: int, kind: str, issuer: str,
                              fields: Mapping[str, str], claims: Mapping[str, str]
                              ) -> TrustedPublisher:
        with self.write():
            publisher_id = self.next_id("trusted_publishers")
            self.insert("trusted_publishers", {
                "id": publisher_id, "project_id": project_id, "kind": kind, "issuer": issuer,
                **{name: fields.get(name) or None for name in FIELDS},
                "claims": dict(claims), "created_at": utcnow()})
        return self.trusted_publisher(project_id, publisher_id)  # type: ignore[return-value]

    def delete_trusted_publisher(self, publisher: TrustedPublisher) -> None:
        with self.write():
            self.remember_last_id("trusted_publishers")
            self.run("DELETE FROM trusted_publishers WHERE id = ?", [publisher.id])

    def spend_identity_token(self, key: str, expires_at: str) -> bool:
        """Note an identity token as exchanged, until ``expires_at`` (the catalog's time
        format); False when it already was, by this process or any other. Tokens that
        expired are forgotten on the way."""
        with self.write():
            self.run("DELETE FROM spent_identity_tokens WHERE expires_at < ?", [utcnow()])
            return self.run("INSERT INTO spent_identity_tokens (key, expires_at) VALUES (?, ?)"
                            " ON CONFLICT (key) DO NOTHING", [key, expires_at]) == 1


def _publisher(row: tuple[Any, ...]) -> TrustedPublisher:
    publisher_id, project_id, kind, issuer, *fields, claims, created_at = row
    return TrustedPublisher(
        id=publisher_id, project_id=project_id, kind=kind, issuer=issuer,
        **{name: value or "" for name, value in zip(FIELDS, fields, strict=True)},
        claims=json.loads(claims) if isinstance(claims, str) else dict(claims or {}),
        created_at=created_at)
