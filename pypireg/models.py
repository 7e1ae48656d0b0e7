"""Plain records passed between the catalog, the auth provider and the views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Visibility = Literal["public", "private"]
Action = Literal["read", "write", "delete"]

READ: Action = "read"
WRITE: Action = "write"
DELETE: Action = "delete"
ACTIONS: tuple[Action, ...] = (READ, WRITE, DELETE)

# Package statuses (GitLab's names). Installable ones appear on simple pages.
INSTALLABLE_STATUSES = ("default", "hidden", "deprecated")
PENDING_DESTRUCTION = "pending_destruction"


@dataclass(frozen=True)
class Group:
    id: int
    path: str
    name: str
    parent_id: int | None
    visibility: Visibility
    created_at: str

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"


@dataclass(frozen=True)
class Project:
    """A project owns packages. ``path`` is its full path, e.g. ``acme/tools/lib``."""

    id: int
    path: str
    name: str
    group_id: int | None
    visibility: Visibility
    serial: int
    created_at: str

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Full paths of the groups above this project, outermost first."""
        parts = self.path.split("/")[:-1]
        return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))


@dataclass(frozen=True)
class Package:
    id: int
    project_id: int
    name: str
    normalized_name: str
    version: str
    package_type: str
    status: str
    created_at: str
    updated_at: str
    last_downloaded_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def installable(self) -> bool:
        return self.status in INSTALLABLE_STATUSES


@dataclass(frozen=True)
class PackageFile:
    id: int
    package_id: int
    project_id: int
    file_name: str
    size: int
    md5: str
    sha1: str
    sha256: str
    storage_key: str
    requires_python: str
    created_at: str
    metadata_sha256: str | None = None  # PEP 658; None: not looked at yet, "": none
    metadata_key: str | None = None
    yanked: bool = False
    yanked_reason: str = ""


@dataclass(frozen=True)
class IndexEntry:
    """One line of a simple index page: a package name and its latest requires-python."""

    name: str
    normalized_name: str
    requires_python: str


@dataclass(frozen=True)
class FileLink:
    """One file on a simple package page, with what PEP 658, 592 and 700 add."""

    package_name: str
    version: str
    file_name: str
    sha256: str
    requires_python: str
    size: int = 0
    upload_time: str = ""
    metadata_sha256: str | None = None
    yanked: bool = False
    yanked_reason: str = ""


@dataclass(frozen=True)
class Principal:
    """Who is calling. Auth providers may subclass it to carry what ``permits`` needs."""

    name: str


@dataclass(frozen=True)
class Usage:
    """What a group or project holds: live packages and files, and their bytes (a file
    stored in two projects counts in both)."""

    id: int
    path: str
    visibility: Visibility
    created_at: str
    packages: int
    files: int
    bytes: int
    projects: int = 1  # a group's: how many projects are below it

