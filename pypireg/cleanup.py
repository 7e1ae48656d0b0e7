"""Retention: which versions a project's cleanup policy removes.

Planning is separate from removing, so that ``pypireg cleanup --dry-run`` lists exactly
what a real run then soft-deletes.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from .exceptions import PypiregError
from .models import DUPLICATE_CHOICES, CleanupPolicy, Removal
from .times import parse_duration, parse_time

if TYPE_CHECKING:
    from .catalog import Catalog
    from .models import Project

MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 255
MAX_KEEP = 100_000


class InvalidPolicy(PypiregError, ValueError):
    """A cleanup policy field is malformed; the message names it and says why."""


def duration(text: str, field: str = "older_than") -> timedelta:
    """``12h``, ``90d`` or ``8w`` as a timedelta."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidPolicy(f"{field} is invalid: {exc}") from None


def make_policy(current: CleanupPolicy, fields: dict[str, Any]) -> CleanupPolicy:
    """``current`` with the given fields changed, each checked; ``None`` (or "") clears an
    optional rule. Unknown fields are refused, so that a typo never passes silently."""
    unknown = set(fields) - set(CleanupPolicy.__dataclass_fields__)
    if unknown:
        raise InvalidPolicy(f"unknown cleanup policy field(s): {', '.join(sorted(unknown))}")
    values = {**current.__dict__}
    for name, value in fields.items():
        values[name] = _checked(name, value)
    return CleanupPolicy(**values)


def _checked(name: str, value: Any) -> Any:
    if name == "keep_n_duplicated_package_files":
        text = str(value)
        if text not in DUPLICATE_CHOICES:
            raise InvalidPolicy(f"{name} is invalid: use one of {', '.join(DUPLICATE_CHOICES)}")
        return text
    if value is None or value == "":
        return () if name.endswith("_names") else None
    if name == "keep_n_latest_versions":
        text = str(value).strip()
        if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or len(
                text) > len(str(MAX_KEEP)) or not 1 <= int(text) <= MAX_KEEP:
            raise InvalidPolicy(f"{name} is invalid: a whole number from 1 to {MAX_KEEP}")
        return int(text)
    if name == "older_than":
        duration(str(value), name)
        return str(value).strip()
    patterns = value if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(p, str) for p in patterns):
        raise InvalidPolicy(f"{name} is invalid: give glob patterns as strings")
    patterns = [part for p in patterns for part in p.split(",")]
    # Names are compared normalized (PEP 503), so patterns are too: My_Lib* -> my-lib*.
    cleaned = tuple(re.sub(r"[-_.]+", "-", str(p).strip().lower()) for p in patterns
                    if str(p).strip())
    if len(cleaned) > MAX_PATTERNS or any(len(p) > MAX_PATTERN_LENGTH for p in cleaned):
        raise InvalidPolicy(f"{name} is invalid: at most {MAX_PATTERNS} patterns of at most"
                            f" {MAX_PATTERN_LENGTH} characters")
    return cleaned


def policy_from_row(row: dict[str, Any] | None) -> CleanupPolicy:
    if row is None:
        return CleanupPolicy()
    return CleanupPolicy(**{name: row[name] for name in CleanupPolicy.__dataclass_fields__})


def plan(catalog: Catalog, project: Project, policy: CleanupPolicy,
         now: datetime | None = None) -> list[Removal]:
    """The versions ``policy`` removes from ``project`` now, oldest upload first."""
    if not policy.removes_anything:
        return []
    now = now or datetime.now(timezone.utc)
    cutoff = now - duration(policy.older_than) if policy.older_than else None
    keep = max(policy.keep_n_latest_versions or 1, 1)  # the highest version always stays
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in catalog.versions_with_usage(project.id):
        if _selected(row["normalized_name"], policy):
            by_name[row["normalized_name"]].append(row)
    removals = []
    for rows in by_name.values():
        rows.sort(key=lambda r: (_version_key(r["version"]), r["created_at"], r["id"]),
                  reverse=True)
        release = next((r for r in rows if _is_release(r)), None)  # what pip would install
        for row in rows[keep:]:
            if row is release:
                continue
            if cutoff is None or parse_time(row["created_at"]) < cutoff:
                removals.append(Removal(
                    project_id=project.id, project_path=project.path, package_id=row["id"],
                    name=row["name"], version=row["version"], created_at=row["created_at"],
                    files=row["files"], bytes=row["bytes"]))
    return sorted(removals, key=lambda r: (r.created_at, r.package_id))


def _selected(normalized_name: str, policy: CleanupPolicy) -> bool:
    if policy.include_names and not any(
            fnmatch.fnmatchcase(normalized_name, p) for p in policy.include_names):
        return False
    return not any(fnmatch.fnmatchcase(normalized_name, p) for p in policy.exclude_names)


def _is_release(row: dict[str, Any]) -> bool:
    """A final release (no pre-release or dev part) with a file that is not yanked."""
    key = _version_key(row["version"])
    return bool(key[0]) and not key[1].is_prerelease and row["yanked_files"] < row["files"]


def _version_key(version: str) -> tuple[int, Version]:
    """PEP 440 order; a version that does not parse (none should) sorts below all."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, Version("0"))
