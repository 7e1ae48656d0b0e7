"""Tokens: only a hash of each secret is stored."""

from __future__ import annotations

from typing import Any

from .base import CatalogBase, load_json, utcnow


class TokenQueries(CatalogBase):
    def add_token(self, name: str, kind: str, secret_hash: str, grants: list[dict]) -> int:
        with self.write():
            return self.db["tokens"].insert(
                {"name": name, "kind": kind, "secret_hash": secret_hash, "grants": grants,
                 "created_at": utcnow()}
            ).last_pk

    def token_by_hash(self, secret_hash: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM tokens WHERE secret_hash = ?", [secret_hash]))
        if not rows:
            return None
        row = rows[0]
        row["grants"] = load_json(row["grants"])
        return row
