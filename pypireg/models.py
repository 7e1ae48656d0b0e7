"""Plain records passed between the catalog, the auth provider and the views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

Visibility = Literal["public", "private"]
Action = Literal["read", "write", "delete"]

READ: Action = "read"
WRITE: Action = "write"
DELETE: Action = "delete"
ACTIONS: tuple[Action, ...] = (READ, WRITE, DELETE)

# Package statuses (GitLab's names). Installable ones appear on simple pages.
INSTALLABLE_STATUSES = ("default", "hidden", "deprecated")
PENDING_DESTRUCTION = "pending_destruction"


def groups_above(path: str) -> tuple[str, ...]:
    """``a/b/c`` -> ``("a", "a/b")``: the full paths of the groups above a path."""
    parts = path.split("/")[:-1]
    return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))


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
        return groups_above(self.path)


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


class IndexEntry(NamedTuple):
    """One line of a simple index page: a package name and its latest requires-python (a
    tuple: an index may list 100,000 of them)."""

    name: str
    normalized_name: str
    requires_python: str


# PEP 792 statuses of a package name, least restrictive first: a group's page, merging its
# projects', says the most restrictive one.
NAME_STATUS_ORDER = ("active", "deprecated", "archived", "quarantined")
# Statuses that refuse uploads of new files.
CLOSED_STATUSES = ("archived", "quarantined")
MAX_REASON = 1000  # characters of a yank's or a status's reason


class NameStatus(NamedTuple):
    """A package name's PEP 792 status in a project, why, and since when ("" for the
    default, ``active``)."""
    status: str = "active"
    reason: str = ""
    updated_at: str = ""


class ProtectionRule(NamedTuple):
    """A package protection rule of a project, in GitLab's fields: names matching the
    pattern (``*`` for any run of characters) may be pushed and deleted only by callers of
    at least these levels (None: that action is not restricted)."""
    id: int
    project_id: int
    package_name_pattern: str
    package_type: str
    minimum_access_level_for_push: str | None
    minimum_access_level_for_delete: str | None


class NameEntry(NamedTuple):
    """A package name in a project as people's pages list it: its current version (the
    highest final release, else the highest pre-release) and that version's summary,
    and its last upload (when, and which version)."""
    project_id: int
    normalized_name: str
    name: str
    version: str
    summary: str
    last_upload_at: str
    last_version: str


@dataclass(frozen=True)
class FileLink:
    """One file on a simple package page, with what PEP 658, 592, 700 and 740 add."""

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
    provenance: bool = False  # PEP 740: uploaded with attestations


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



@dataclass(frozen=True)
class Actor:
    """Who made a change, as the audit log records it: a token (its id and name), a host's
    own user, or ``cli`` and ``host`` for the command line and the Python API."""

    name: str
    kind: str = "user"  # personal, deploy, job or publisher (a token); user; cli; host
    token_id: int | None = None
    address: str | None = None  # the client's address, when the change came over HTTP
    # A token minted by trusted publishing: the publishers and the claims of the identity
    # token it was minted for, which the audit log keeps with each change it makes.
    trusted_publishing: Mapping[str, Any] | None = field(default=None, compare=False)
    # Where the change came from over HTTP: the API's root URL as the caller reached it,
    # which webhooks build the URLs of the files they tell of from.
    base_url: str | None = field(default=None, compare=False)


CLI = Actor("cli", "cli")
HOST = Actor("host", "host")


@dataclass(frozen=True)
class AuditEvent:
    """One recorded change. ``entity_*`` is what it happened in (a project, a group or the
    whole registry); ``target_*`` what it happened to (a package, a file, a token, ...)."""

    id: int
    created_at: str
    event_name: str
    author_id: int | None
    author_name: str
    author_class: str
    ip_address: str | None
    entity_type: str
    entity_id: int | None
    entity_path: str
    target_type: str | None
    target_id: str | None
    target_details: str | None
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """GitLab's audit event fields; pypireg's own (the event's details) inside ``details``."""
        return {
            "id": self.id, "author_id": self.author_id if self.author_id is not None else -1,
            "entity_id": self.entity_id, "entity_type": self.entity_type,
            "event_name": self.event_name,
            "details": {
                **self.details, "event_name": self.event_name, "author_name": self.author_name,
                "author_class": self.author_class, "target_id": self.target_id,
                "target_type": self.target_type, "target_details": self.target_details,
                "ip_address": self.ip_address, "entity_path": self.entity_path,
                "custom_message": self.event_name.replace("_", " "),
            },
            "created_at": self.created_at,
        }


# GitLab's choices for keep_n_duplicated_package_files.
DUPLICATE_CHOICES = ("all", "1", "10", "20", "30", "40", "50")


@dataclass(frozen=True)
class CleanupPolicy:
    """What ``pypireg cleanup`` (and gc) may remove from one project.

    Of each package name matching ``include_names`` and not ``exclude_names`` (globs on
    normalized names; no includes means every name), the ``keep_n_latest_versions``
    highest versions stay, and of the rest only those uploaded longer than
    ``older_than`` ago go (a duration such as ``90d``). The highest version always stays,
    and so does the highest final release that is not yanked (what pip installs).
    With neither rule set, nothing is removed. ``keep_n_duplicated_package_files`` is
    GitLab's setting: pypireg never keeps two files of one name, so it removes nothing.
    """

    keep_n_duplicated_package_files: str = "all"
    keep_n_latest_versions: int | None = None
    older_than: str | None = None
    include_names: tuple[str, ...] = ()
    exclude_names: tuple[str, ...] = ()

    @property
    def removes_anything(self) -> bool:
        return self.keep_n_latest_versions is not None or self.older_than is not None

    def to_json(self) -> dict[str, Any]:
        """GitLab's two fields (pypireg runs policies in gc, not on a schedule of its own, so
        ``next_run_at`` is null), then pypireg's rules."""
        return {
            "keep_n_duplicated_package_files": self.keep_n_duplicated_package_files,
            "next_run_at": None,
            "keep_n_latest_versions": self.keep_n_latest_versions,
            "older_than": self.older_than,
            "include_names": list(self.include_names),
            "exclude_names": list(self.exclude_names),
        }


@dataclass(frozen=True)
class Removal:
    """A version a cleanup removes (or, in a dry run, would), with what it frees."""

    project_id: int
    project_path: str
    package_id: int
    name: str
    version: str
    created_at: str
    files: int
    bytes: int


# -- the cache of upstream indexes (pypireg.upstream) ------------------------------------------


class UpstreamFile(NamedTuple):
    """One file an upstream's page lists, as the cache keeps it: ``url`` is the upstream's,
    ``upload_time`` in the catalog's form ("" when the upstream gives none), ``size``
    None when it gives none."""
    file_name: str
    url: str
    sha256: str
    version: str
    requires_python: str = ""
    size: int | None = None
    upload_time: str = ""
    metadata_sha256: str | None = None
    yanked: bool = False
    yanked_reason: str = ""


class UpstreamPage(NamedTuple):
    """What an upstream answered for a name, as last fetched: ``found`` False when it has
    no such name. ``checked_at`` is when the upstream last confirmed it (its freshness),
    ``changed_at`` when its content last changed (its version, in ETags)."""
    id: int
    upstream: str
    normalized_name: str
    found: bool
    name: str
    files: Sequence[UpstreamFile]  # read from the catalog when first used
    status: NameStatus
    etag: str
    last_modified: str
    checked_at: str
    changed_at: str


class CachedFile(NamedTuple):
    """A file some cached upstream page lists, and what of it is kept: ``storage_key`` is
    None until its bytes were fetched and verified, ``metadata_key`` likewise for its
    PEP 658 metadata. ``page_status`` is the PEP 792 status its upstream's page of the
    name gave last, read with the row."""
    id: int
    sha256: str
    file_name: str
    normalized_name: str
    upstream: str
    url: str
    size: int | None
    upload_time: str
    metadata_sha256: str | None
    storage_key: str | None
    metadata_key: str | None
    cached_size: int | None
    page_status: str | None = None


@dataclass(frozen=True)
class TrustedPublisher:
    """A CI identity a project trusts to upload (pypireg/oidc.py): which fields count
    depends on ``kind`` (``github``, ``gitlab`` or ``oidc``), the others are empty."""

    id: int
    project_id: int
    kind: str
    issuer: str
    repository: str = ""  # github: OWNER/NAME
    repository_owner_id: str = ""  # github, optional
    workflow: str = ""  # github: the workflow's file name
    project_path: str = ""  # gitlab: NAMESPACE/PROJECT
    ci_config_path: str = ""  # gitlab: the CI file's path in the repository
    environment: str = ""  # github and gitlab, optional
    claims: Mapping[str, str] = field(default_factory=dict)  # oidc: exact claim values
    created_at: str = ""

