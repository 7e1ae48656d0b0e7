"""Built-in auth provider: GitLab-style tokens, and their lifecycle."""

from __future__ import annotations

from .lifecycle import (
    TokenRecord,
    expiry,
    find_token,
    issue_token,
    list_tokens,
    revoke_token,
    rotate_token,
)
from .tokens import (
    TOKEN_KINDS,
    Grant,
    InvalidGrant,
    TokenAuth,
    TokenPrincipal,
)

__all__ = [
    "TOKEN_KINDS", "Grant", "InvalidGrant", "TokenAuth", "TokenPrincipal", "TokenRecord",
    "expiry", "find_token", "issue_token", "list_tokens", "revoke_token", "rotate_token",
]
