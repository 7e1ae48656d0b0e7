"""Uploads: stream the body to staging files while hashing, then commit row and blob together.

Memory stays flat whatever the file size: werkzeug's multipart parser hands each file
part to ``StagingFile.write`` in small chunks.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, ClientDisconnected, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from . import dists
from .storage import blob_key

if TYPE_CHECKING:
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.wrappers import Request

    from .catalog import Catalog
    from .models import PackageFile, Project
    from .protocols import Storage

# Room for the metadata fields (description and so on) on top of the file itself.
FORM_OVERHEAD = 16 * 1024 * 1024
USAGE = "send multipart/form-data with the fields content (the file), name and version"


class FileDigests:
    """Size, md5, sha1 and sha256 of bytes seen one piece at a time."""

    def __init__(self) -> None:
        self.size = 0
        self._hashes = {"md5": hashlib.md5(usedforsecurity=False),
                        "sha1": hashlib.sha1(usedforsecurity=False),
                        "sha256": hashlib.sha256()}

    def update(self, data: bytes) -> None:
        self.size += len(data)
        for digest in self._hashes.values():
            digest.update(data)

    def result(self) -> dict[str, Any]:
        return {"size": self.size, **{k: h.hexdigest() for k, h in self._hashes.items()}}


class StagingFile:
    """A temporary file that hashes what is written to it and enforces a size limit."""

    def __init__(self, directory: str, limit: int) -> None:
        fd, self.path = tempfile.mkstemp(dir=directory, prefix="upload-")
        self._file = os.fdopen(fd, "w+b")
        self._limit = limit
        self._digests = FileDigests()

    def write(self, data: bytes) -> int:
        if self._digests.size + len(data) > self._limit:
            raise RequestEntityTooLarge(f"File is too large: the limit is {_human(self._limit)}")
        self._digests.update(data)
        return self._file.write(data)

    def seek(self, *args: Any) -> int:
        return self._file.seek(*args)

    def read(self, *args: Any) -> bytes:
        return self._file.read(*args)

    def close(self) -> None:
        self._file.close()

    def finish(self) -> dict[str, Any]:
        """Flush to disk and return size and digests."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._digests.result()

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@dataclass
class UploadForm:
    fields: MultiDict[str, str]
    files: MultiDict[str, FileStorage]
    staged: list[StagingFile]

    def discard(self) -> None:
        for staged in self.staged:
            staged.discard()


def parse_upload(request: Request, staging_dir: str, limit: int) -> UploadForm:
    """Parse a twine-style multipart body, streaming file parts to ``staging_dir``."""
    if request.mimetype != "multipart/form-data":
        raise BadRequest(f"expected a multipart/form-data body: {USAGE}")
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
        raise RequestEntityTooLarge(f"File is too large: the limit is {_human(limit)}")
    staged: list[StagingFile] = []

    def stream_factory(**_: Any) -> StagingFile:
        staged.append(StagingFile(staging_dir, limit))
        return staged[-1]

    parser = FormDataParser(
        stream_factory=stream_factory,  # type: ignore[arg-type]
        max_form_memory_size=FORM_OVERHEAD,
        silent=False,
    )
    try:
        _, fields, files = parser.parse(
            request.stream, request.mimetype, request.content_length, request.mimetype_params
        )
    except ClientDisconnected:
        _discard(staged)
        raise BadRequest(
            "the request body ended before the announced Content-Length:"
            " the upload was cut short"
        ) from None
    except ValueError as exc:
        _discard(staged)
        raise BadRequest(f"malformed multipart body ({exc}); was the upload cut short?") from None
    except BaseException:
        _discard(staged)
        raise
    return UploadForm(fields, files, staged)


def store_upload(
    catalog: Catalog, storage: Storage, project: Project, form: UploadForm
) -> tuple[PackageFile, bool]:
    """Validate the form and store its file. Returns ``(file, created)``.

    ``created`` is False when the identical file was already there (nothing changes).
    The caller discards the staging files afterwards.
    """
    content = form.files.get("content")
    if content is None or not isinstance(content.stream, StagingFile):
        raise BadRequest(f"the upload has no 'content' file part: {USAGE}")
    try:
        identity = dists.identify(
            form.fields.get("name", ""), form.fields.get("version", ""), content.filename or ""
        )
        requires_python = dists.check_requires_python(form.fields.get("requires_python", ""))
    except dists.InvalidDistribution as exc:
        raise BadRequest(str(exc)) from None
    staged = content.stream
    digests = staged.finish()
    _check_digest(form.fields, "md5_digest", dists.MD5_HEX, digests["md5"])
    _check_digest(form.fields, "sha256_digest", dists.SHA256_HEX, digests["sha256"])
    if digests["size"] == 0:
        raise BadRequest(f"the file {identity.file_name!r} is empty")

    try:
        core = dists.core_metadata(staged.path, identity.file_name)
    except dists.InvalidDistribution as exc:
        raise BadRequest(f"{identity.file_name!r} is not a valid wheel: {exc}") from None
    metadata = dists.truncate_metadata(dict(form.fields.items()))
    try:
        return commit_file(
            catalog, storage, project, identity, requires_python, metadata, digests,
            lambda key: storage.put_file(key, staged.path), core,
        )
    except FileConflict as exc:
        raise BadRequest(str(exc)) from None


class FileConflict(Exception):
    """A different file already has this name in the project."""


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
) -> tuple[PackageFile, bool]:
    """Record a checked file and store its bytes with ``put(key)``, together.

    ``core_metadata`` (PEP 658) is stored beside it as a blob of its own. Returns
    ``(file, created)``; ``created`` is False when the identical file was already there.
    Raises :class:`FileConflict` when other bytes have the name.
    """
    key = blob_key(digests["sha256"])
    blobs: list[str] = []  # created by this call, removed again if it fails
    extra: dict[str, Any] = {"metadata_sha256": "", "metadata_key": None}
    if core_metadata is not None:
        metadata_sha256 = hashlib.sha256(core_metadata).hexdigest()
        extra = {"metadata_sha256": metadata_sha256, "metadata_key": blob_key(metadata_sha256)}
    try:
        with catalog.write():
            existing = catalog.live_file_named(project.id, identity.file_name)
            if existing is not None:
                if existing.sha256 == digests["sha256"]:
                    return existing, False
                raise FileConflict(
                    f"File already exists: {identity.file_name!r} is stored with other"
                    " contents; upload a new version instead"
                )
            _, package_file = catalog.add_file(
                project.id,
                name=identity.name,
                normalized_name=identity.normalized_name,
                version=identity.version,
                canonical_version=identity.canonical_version,
                metadata=metadata,
                file={"file_name": identity.file_name, "storage_key": key,
                      "requires_python": requires_python, **digests, **extra},
            )
            # Inside the write lock: nobody can reference or delete these blobs meanwhile.
            if not storage.exists(key):
                blobs.append(key)  # before the call: a failing put may leave bytes behind
                put(key)
            metadata_key = extra["metadata_key"]
            if metadata_key and not storage.exists(metadata_key):
                blobs.append(metadata_key)
                storage.put_stream(metadata_key, io.BytesIO(core_metadata))  # type: ignore[arg-type]
    except BaseException:
        for blob in blobs:
            storage.delete(blob)
        raise
    return package_file, True


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


def _discard(staged: list[StagingFile]) -> None:
    for item in staged:
        item.discard()


def _human(size: int) -> str:
    value, unit = float(size), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB"):  # noqa: B007 - the last unit is kept
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{value:g} {unit}"
