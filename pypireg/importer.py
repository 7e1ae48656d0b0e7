"""Bring a directory of distributions (a pypiserver package directory) into a project.

Each file is checked and stored as an upload would be: name and version come from its own
metadata and must agree with its filename, digests are computed, and the catalog row and
the stored bytes commit together. Files already present are skipped, so a rerun is safe.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import dists
from .details import package_details
from .forms import FileDigests
from .models import HOST, Actor
from .uploads import UploadRefused, commit_file

if TYPE_CHECKING:
    from .app import Registry
    from .models import Project

DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")
READ_CHUNK = 1024 * 1024


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0  # already present with the same bytes
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    ignored: list[str] = field(default_factory=list)  # not distributions: README, .asc, ...

    def __str__(self) -> str:
        return (f"imported {self.imported}, skipped {self.skipped} already present,"
                f" ignored {len(self.ignored)} that are not distributions,"
                f" failed {len(self.failed)}")


def distribution_files(directory: Path) -> Iterator[Path]:
    """Every file below ``directory``, nested folders included, in a stable order (hidden
    ones left out); distributions are told apart from the rest by their suffix."""
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def import_directory(
    registry: Registry,
    directory: Path,
    project: Project,
    progress: Callable[[int, int], None] | None = None,
    actor: Actor = HOST,
) -> ImportReport:
    report = ImportReport()
    paths = []
    for path in distribution_files(directory):
        if path.name.endswith(DIST_SUFFIXES):
            paths.append(path)
        else:
            report.ignored.append(str(path.relative_to(directory)))
    for done, path in enumerate(paths, 1):
        try:
            if import_file(registry, project, path, actor):
                report.imported += 1
            else:
                report.skipped += 1
        except (dists.InvalidDistribution, UploadRefused, OSError) as exc:
            report.failed.append((str(path.relative_to(directory)), str(exc)))
        if progress:
            progress(done, len(paths))
    return report


def import_file(registry: Registry, project: Project, path: Path, actor: Actor = HOST, *,
                file_name: str | None = None, upload_time: str | None = None,
                requires_python: str | None = None) -> bool:
    """Store one file (named ``file_name``, by default its path's name), uploaded at
    ``upload_time`` (by default now), requiring ``requires_python`` where its metadata
    says nothing; False when it was already there. Raises with the reason it can't."""
    limits = registry.limits
    file_name = file_name or path.name
    raw = dists.metadata_bytes(str(path), file_name, limits=limits)
    metadata = dists.parse_metadata(raw)
    identity = dists.identify(metadata.get("Name", ""), metadata.get("Version", ""), file_name,
                              limits)
    # The file's own Requires-Python wins over one given beside it, both checked.
    requires_python = dists.file_requires_python(requires_python or "", metadata)
    digests = _digests(path)
    if digests["size"] == 0:
        raise dists.InvalidDistribution("the file is empty")
    fields = {
        "summary": metadata.get("Summary", ""),
        "keywords": metadata.get("Keywords", ""),
        "author_email": metadata.get("Author-email", ""),
        "metadata_version": metadata.get("Metadata-Version", ""),
        "description_content_type": metadata.get("Description-Content-Type", ""),
    }
    storage = registry.storage

    def put(key: str) -> None:
        with open(path, "rb") as stream:
            storage.put_stream(key, stream)

    _, created = commit_file(
        registry.catalog, storage, project, identity, requires_python,
        dists.truncate_metadata(fields), digests, put, dists.trusted_metadata(raw, file_name),
        actor, package_details(raw, limits), upload_time=upload_time,
    )
    return created


def _digests(path: Path) -> dict[str, Any]:
    digests = FileDigests()
    with open(path, "rb") as stream:
        while chunk := stream.read(READ_CHUNK):
            digests.update(chunk)
    return digests.result()
