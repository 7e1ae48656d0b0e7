"""GitLab's PyPI API: simple index, package pages, downloads and uploads.

Project-level and group-level pages are the same views over a different scope: one
project, or every project in a group (and its subgroups) that the caller may read.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from .. import dists, render, uploads
from ..errors import ResourceNotFound
from ..models import READ, WRITE, Project
from ..protocols import ServesDownloads

if TYPE_CHECKING:
    from ..app import Registry, RegistryRequest


@dataclass(frozen=True)
class Scope:
    """Which projects a page covers and how its URLs are built."""

    title: str
    projects: list[Project]
    endpoints: str  # "pypi" or "pypi.group"
    url_args: dict[str, str]  # the project or group argument, as the caller wrote it

    @property
    def project_ids(self) -> list[int]:
        return [project.id for project in self.projects]

    def url(self, request: RegistryRequest, endpoint: str, **values: str) -> str:
        return request.urls.build(
            f"{self.endpoints}.{endpoint}", {**self.url_args, **values}, force_external=True
        )


def _project_scope(registry: Registry, request: RegistryRequest, project: str) -> Scope:
    found = registry.authorize(request, project, READ)
    return Scope(found.name, [found], "pypi", {"project": project})


def _group_scope(registry: Registry, request: RegistryRequest, group: str) -> Scope:
    found, projects = registry.readable_projects(request, group)
    return Scope(found.name, projects, "pypi.group", {"group": group})


# -- project level --------------------------------------------------------------------------


def simple_index(registry: Registry, request: RegistryRequest, project: str) -> Response:
    return _index(registry, request, _project_scope(registry, request, project))


def simple_package(
    registry: Registry, request: RegistryRequest, project: str, package_name: str
) -> Response:
    scope = _project_scope(registry, request, project)
    return _package_page(registry, request, scope, package_name)


def download(
    registry: Registry, request: RegistryRequest, project: str, sha256: str, filename: str
) -> Response:
    scope = _project_scope(registry, request, project)
    return _download(registry, request, scope, sha256, filename)


def upload(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, WRITE)
    form = uploads.parse_upload(request, registry.staging_dir, registry.max_upload_size)
    try:
        _, created = uploads.store_upload(registry.catalog, registry.storage, found, form)
    finally:
        form.discard()
    if created:
        return _json({"message": "201 Created"}, 201)
    return _json({"message": "200 OK - the identical file is already stored"}, 200)


# -- group level ------------------------------------------------------------------------------


def group_simple_index(registry: Registry, request: RegistryRequest, group: str) -> Response:
    return _index(registry, request, _group_scope(registry, request, group))


def group_simple_package(
    registry: Registry, request: RegistryRequest, group: str, package_name: str
) -> Response:
    scope = _group_scope(registry, request, group)
    return _package_page(registry, request, scope, package_name)


def group_download(
    registry: Registry, request: RegistryRequest, group: str, sha256: str, filename: str
) -> Response:
    # Only files of projects the caller may read are found, whatever the group allows.
    scope = _group_scope(registry, request, group)
    return _download(registry, request, scope, sha256, filename)


# -- shared ----------------------------------------------------------------------------------


def _index(registry: Registry, request: RegistryRequest, scope: Scope) -> Response:
    links = (
        (scope.url(request, "simple_package", package_name=entry.normalized_name),
         entry.name, entry.requires_python)
        for entry in registry.catalog.package_index(scope.project_ids)
    )
    return _html(render.simple_page(scope.title, links))


def _package_page(
    registry: Registry, request: RegistryRequest, scope: Scope, package_name: str
) -> Response:
    files = registry.catalog.file_links(scope.project_ids, dists.normalize(package_name))
    if not files:
        raise ResourceNotFound("Package")
    links = (
        (scope.url(request, "file", sha256=f.sha256, filename=f.file_name)
         + f"#sha256={f.sha256}", f.file_name, f.requires_python)
        for f in files
    )
    return _html(render.simple_page(files[-1].package_name, links))


def _download(
    registry: Registry, request: RegistryRequest, scope: Scope, sha256: str, filename: str
) -> Response:
    if not dists.SHA256_HEX.fullmatch(sha256):
        raise BadRequest(f"{sha256!r} is not a sha256 digest (64 hexadecimal characters)")
    package_file = registry.catalog.live_file(scope.project_ids, sha256.lower(), filename)
    if package_file is None:
        raise ResourceNotFound("File")
    project = next(p for p in scope.projects if p.id == package_file.project_id)
    registry.downloads.record(package_file.package_id)
    storage = registry.storage
    if isinstance(storage, ServesDownloads):
        answer = storage.download_response(
            package_file.storage_key, request, filename=package_file.file_name,
            sha256=package_file.sha256, size=package_file.size,
        )
        if answer is not None:
            return answer
    try:
        stream = storage.open(package_file.storage_key)
    except KeyError:
        raise ResourceNotFound("File") from None
    mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    response = Response(
        wrap_file(request.environ, stream), mimetype=mimetype, direct_passthrough=True
    )
    response.content_length = package_file.size
    response.headers.set("Content-Disposition", "attachment", filename=package_file.file_name)
    response.set_etag(package_file.sha256)
    # A file URL names its bytes by digest, so they never change under it.
    response.cache_control.max_age = 365 * 24 * 3600
    response.cache_control.immutable = True
    if not project.is_public:
        response.cache_control.private = True
    return response.make_conditional(request, accept_ranges=True, complete_length=package_file.size)


def _html(body: str) -> Response:
    return Response(body, mimetype="text/html")


def _json(body: dict, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
