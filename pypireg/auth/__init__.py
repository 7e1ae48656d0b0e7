"""Built-in auth provider: GitLab-style tokens."""

from __future__ import annotations

from .tokens import (
    TOKEN_KINDS,
    Grant,
    InvalidGrant,
    TokenAuth,
    TokenPrincipal,
    issue_token,
)

__all__ = ["TOKEN_KINDS", "Grant", "InvalidGrant", "TokenAuth", "TokenPrincipal", "issue_token"]
