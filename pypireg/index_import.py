"""``pypireg import --from-index``: copy projects from another index (GitLab's registry,
devpi, pypiserver, Artifactory, Nexus: anything with a simple API) into a project; the
source is read by :mod:`pypireg.sources`.

Every file the source lists for a name is downloaded, its sha256 checked against the
source's page, and stored as an upload would be (its name, version, metadata and
Requires-Python checked, its core metadata kept), with the upload time and the yank the
source gives. A file the project already holds with the same bytes is not downloaded
again, only its yank brought in line with the source's, so a second run copies only what
is new; one it holds with other bytes, and any file or name that fails, is reported while
the rest go on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement

from . import dists
from .forms import STAGING_PREFIX
from .importer import import_file
from .models import HOST, Actor
from .sources import Source, SourceError
from .uploads import UploadRefused

if TYPE_CHECKING:
    from .app import Registry
    from .models import Project, UpstreamFile

__all__ = ["IndexReport", "Source", "SourceError", "import_from_index", "requirement_names"]


@dataclass
class IndexReport:
    copied: int = 0
    skipped: int = 0  # already in the project, byte for byte
    names: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    def __str__(self) -> str:
        return (f"copied {self.copied} files of {self.names} names, skipped {self.skipped}"
                f" already present, failed {len(self.failed)}")


def requirement_names(text: str) -> list[str]:
    """The project names of a requirements file: comments, options (``-r``, ``--hash``,
    ...) and blank lines left out, continued lines joined. Raises ``ValueError`` naming a
    line that is no requirement."""
    names = []
    for number, line in enumerate(re.sub(r"\\\r?\n", " ", text).splitlines(), 1):
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0]
        line = re.split(r"\s--?[a-z]", f" {line}", maxsplit=1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            names.append(Requirement(line).name)
        except InvalidRequirement as exc:
            raise ValueError(f"line {number} is no requirement: {exc}") from None
    return list(dict.fromkeys(dists.normalize(n) for n in names))


def import_from_index(registry: Registry, project: Project, source: Source, *,
                      names: Iterable[str] | None = None,
                      progress: Callable[[str], None] = lambda line: None,
                      actor: Actor = HOST) -> IndexReport:
    """Copy every file of ``names`` (by default every name the index lists) from
    ``source`` into ``project``; ``progress`` is told of each file, and of each failure.
    Raises :class:`SourceError` only when the index's list of names cannot be read."""
    report = IndexReport()
    wanted = list(names) if names is not None else source.names()
    for name in wanted:
        report.names += 1
        try:
            files = source.files(name)
        except Exception as exc:  # noqa: BLE001 - whatever a source sends fails its name only
            report.failed.append((name, _why(exc)))
            progress(f"failed: {name}: {_why(exc)}")
            continue
        for file in files:
            what = f"{name}: {file.file_name}"
            try:
                copied = _copy(registry, project, source, name, file, actor)
            except Exception as exc:  # noqa: BLE001 - the file fails, the others go on
                report.failed.append((what, _why(exc)))
                progress(f"failed: {what}: {_why(exc)}")
                continue
            if copied:
                report.copied += 1
            else:
                report.skipped += 1
            progress(f"{'copied' if copied else 'present'}: {what}")
    return report


def _why(exc: Exception) -> str:
    if isinstance(exc, (SourceError, UploadRefused, dists.InvalidDistribution, OSError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:500]


def _copy(registry: Registry, project: Project, source: Source, name: str,
          file: UpstreamFile, actor: Actor) -> bool:
    """Copy one file; False when the project holds it already, byte for byte (its yank
    then follows the source's)."""
    held = registry.catalog.live_file_named(project.id, file.file_name)
    if held is not None:
        if held.sha256 != file.sha256:
            raise UploadRefused(f"the project holds {file.file_name} with other contents")
        if (bool(held.yanked), held.yanked_reason) != (file.yanked, file.yanked_reason):
            _yank(registry, held.package_id, file, actor)
        return False
    path = source.download(file, registry.staging_dir, STAGING_PREFIX)
    try:
        copied = import_file(registry, project, path, actor, file_name=file.file_name,
                             upload_time=source.upload_time(name, file) or None,
                             requires_python=file.requires_python)
    finally:
        path.unlink(missing_ok=True)
    held = registry.catalog.live_file_named(project.id, file.file_name)
    if copied and file.yanked and held is not None:
        _yank(registry, held.package_id, file, actor)
    return copied


def _yank(registry: Registry, package_id: int, file: UpstreamFile, actor: Actor) -> None:
    registry.set_yanked(registry.catalog.package_by_id(package_id), yanked=file.yanked,
                        reason=file.yanked_reason, file_name=file.file_name, actor=actor)
