"""Staged releases over HTTP (docs/staging.md), below a project's ``.../packages/pypi/stages``:
create, list, show, upload into (twine's form), preview as an index, publish, discard.

Those who may read the project read its stages and their preview index; those who may
write in it create, upload, publish and discard. Every change goes through the
:class:`pypireg.stages.Staging` methods the command line calls too.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, Conflict, HTTPException
from werkzeug.routing import BuildError

from .. import dists, protection, render
from ..catalog import CatalogError, StageExists
from ..catalog.stages import OPEN
from ..errors import NOSNIFF, ResourceNotFound
from ..models import READ, WRITE, Project
from ..records import Stage
from ..stages import (
    StageEmpty,
    StageError,
    StageNotFound,
    stage_json,
    staged_json,
)
from ..uploads import FileConflict, NameClosed, StageClosed, check_open
from .answers import FileAnswer, json_response, no_content, stored_file, stored_metadata
from .pages import PageResponse, file_url_builder, negotiate, scope_index_html
from .params import Page, body_fields
from .pypi import store
from .scope import Scope

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Registry, RegistryRequest
    from ..models import PackageFile
    from ..records import StagedFile


def list_stages(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, READ)
    page = Page.from_args(request.args)
    stages, total = registry.stages(found, limit=page.size, offset=page.offset)
    counts = registry.staged_counts(stages)
    return page.headers(json_response([
        _stage_json(request, project, s, counts.get(s.id, (0, 0))) for s in stages]),
        request, total)


def create_stage(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, WRITE)
    name = body_fields(request).get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest("name is missing: give the stage a name, e.g. {\"name\": \"1.2.0\"}")
    try:
        stage = registry.create_stage(found, name, actor=registry.actor(request))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    except StageExists as exc:
        raise Conflict(str(exc)) from None
    except StageError as exc:  # too many open stages
        raise BadRequest(str(exc)) from None
    except CatalogError:  # the project was deleted meanwhile
        raise ResourceNotFound("Project") from None
    return json_response(_stage_json(request, project, stage, (0, 0)), 201)


def show_stage(registry: Registry, request: RegistryRequest, project: str, stage: str
               ) -> Response:
    found = registry.authorize(request, project, READ)
    each = _stage(registry, found, stage)
    files = registry.staged_files(each)
    answer = _stage_json(request, project, each, (len(files), sum(f.size for f in files)))
    answer["files"] = [_staged_json(request, project, each, f) for f in files]
    return json_response(answer)


def upload(registry: Registry, request: RegistryRequest, project: str, stage: str
           ) -> Response:
    def open_stage(found: Project) -> Stage:
        """The stage, refused before its body is read if it takes no files."""
        each = _stage(registry, found, stage)
        try:
            check_open(each)
        except StageClosed as exc:
            raise Conflict(f"{exc}: it takes no more files; create another") from None
        return each

    return store(registry, request, project, open_stage)


def publish(registry: Registry, request: RegistryRequest, project: str, stage: str
            ) -> Response:
    found = registry.authorize(request, project, WRITE)
    try:
        published, files = registry.publish_stage(
            found, stage, actor=registry.actor(request),
            permit=lambda name: protection.check_push(registry, request, found, name))
    except StageNotFound:
        raise ResourceNotFound("Stage") from None
    except (StageClosed, FileConflict) as exc:
        raise Conflict(str(exc)) from None
    except (StageEmpty, NameClosed) as exc:
        raise BadRequest(str(exc)) from None
    except CatalogError:
        raise ResourceNotFound("Project") from None
    answer = _stage_json(request, project, published, (len(files), sum(f.size for f in files)))
    answer["files"] = [_published_json(request, project, f) for f in files]
    return json_response(answer)


def discard(registry: Registry, request: RegistryRequest, project: str, stage: str
            ) -> Response:
    found = registry.authorize(request, project, WRITE)
    try:
        registry.discard_stage(found, stage, actor=registry.actor(request))
    except StageNotFound:
        raise ResourceNotFound("Stage") from None
    except StageClosed as exc:
        raise Conflict(str(exc)) from None
    return no_content()


# -- the preview index ----------------------------------------------------------------------


def simple_index(registry: Registry, request: RegistryRequest, project: str, stage: str
                 ) -> PageResponse:
    scope, each = _preview(registry, request, project, stage)
    fmt = negotiate(request)
    entries = registry.staged_index(each)
    if fmt.json:
        text = render.index_json(render.Project(e.name, "", e.requires_python)
                                 for e in entries)
    else:
        text = scope_index_html(request, scope, entries)
    return _page(request, text, fmt.header)


def simple_package(registry: Registry, request: RegistryRequest, project: str, stage: str,
                   package_name: str) -> PageResponse:
    scope, each = _preview(registry, request, project, stage)
    fmt = negotiate(request)
    normalized = dists.normalize(package_name)
    staged = registry.staged_files(each, normalized)
    if not staged:
        raise ResourceNotFound("Package")
    url = file_url_builder(request, scope, "file")
    files = [render.File(
        filename=f.file_name, url=url(f.sha256, f.file_name) or "", sha256=f.sha256,
        version=f.version, requires_python=f.requires_python, size=f.size,
        upload_time=f.created_at, metadata_sha256=f.metadata_sha256 or None,
        yanked=False, yanked_reason="", provenance_url=None) for f in staged]
    text = (render.package_json(normalized, files) if fmt.json
            else render.package_html(staged[-1].name, files))
    return _page(request, text, fmt.header)


def download(registry: Registry, request: RegistryRequest, project: str, stage: str,
             sha256: str, filename: str) -> Response | FileAnswer:
    staged = _staged(registry, request, project, stage, sha256, filename)
    return stored_file(registry.storage, request, staged.storage_key,
                       file_name=staged.file_name, sha256=staged.sha256, size=staged.size,
                       private=True)


def file_metadata(registry: Registry, request: RegistryRequest, project: str, stage: str,
                  sha256: str, filename: str) -> Response:
    staged = _staged(registry, request, project, stage, sha256, filename)
    if not staged.metadata_key:
        raise ResourceNotFound("Metadata")
    with registry.storage.open(staged.metadata_key) as stream:
        data = stream.read()
    return stored_metadata(request, data, staged.metadata_sha256, private=True)


# -- shared ---------------------------------------------------------------------------------


def _stage(registry: Registry, project: Project, name: str) -> Stage:
    try:
        return registry.stage(project, name)
    except StageNotFound:
        raise ResourceNotFound("Stage") from None


def _preview(registry: Registry, request: RegistryRequest, project: str, stage: str
             ) -> tuple[Scope, Stage]:
    """The preview's scope (its URLs are the stage's endpoints) and its open stage: a
    published stage's files are on the project's own pages."""
    found = registry.authorize(request, project, READ)
    each = _stage(registry, found, stage)
    if each.status != OPEN:
        raise ResourceNotFound("Stage")
    return Scope(f"{found.name} ({stage})", [found], "stages",
                 {"project": project, "stage": stage}), each


def _staged(registry: Registry, request: RegistryRequest, project: str, stage: str,
            sha256: str, filename: str) -> StagedFile:
    if not dists.SHA256_HEX.fullmatch(sha256):
        raise BadRequest(f"{sha256!r} is not a sha256 digest (64 hexadecimal characters)")
    _, each = _preview(registry, request, project, stage)
    staged = registry.staged_file(each, filename)
    if staged is None or staged.sha256 != sha256.lower():
        raise ResourceNotFound("File")
    return staged


def _page(request: RegistryRequest, text: str, content_type: str) -> PageResponse:
    """A preview page: never kept by shared caches, revalidated by its bytes' digest."""
    body = text.encode()
    etag = hashlib.sha256(body).hexdigest()[:32]
    headers = [("ETag", f'"{etag}"'), ("Vary", "Accept"),
               ("Cache-Control", "private, max-age=0, must-revalidate"), NOSNIFF]
    if request.if_none_match.contains(etag):
        return PageResponse("304 NOT MODIFIED", headers, None)
    return PageResponse("200 OK", [("Content-Type", content_type),
                                   ("Content-Length", str(len(body))), *headers], body)


def _url(request: RegistryRequest, endpoint: str, values: dict[str, str]) -> str | None:
    """An absolute URL, or None where the host's layout lacks the endpoint."""
    try:
        return request.urls.build(endpoint, values, force_external=True)
    except (BuildError, HTTPException):
        return None


def _stage_json(request: RegistryRequest, project: str, stage: Stage,
                counts: tuple[int, int]) -> dict[str, Any]:
    """A stage, with the URLs it answers at while it is open (None after)."""
    at = {"project": project, "stage": stage.name}
    is_open = stage.status == OPEN
    return {**stage_json(stage, counts),
            "upload_url": _url(request, "stages.upload", at) if is_open else None,
            "index_url": _url(request, "stages.simple_index", at) if is_open else None}


def _staged_json(request: RegistryRequest, project: str, stage: Stage, f: StagedFile
                 ) -> dict[str, Any]:
    url = _url(request, "stages.file", {"project": project, "stage": stage.name,
                                        "sha256": f.sha256, "filename": f.file_name})
    return {**staged_json(f), "url": url if stage.status == OPEN else None}


def _published_json(request: RegistryRequest, project: str, f: PackageFile) -> dict[str, Any]:
    return {"file_name": f.file_name, "id": f.id, "package_id": f.package_id, "size": f.size,
            "sha256": f.sha256, "created_at": f.created_at,
            "url": _url(request, "pypi.file", {"project": project, "sha256": f.sha256,
                                               "filename": f.file_name})}
