"""Tokens: only a hash of each secret is stored, with its grants and lifecycle."""

from __future__ import annotations

import secrets
from typing import Any

from .base import CatalogBase, load_json, utcnow


class TokenQueries(CatalogBase):
    def add_token(self, name: str, kind: str, secret_hash: str, grants: list[dict],
                  expires_at: str | None = None,
                  trusted_publishing: dict[str, Any] | None = None) -> int:
        with self.write():
            token_id = self.next_id("tokens")
            self.insert("tokens", {
                "id": token_id, "name": name, "kind": kind, "secret_hash": secret_hash,
                "grants": grants, "created_at": utcnow(), "expires_at": expires_at,
                "revoked": 0, "trusted_publishing": trusted_publishing})
        return token_id

    def token_by_hash(self, secret_hash: str) -> dict[str, Any] | None:
        return self._one_token("secret_hash = ?", secret_hash)

    def token(self, token_id: int) -> dict[str, Any] | None:
        return self._one_token("id = ?", token_id)

    def session_key(self) -> bytes:
        """The key that signs the web pages' session cookies, made on first use and shared
        by every process on this catalog."""
        found = self.value("SELECT value FROM meta WHERE key = 'session_key'")
        if found is None:
            with self.write():
                found = self.value("SELECT value FROM meta WHERE key = 'session_key'")
                if found is None:
                    found = secrets.token_hex(32)
                    self.insert("meta", {"key": "session_key", "value": found})
        return bytes.fromhex(found)

    def tokens(self) -> list[dict[str, Any]]:
        """Every token, oldest first (revoked ones included)."""
        return [_decoded(row) for row in self.rows("SELECT * FROM tokens ORDER BY id")]

    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token; False when there is no such token or it was revoked already."""
        with self.write():
            changed = self.run(
                "UPDATE tokens SET revoked = 1 WHERE id = ? AND revoked = 0", [token_id])
        return changed == 1

    def replace_token(self, token_id: int, secret_hash: str, expires_at: str | None) -> int:
        """Revoke a token and add its successor (same name, kind and grants) in one go;
        returns the new id. Raises ``LookupError`` when the old one is not active."""
        with self.write():
            old = self.token(token_id)
            if old is None or not self.revoke_token(token_id):
                raise LookupError(token_id)
            return self.add_token(old["name"], old["kind"], secret_hash, old["grants"],
                                  expires_at)

    def forget_minted_tokens(self, before: str) -> int:
        """Delete the tokens trusted publishing minted that expired before ``before``;
        returns how many. Their ids are never given again."""
        with self.write():
            self.remember_last_id("tokens")
            return self.run("DELETE FROM tokens WHERE kind = 'publisher' AND expires_at < ?",
                            [before])

    def touch_token(self, token_id: int, when: str) -> None:
        with self.write():
            self.run("UPDATE tokens SET last_used_at = ? WHERE id = ?", [when, token_id])

    def _one_token(self, where: str, value: Any) -> dict[str, Any] | None:
        row = self.row(f"SELECT * FROM tokens WHERE {where}", [value])
        return _decoded(row) if row else None


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row["grants"] = load_json(row["grants"])
    if row.get("trusted_publishing") is not None:
        row["trusted_publishing"] = load_json(row["trusted_publishing"])
    return row
