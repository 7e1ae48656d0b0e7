"""GitLab's PyPI API: simple pages, downloads (files, their PEP 658 metadata and PEP 740
provenance), uploads.

Project-level and group-level endpoints are the same views over a different scope: one
project, or every project in a group (and its subgroups) that the caller may read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, NotAcceptable
from werkzeug.wrappers import Response

from .. import dists, forms, protection, uploads
from ..errors import ResourceNotFound, fault_answer
from ..models import WRITE, CachedFile, PackageFile, Project
from ..records import Stage
from . import proxied
from .answers import FileAnswer, immutable, json_response, stored_file, stored_metadata
from .pages import PageResponse, index_page, package_page
from .scope import Scope, group_scope, project_scope

if TYPE_CHECKING:
    from ..app import Registry, RegistryRequest

INTEGRITY = "application/vnd.pypi.integrity.v1+json"  # PyPI's Integrity API


def simple_index(registry: Registry, request: RegistryRequest, project: str) -> PageResponse:
    return index_page(registry, request, project_scope(registry, request, project))


def simple_package(
    registry: Registry, request: RegistryRequest, project: str, package_name: str
) -> Response | PageResponse:
    return package_page(registry, request, project_scope(registry, request, project),
                        package_name)


def download(
    registry: Registry, request: RegistryRequest, project: str, sha256: str, filename: str
) -> Response | FileAnswer:
    scope = project_scope(registry, request, project)
    return _download(registry, request, scope, _file(registry, scope, sha256, filename))


def file_metadata(
    registry: Registry, request: RegistryRequest, project: str, sha256: str, filename: str
) -> Response:
    scope = project_scope(registry, request, project)
    return _metadata(registry, request, scope, _file(registry, scope, sha256, filename))


def file_provenance(
    registry: Registry, request: RegistryRequest, project: str, sha256: str, filename: str
) -> Response:
    scope = project_scope(registry, request, project)
    return _provenance(registry, request, scope, _file(registry, scope, sha256, filename))


def upload(registry: Registry, request: RegistryRequest, project: str) -> Response:
    return store(registry, request, project)


def store(registry: Registry, request: RegistryRequest, project: str,
          stage: Callable[[Project], Stage] | None = None) -> Response:
    """A twine upload into the project, or into the stage ``stage(project)`` finds."""
    try:
        found = registry.authorize(request, project, WRITE)
        into = stage(found) if stage is not None else None
        registry.catalog.check_writable()  # before the upload is staged
        form = forms.parse_upload(request, registry.staging_dir, registry.limits)
        try:
            stored, created = uploads.store_upload(
                registry.catalog, registry.storage, found, form, registry.limits,
                registry.actor(request),
                lambda name: protection.check_push(registry, request, found, name),
                registry.trusted_publishers, into)
        finally:
            form.discard()
    except Exception as exc:  # counted by the status it is answered with, then answered
        answer = exc if isinstance(exc, HTTPException) else fault_answer(exc)
        registry.metrics.upload_refused((answer.code or 500) if answer is not None else 500)
        raise
    if created:
        registry.metrics.uploads.labels("project").inc()
        registry.metrics.upload_bytes.labels("project").inc(stored.size)
        return json_response({"message": "201 Created"}, 201)
    return json_response({"message": "200 OK - the identical file is already stored"})


def group_simple_index(registry: Registry, request: RegistryRequest, group: str
                       ) -> PageResponse:
    return index_page(registry, request, group_scope(registry, request, group))


def group_simple_package(
    registry: Registry, request: RegistryRequest, group: str, package_name: str
) -> Response | PageResponse:
    return package_page(registry, request, group_scope(registry, request, group), package_name)


def group_download(
    registry: Registry, request: RegistryRequest, group: str, sha256: str, filename: str
) -> Response | FileAnswer:
    # Only files of projects the caller may read are found, whatever the group allows.
    scope = group_scope(registry, request, group)
    return _download(registry, request, scope, _file(registry, scope, sha256, filename))


def group_file_metadata(
    registry: Registry, request: RegistryRequest, group: str, sha256: str, filename: str
) -> Response:
    scope = group_scope(registry, request, group)
    return _metadata(registry, request, scope, _file(registry, scope, sha256, filename))


def group_file_provenance(
    registry: Registry, request: RegistryRequest, group: str, sha256: str, filename: str
) -> Response:
    scope = group_scope(registry, request, group)
    return _provenance(registry, request, scope, _file(registry, scope, sha256, filename))


# -- shared ----------------------------------------------------------------------------------


def _file(registry: Registry, scope: Scope, sha256: str, filename: str
          ) -> PackageFile | CachedFile:
    """The scope's file a URL names, or in cache mode the upstream's (docs/proxy.md)."""
    if not dists.SHA256_HEX.fullmatch(sha256):
        raise BadRequest(f"{sha256!r} is not a sha256 digest (64 hexadecimal characters)")
    found = registry.catalog.live_file(scope.project_ids, sha256.lower(), filename)
    if found is None:
        upstreams = registry.upstreams
        if upstreams is not None and upstreams.caching:
            cached = registry.catalog.upstream_file(sha256.lower(), filename,
                                                    upstreams.order)
            if cached is not None:
                return proxied.cached_file(registry, scope, cached)
        raise ResourceNotFound("File")
    package_file, quarantined = found
    if quarantined:
        raise Forbidden(f"{filename} is not served: its package is quarantined (PEP 792)")
    return package_file


def _download(
    registry: Registry, request: RegistryRequest, scope: Scope,
    package_file: PackageFile | CachedFile,
) -> Response | FileAnswer:
    """The file's bytes; counted as a download (``last_downloaded_at``) only once there
    is an answer to send, so a refused one (a 416 for a Range past the end) changes
    nothing."""
    if isinstance(package_file, CachedFile):
        return proxied.download(registry, request, scope, package_file)
    response = stored_file(registry.storage, request, package_file.storage_key,
                           file_name=package_file.file_name, sha256=package_file.sha256,
                           size=package_file.size, private=_private(scope, package_file))
    registry.downloads.record(package_file)
    registry.metrics.downloaded("group" if scope.endpoints == "pypi.group" else "project",
                                response.content_length or 0)
    return response


def _metadata(
    registry: Registry, request: RegistryRequest, scope: Scope,
    package_file: PackageFile | CachedFile,
) -> Response:
    """The file's core metadata (PEP 658), byte for byte as the digest on the page says."""
    if isinstance(package_file, CachedFile):
        return proxied.metadata(registry, request, scope, package_file)
    if not package_file.metadata_sha256 or not package_file.metadata_key:
        raise ResourceNotFound("Metadata")
    with registry.storage.open(package_file.metadata_key) as stream:
        data = stream.read()
    return stored_metadata(request, data, package_file.metadata_sha256,
                           private=_private(scope, package_file))


def _provenance(
    registry: Registry, request: RegistryRequest, scope: Scope,
    package_file: PackageFile | CachedFile,
) -> Response:
    """The file's PEP 740 provenance object, as PyPI's Integrity API answers (none is
    kept of an upstream's files)."""
    if isinstance(package_file, CachedFile):
        raise ResourceNotFound("Provenance")
    if request.accept_mimetypes and request.accept_mimetypes.best_match(
            [INTEGRITY, "application/json"]) is None:
        raise NotAcceptable(f"the provenance is offered as {INTEGRITY} only")
    found = registry.catalog.file_provenance(package_file.id)
    if found is None:
        raise ResourceNotFound("Provenance")
    body = json.dumps(found).encode()
    response = Response(body, mimetype=INTEGRITY)
    response.set_etag(hashlib.sha256(body).hexdigest())
    return immutable(response, _private(scope, package_file)).make_conditional(request)


def _private(scope: Scope, package_file: PackageFile) -> bool:
    """Whether the file's own project is private (shared caches must not keep it)."""
    return not next(p for p in scope.projects if p.id == package_file.project_id).is_public
