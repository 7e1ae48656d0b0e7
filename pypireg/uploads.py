"""Uploads: check a parsed form's file, then commit its catalog row and blob together.

Parsing the body (and its bounds) lives in :mod:`pypireg.forms`.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, Conflict

from . import attestations, dists
from .catalog import PROJECT, CatalogError, utcnow
from .catalog.stages import OPEN, PUBLISHED
from .details import package_details
from .errors import ResourceNotFound
from .exceptions import PypiregError
from .forms import USAGE, UploadForm
from .models import CLOSED_STATUSES, HOST, Actor
from .records import MAX_STAGED_FILES
from .storage import blob_key

log = logging.getLogger("pypireg")

SILENT_STORAGE = (TimeoutError, ConnectionError)  # what a storage raises when it does not answer

if TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict

    from .catalog import Catalog
    from .limits import Limits
    from .models import PackageFile, Project
    from .protocols import Storage
    from .records import Stage, StagedFile


def store_upload(
    catalog: Catalog, storage: Storage, project: Project, form: UploadForm, limits: Limits,
    actor: Actor = HOST, permit: Callable[[str], None] | None = None,
    trusted: attestations.TrustedPublishers | None = None, stage: Stage | None = None,
) -> tuple[PackageFile | StagedFile, bool]:
    """Validate the form and store its file (into ``stage``, if given: it waits there to
    be published). Returns ``(file, created)``.

    ``created`` is False when the identical file was already there (nothing changes).
    ``permit(normalized_name)`` raises if the caller may not push that name (a protection
    rule); with ``trusted``, attestations must verify as signed by one of its publishers.
    The caller discards the staging file afterwards.
    """
    staged = form.content
    if staged is None:
        raise BadRequest(f"the upload has no 'content' file part: {USAGE}")
    try:
        identity = dists.identify(
            form.fields.get("name", ""), form.fields.get("version", ""), form.file_name, limits
        )
    except dists.InvalidDistribution as exc:
        raise BadRequest(str(exc)) from None
    if permit is not None:
        permit(identity.normalized_name)
    digests = staged.finish()
    _check_digest(form.fields, "md5_digest", dists.MD5_HEX, digests["md5"])
    _check_digest(form.fields, "sha256_digest", dists.SHA256_HEX, digests["sha256"])
    if digests["size"] == 0:
        raise BadRequest(f"the file {identity.file_name!r} is empty")
    try:
        raw = dists.metadata_bytes(staged.path, identity.file_name, limits)
        requires_python = dists.file_requires_python(
            form.fields.get("requires_python", ""), dists.parse_metadata(raw))
    except dists.InvalidDistribution as exc:
        raise BadRequest(f"{identity.file_name!r} is not a valid distribution: {exc}") from None
    provenance = None
    if form.fields.get("attestations"):
        try:
            provenance = attestations.provenance(attestations.check_attestations(
                form.fields["attestations"], identity.file_name, digests["sha256"]),
                identity.file_name, digests["sha256"], trusted)
        except attestations.InvalidAttestation as exc:
            raise BadRequest(f"attestations are invalid: {exc}") from None
    details = package_details(raw, limits)
    # The distribution's own summary when the client sent none (curl, a bare form).
    fields = form.fields.to_dict()
    if not fields.get("summary", "").strip():
        fields["summary"] = details.get("summary", "")
    metadata = dists.truncate_metadata(fields)
    try:
        return commit_file(
            catalog, storage, project, identity, requires_python, metadata, digests,
            lambda key: storage.put_file(key, staged.path),
            dists.trusted_metadata(raw, identity.file_name), actor, details, provenance,
            stage,
        )
    except StageClosed as exc:
        raise Conflict(f"{exc}: it takes no more files; create another") from None
    except (FileConflict, NameClosed, StageFull) as exc:
        raise BadRequest(str(exc)) from None
    except CatalogError:
        raise ResourceNotFound("Project") from None


class UploadRefused(PypiregError):
    """The file cannot be stored; the message says why."""


class FileConflict(UploadRefused):
    """A different file already has this name in the project."""


class NameClosed(UploadRefused):
    """The name's PEP 792 status (archived or quarantined) refuses new files."""


class StageClosed(UploadRefused):
    """The stage was published, discarded or has expired: it takes no more files."""


class StageFull(UploadRefused):
    """The stage holds :data:`~pypireg.models.MAX_STAGED_FILES` files already."""


def commit_file(
    catalog: Catalog,
    storage: Storage,
    project: Project,
    identity: dists.DistIdentity,
    requires_python: str,
    metadata: dict[str, str],
    digests: dict[str, Any],
    put: Callable[[str], None],
    core_metadata: bytes | None = None,
    actor: Actor = HOST,
    details: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    stage: Stage | None = None,
    upload_time: str | None = None,
) -> tuple[PackageFile | StagedFile, bool]:
    """Store a checked file's bytes with ``put(key)``, then record it: as the project's,
    or, with ``stage``, as a file waiting in that stage (pypireg/stages.py).

    The blobs are reserved first, stored without holding the catalog's write lock (a large
    upload to S3 keeps no other writer waiting), and the row commits last, so a crash
    leaves at most an unreferenced blob for gc (:mod:`pypireg.catalog.blobs`).
    ``core_metadata`` (PEP 658) is stored beside the file as a blob of its own. Returns
    ``(file, created)``; ``created`` is False when the identical file was already there.
    Raises :class:`FileConflict` when other bytes have the name (in the project, or in
    the stage). A new file is recorded in the audit log as published (or staged) by
    ``actor``, in the row's transaction. ``details``
    (:func:`pypireg.details.package_details`) become what the package's page shows;
    ``provenance`` (:func:`pypireg.attestations.provenance`) is kept with the file;
    ``upload_time`` (a catalog time) is when it was uploaded, if not now (an import's).
    """
    key = blob_key(digests["sha256"])
    extra: dict[str, Any] = {"metadata_sha256": "", "metadata_key": None}
    if core_metadata is not None:
        metadata_sha256 = hashlib.sha256(core_metadata).hexdigest()
        extra = {"metadata_sha256": metadata_sha256, "metadata_key": blob_key(metadata_sha256)}
    with catalog.write():
        stored = _stored_already(catalog, project, identity, digests, stage)
        if stored is not None:
            return stored, False
        check_name_open(catalog, project, identity.normalized_name)
        if stage is not None:
            _check_room(catalog, stage)
        reservations = catalog.reserve_blobs(k for k in (key, extra["metadata_key"]) if k)
    created: list[str] = []  # blobs this call stored
    try:
        if not storage.exists(key):
            created.append(key)  # before the call: a failing put may leave bytes behind
            put(key)
        metadata_key = extra["metadata_key"]
        if metadata_key and not storage.exists(metadata_key):
            created.append(metadata_key)
            storage.put_stream(metadata_key, io.BytesIO(core_metadata))  # type: ignore[arg-type]
        with catalog.write():
            catalog.release_reservations(reservations)
            stored = _stored_already(catalog, project, identity, digests, stage)  # won?
            if stored is not None:
                return stored, False
            check_name_open(catalog, project, identity.normalized_name)  # closed meanwhile?
            file = {"file_name": identity.file_name, "storage_key": key,
                    "requires_python": requires_python, **digests, **extra}
            if stage is not None:
                return _stage_file(catalog, project, stage, identity, metadata, file,
                                   details, provenance, actor), True
            package_file = record_file(
                catalog, project, actor, name=identity.name,
                normalized_name=identity.normalized_name, version=identity.version,
                canonical_version=identity.canonical_version, metadata=metadata, file=file,
                details=details, provenance=provenance, now=upload_time)
    except BaseException as exc:
        with catalog.write():
            catalog.release_reservations(reservations)
            # Whoever leaves a blob last removes it: an upload of the same bytes that
            # failed too may have stored it, counting on this one's reservation. Not a
            # storage that does not answer: asking it again would hold the write lock
            # through its timeouts, and gc removes what is left.
            if not isinstance(exc, SILENT_STORAGE):
                for blob in {key, *created}:
                    if not catalog.key_in_use(blob):
                        _remove(storage, blob)
        raise
    return package_file, True


def record_file(catalog: Catalog, project: Project, actor: Actor, *,
                stage: str | None = None, **fields: Any) -> PackageFile:
    """Record a stored file as the project's (:meth:`~pypireg.catalog.Catalog.add_file`'s
    ``fields``) and its ``package_published`` event, naming the ``stage`` that published
    it. Call inside ``write()``."""
    package, package_file = catalog.add_file(project.id, **fields)
    catalog.record_event(
        actor, "package_published", entity_type=PROJECT, entity_id=project.id,
        entity_path=project.path, target_type="PackageFile", target_id=package_file.id,
        target_details=package_file.file_name,
        details={"name": package.name, "version": package.version,
                 "sha256": package_file.sha256, "size": package_file.size,
                 **({"stage": stage} if stage else {})})
    return package_file


def _stage_file(catalog: Catalog, project: Project, stage: Stage,
                identity: dists.DistIdentity, metadata: dict[str, str], file: dict[str, Any],
                details: dict[str, Any] | None, provenance: dict[str, Any] | None,
                actor: Actor) -> StagedFile:
    """Record a stored file as waiting in ``stage``. Call inside ``write()``."""
    _check_room(catalog, stage)
    staged = catalog.add_staged_file(stage.id, {
        **file, "name": identity.name, "normalized_name": identity.normalized_name,
        "version": identity.version, "canonical_version": identity.canonical_version,
        "metadata_sha256": file.get("metadata_sha256") or "", "metadata": metadata,
        "details": details, "provenance": provenance, "created_at": utcnow()})
    catalog.record_event(
        actor, "stage_file_uploaded", entity_type=PROJECT, entity_id=project.id,
        entity_path=project.path, target_type="StagedFile", target_id=staged.id,
        target_details=staged.file_name,
        details={"stage": stage.name, "name": staged.name, "version": staged.version,
                 "sha256": staged.sha256, "size": staged.size})
    return staged


def _check_room(catalog: Catalog, stage: Stage) -> None:
    held, _ = catalog.staged_counts([stage.id]).get(stage.id, (0, 0))
    if held >= MAX_STAGED_FILES:
        raise StageFull(f"stage {stage.name!r} holds {MAX_STAGED_FILES} files, the most a"
                        " stage may: publish it, and stage the rest in another")


def _remove(storage: Storage, blob: str) -> None:
    """Remove a blob no row or reservation names, if the storage has it. A storage that
    fails now leaves it to gc, and the upload's reservations are released all the same."""
    try:
        if storage.exists(blob):
            storage.delete(blob)
    except Exception as exc:  # whatever the storage raises: gc removes what is left
        log.warning("could not remove blob %s of a failed upload, so gc will: %s", blob, exc)


def _stored_already(catalog: Catalog, project: Project, identity: dists.DistIdentity,
                    digests: dict[str, Any], stage: Stage | None = None
                    ) -> PackageFile | StagedFile | None:
    """The identical file, if the project (or ``stage``) holds it; a conflict if other
    bytes have the name, the project is gone or the stage takes no more files. Call
    inside ``write()``."""
    if catalog.project(project.id) is None:  # deleted while the body arrived
        raise CatalogError(f"project {project.path!r} was deleted")
    if stage is not None:
        check_open_stage(catalog, stage)
        staged = catalog.staged_file(stage.id, identity.file_name)
        if staged is not None:
            if staged.sha256 == digests["sha256"]:
                return staged
            raise FileConflict(f"File already exists: {identity.file_name!r} is staged in"
                               f" {stage.name!r} with other contents")
    existing = catalog.live_file_named(project.id, identity.file_name)
    if existing is None:
        return None
    if existing.sha256 == digests["sha256"]:
        return existing
    raise FileConflict(f"File already exists: {identity.file_name!r} is stored with other"
                       " contents; upload a new version instead")


def check_open(stage: Stage) -> None:
    """Raise :class:`StageClosed` for a published or expired stage."""
    if stage.status == PUBLISHED:
        raise StageClosed(f"stage {stage.name!r} was published at {stage.published_at}")
    if stage.status != OPEN:
        raise StageClosed(f"stage {stage.name!r} expired at {stage.expires_at}")


def check_open_stage(catalog: Catalog, stage: Stage) -> None:
    """Raise :class:`StageClosed` unless ``stage`` is open still, as the catalog has it
    now (discarded, published or expired meanwhile). Call inside ``write()``."""
    current = catalog.stage(stage.project_id, stage.name, now=utcnow())
    if current is None or current.id != stage.id:
        raise StageClosed(f"stage {stage.name!r} was discarded")
    check_open(current)


def check_name_open(catalog: Catalog, project: Project, normalized_name: str) -> None:
    """Raise :class:`NameClosed` if the name's PEP 792 status refuses new files."""
    status = catalog.name_status([project.id], normalized_name)
    if status.status in CLOSED_STATUSES:
        because = f" ({status.reason})" if status.reason else ""
        raise NameClosed(f"{normalized_name} is {status.status}{because}: it takes no"
                         " new files (PEP 792 status, set by the project's maintainers)")


def _check_digest(fields: MultiDict[str, str], field: str, shape: Any, actual: str) -> None:
    claimed = fields.get(field, "").strip()
    if not claimed:
        return
    if not shape.fullmatch(claimed):
        raise BadRequest(f"{field} {claimed!r} is not a hexadecimal digest of the right length")
    if not hmac.compare_digest(claimed.lower(), actual):
        raise BadRequest(
            f"{field} does not match the uploaded file: the client sent {claimed.lower()},"
            f" the server computed {actual}"
        )
