"""Staged releases, as methods of :class:`pypireg.Registry` (docs/staging.md).

A stage holds files of a project that no page, group page or download shows until it is
published: then every file becomes the project's in one write transaction, with one
upload time, after the checks of an upload are made again (a file that became a
duplicate meanwhile, a protection rule, a PEP 792 status). Any failing check publishes
nothing. Writes are serialized on both engines (one lock), so of two stages publishing
the same file name exactly one wins and the other is told why.

Uploads into a stage are ordinary uploads (:func:`pypireg.uploads.store_upload` with
``stage``): the same form, checks and limits. A stage expires ``stage_lifetime`` after it
was created; gc then forgets it and frees the blobs only it held.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from .catalog import PROJECT, CatalogError, utcnow
from .catalog.stages import OPEN, PUBLISHED
from .exceptions import PypiregError
from .maintenance import release_blobs
from .models import HOST, Actor, IndexEntry, PackageFile, Project
from .records import Stage, StagedFile
from .times import parse_time, stamp
from .uploads import FileConflict, StageClosed, check_name_open, check_open, record_file

if TYPE_CHECKING:
    from .catalog import Catalog
    from .protocols import Storage

MAX_OPEN_STAGES = 100  # in one project at once
STAGE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")


class StageError(PypiregError):
    """What a stage cannot do now; the message says why."""


class StageNotFound(StageError, LookupError):
    """The project has no stage of that name."""


class StageEmpty(StageError):
    """A stage without files has nothing to publish."""


def check_stage_name(name: str) -> str:
    """``name`` if it can name a stage (what a URL path segment holds as it is)."""
    if not STAGE_NAME.fullmatch(name):
        raise ValueError(f"stage name {name!r} is not valid: 1 to 64 letters, digits, '.',"
                         " '_' or '-', starting and ending with a letter or digit")
    return name


class Staging:
    """Create, inspect, publish and discard a project's stages."""

    catalog: Catalog
    storage: Storage
    stage_lifetime: timedelta

    def create_stage(self, project: Project, name: str, *, actor: Actor = HOST) -> Stage:
        """A new open stage. Raises ``ValueError`` for a name that cannot be a stage's,
        :class:`pypireg.catalog.StageExists` while an open stage has the name."""
        check_stage_name(name)
        now = utcnow()
        expires = stamp(parse_time(now) + self.stage_lifetime)
        with self.catalog.write():
            if self.catalog.open_stage_count(project.id, now) >= MAX_OPEN_STAGES:
                raise StageError(f"{project.path} has {MAX_OPEN_STAGES} open stages, the most"
                                 " a project may: publish or discard some first")
            stage = self.catalog.create_stage(project.id, name, now=now, expires_at=expires,
                                              created_by=actor.name)
            _record(self.catalog, actor, "stage_created", project, stage,
                    {"expires_at": stage.expires_at})
        return stage

    def stages(self, project: Project, *, open_only: bool = False, limit: int = 100,
               offset: int = 0) -> tuple[list[Stage], int]:
        """One page of the project's stages, newest first (published and expired ones
        until gc forgets them; only open ones, with ``open_only``), and how many there
        are."""
        return self.catalog.stages([project.id], now=utcnow(), open_only=open_only,
                                   limit=limit, offset=offset)

    def staged_counts(self, stages: Iterable[Stage]) -> dict[int, tuple[int, int]]:
        """How many files, and bytes, each stage holds, by its id."""
        return self.catalog.staged_counts(s.id for s in stages)

    def stage(self, project: Project, name: str) -> Stage:
        """The project's newest stage of that name; raises :class:`StageNotFound`."""
        found = self.catalog.stage(project.id, name, now=utcnow())
        if found is None:
            raise StageNotFound(f"project {project.path} has no stage {name!r}")
        return found

    def staged_files(self, stage: Stage, normalized_name: str | None = None
                     ) -> list[StagedFile]:
        """A stage's files (of one package name), in upload order."""
        return self.catalog.staged_files(stage.id, normalized_name)

    def staged_file(self, stage: Stage, file_name: str) -> StagedFile | None:
        return self.catalog.staged_file(stage.id, file_name)

    def staged_index(self, stage: Stage) -> list[IndexEntry]:
        """Each package name the stage holds, as its preview index lists them."""
        return self.catalog.staged_index(stage.id)

    def publish_stage(self, project: Project, name: str, *, actor: Actor = HOST,
                      permit: Callable[[str], None] | None = None,
                      ) -> tuple[Stage, list[PackageFile]]:
        """Publish every file of an open stage at once; returns the stage as published
        and the project's files it gave (a file the project already held, byte for byte,
        counts as given).

        ``permit(normalized_name)`` raises if the caller may not push that name (as an
        upload's). Raises :class:`StageNotFound`, :class:`pypireg.uploads.StageClosed`
        (published or expired), :class:`StageEmpty`,
        :class:`pypireg.uploads.FileConflict` (another file has a staged name now) or
        :class:`pypireg.uploads.NameClosed` (a PEP 792 status); then nothing is published.
        """
        catalog = self.catalog
        with catalog.write():
            stage = self.stage(project, name)
            check_open(stage)
            staged = catalog.staged_files(stage.id)
            if not staged:
                raise StageEmpty(f"stage {name!r} holds no files: upload some first")
            if catalog.project(project.id) is None:
                raise CatalogError(f"project {project.path!r} was deleted")
            now = utcnow()
            given: list[PackageFile] = []
            for each in staged:
                if permit is not None:
                    permit(each.normalized_name)
                existing = catalog.live_file_named(project.id, each.file_name)
                if existing is not None:
                    if existing.sha256 != each.sha256:
                        raise FileConflict(
                            f"File already exists: {each.file_name!r} is stored in"
                            f" {project.path} with other contents; nothing was published")
                    given.append(existing)
                    continue
                check_name_open(catalog, project, each.normalized_name)
                whole = catalog.staged_whole(each.id)  # its details: one file at a time
                given.append(record_file(
                    catalog, project, actor, stage=stage.name, name=each.name,
                    normalized_name=each.normalized_name, version=each.version,
                    canonical_version=each.canonical_version, metadata=whole.metadata,
                    details=whole.details, provenance=whole.provenance, now=now, file={
                        "file_name": each.file_name, "storage_key": each.storage_key,
                        "requires_python": each.requires_python, "size": each.size,
                        "md5": each.md5, "sha1": each.sha1, "sha256": each.sha256,
                        "metadata_sha256": each.metadata_sha256,
                        "metadata_key": each.metadata_key}))
            # Kept, to be shown as published, for as long as it stood open.
            expires = stamp(parse_time(now) + (parse_time(stage.expires_at)
                                               - parse_time(stage.created_at)))
            catalog.mark_published(stage.id, now, expires)
            names = {f.file_name: f for f in staged}
            _record(catalog, actor, "stage_published", project, stage, {
                "files": [f.file_name for f in given],
                "published": [{"file_name": f.file_name, "name": names[f.file_name].name,
                               "version": names[f.file_name].version, "sha256": f.sha256,
                               "size": f.size} for f in given]})
        published = dataclasses.replace(stage, status=PUBLISHED, published_at=now,
                                        expires_at=expires)
        return published, given

    def discard_stage(self, project: Project, name: str, *, actor: Actor = HOST) -> Stage:
        """Forget an open or expired stage and free the blobs only it held. A published
        stage's files are the project's: raises :class:`pypireg.uploads.StageClosed`."""
        with self.catalog.write():
            stage = self.stage(project, name)
            if stage.status == PUBLISHED:
                raise StageClosed(f"stage {name!r} was published at {stage.published_at}: its"
                                  " files are the project's now; delete them as packages")
            keys = self.catalog.delete_stage(stage.id)
            _record(self.catalog, actor, "stage_discarded", project, stage)
        release_blobs(self.catalog, self.storage, keys)
        return stage

    def expire_stages(self, *, actor: Actor = HOST) -> int:
        """What gc runs: forget every stage past its ``expires_at`` (an open one is
        audited as expired) and free the blobs only they held; returns how many went."""
        keys: list[str] = []
        gone = 0
        for listed in self.catalog.stages_past(utcnow()):
            with self.catalog.write():  # as it is now: published or discarded meanwhile?
                stage = self.catalog.stage_by_id(listed.id, utcnow())
                if stage is None or stage.status == OPEN:
                    continue
                keys += self.catalog.delete_stage(stage.id)
                project = self.catalog.project(stage.project_id)
                if stage.status != PUBLISHED and project is not None:
                    _record(self.catalog, actor, "stage_expired", project, stage)
            gone += 1
        release_blobs(self.catalog, self.storage, keys)
        return gone


def _record(catalog: Catalog, actor: Actor, event: str, project: Project, stage: Stage,
            details: dict[str, object] | None = None) -> None:
    catalog.record_event(actor, event, entity_type=PROJECT, entity_id=project.id,
                         entity_path=project.path, target_type="Stage", target_id=stage.id,
                         target_details=stage.name, details=details or {})




def stage_json(stage: Stage, counts: tuple[int, int]) -> dict[str, object]:
    """A stage as the API and ``pypireg stage ... --json`` show it (``counts``: its files
    and their bytes); the API adds its URLs."""
    return {"name": stage.name, "status": stage.status, "created_at": stage.created_at,
            "expires_at": stage.expires_at, "published_at": stage.published_at,
            "created_by": stage.created_by, "file_count": counts[0], "size": counts[1]}


def staged_json(staged: StagedFile) -> dict[str, object]:
    """A staged file as the API and ``pypireg stage show --json`` show it."""
    return {"file_name": staged.file_name, "name": staged.name, "version": staged.version,
            "size": staged.size, "sha256": staged.sha256,
            "requires_python": staged.requires_python, "uploaded_at": staged.created_at}
