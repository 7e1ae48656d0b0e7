"""Plain records of the publishing workflows, passed between the catalog and the parts
that use them: stages and their files (pypireg/stages.py), webhooks, their deliveries and
each attempt at one (pypireg/hooks/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Stage:
    """A staged release (pypireg/stages.py): files of a project waiting, unseen by
    installers, to be published in one commit. ``status`` is ``open``, ``published`` or
    ``expired`` (an open stage past ``expires_at`` reads as expired before gc removes it)."""

    id: int
    project_id: int
    name: str
    status: str
    created_at: str
    expires_at: str
    created_by: str
    published_at: str | None = None


@dataclass(frozen=True)
class StagedFile:
    """A file uploaded into a stage: everything its package file will be, once published."""

    id: int
    stage_id: int
    name: str  # the package name as uploaded
    normalized_name: str
    version: str
    canonical_version: str
    file_name: str
    size: int
    md5: str
    sha1: str
    sha256: str
    storage_key: str
    requires_python: str
    created_at: str
    metadata_sha256: str = ""
    metadata_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    details: dict[str, Any] | None = field(default=None, compare=False)
    provenance: dict[str, Any] | None = field(default=None, compare=False)


MAX_STAGED_FILES = 1000  # files one stage may hold: its publish is one transaction



@dataclass(frozen=True)
class Hook:
    """A webhook of a project, or of a group (for every project below it)."""

    id: int
    project_id: int | None
    group_id: int | None
    url: str
    secret: str = field(repr=False)  # whsec_..., shown once when the hook is made
    events: tuple[str, ...]
    enabled: bool
    created_at: str
    failing_since: str | None = None  # the first failed attempt since the last success
    disabled_reason: str | None = None


@dataclass(frozen=True)
class HookDelivery:
    """One event queued for one hook, with where its attempts have left it."""

    id: int
    hook_id: int
    event: str
    webhook_id: str  # the same on every attempt: receivers drop what they have seen
    body: str
    created_at: str
    status: str  # pending, delivered or failed (given up)
    attempts: int
    next_attempt_at: str
    last_status: int | None = None  # the receiver's last HTTP status
    last_error: str | None = None
    delivered_at: str | None = None


@dataclass(frozen=True)
class HookAttempt:
    delivery_id: int
    attempted_at: str
    status_code: int | None
    error: str | None
    duration_ms: int
