"""GitLab's PyPI API: simple index, package pages, file downloads and uploads."""

from __future__ import annotations

import json
import mimetypes
from typing import TYPE_CHECKING

from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from .. import dists, render, uploads
from ..errors import ResourceNotFound
from ..models import READ, WRITE
from ..protocols import ServesDownloads

if TYPE_CHECKING:
    from ..app import Registry, RegistryRequest


def simple_index(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, READ)
    links = (
        (
            request.urls.build(
                "pypi.simple_package",
                {"project": project, "package_name": entry.normalized_name},
                force_external=True,
            ),
            entry.name,
            entry.requires_python,
        )
        for entry in registry.catalog.package_index(found.id)
    )
    return _html(render.simple_page(found.name, links))


def simple_package(
    registry: Registry, request: RegistryRequest, project: str, package_name: str
) -> Response:
    found = registry.authorize(request, project, READ)
    files = registry.catalog.file_links(found.id, dists.normalize(package_name))
    if not files:
        raise ResourceNotFound("Package")
    links = (
        (
            request.urls.build(
                "pypi.file",
                {"project": project, "sha256": f.sha256, "filename": f.file_name},
                force_external=True,
            )
            + f"#sha256={f.sha256}",
            f.file_name,
            f.requires_python,
        )
        for f in files
    )
    return _html(render.simple_page(files[-1].package_name, links))


def download(
    registry: Registry, request: RegistryRequest, project: str, sha256: str, filename: str
) -> Response:
    found = registry.authorize(request, project, READ)
    if not dists.SHA256_HEX.fullmatch(sha256):
        raise BadRequest(f"{sha256!r} is not a sha256 digest (64 hexadecimal characters)")
    package_file = registry.catalog.live_file(found.id, sha256.lower(), filename)
    if package_file is None:
        raise ResourceNotFound("File")
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
    if not found.is_public:
        response.cache_control.private = True
    return response.make_conditional(request, accept_ranges=True, complete_length=package_file.size)


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


def _html(body: str) -> Response:
    return Response(body, mimetype="text/html")


def _json(body: dict, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
