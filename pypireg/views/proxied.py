"""Names served from the cache of the upstream indexes (docs/proxy.md): their package pages,
with every file URL rewritten to this registry's, and their files and metadata.

A scope takes a name from upstream only when it never held it and no status or protection
rule of it names it, or when the name is one the registry lets merge; then its own files
come first and an upstream file of the same name is left out.
"""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING

from werkzeug.exceptions import Forbidden, HTTPException, NotFound
from werkzeug.wrappers import Response

from .. import render
from ..errors import ResourceNotFound, printable_line
from ..models import CachedFile
from ..upstream.settings import spelled
from .answers import IMMUTABLE, stream_stored
from .pages import _etag, _file_url_builder, _finish, _revalidated, local_files

if TYPE_CHECKING:
    from ..app import Registry, RegistryRequest
    from ..models import FileLink, NameStatus
    from .pages import Format, PageResponse
    from .scope import Scope

STALE = "X-Pypireg-Stale"  # on a page the upstream could not confirm: why, and since when


def package_page(registry: Registry, request: RegistryRequest, scope: Scope, fmt: Format,
                 normalized: str, local: list[FileLink], status: NameStatus
                 ) -> PageResponse:
    """The upstream's page of a name (after this scope's own files, for a merged name)."""
    upstreams = registry.upstreams
    assert upstreams is not None
    failed = ""
    try:
        found = upstreams.pages.find(normalized)
    except HTTPException as exc:
        if not local:
            raise
        found, failed = None, f"the upstreams failed ({exc.description}): local files only"
    if found is None and not local:
        raise ResourceNotFound("Package")
    files = upstreams.offered(found.page.files) if found else []
    own = {link.file_name for link in local}
    files = [f for f in files if f.file_name not in own]
    parts = ("upstream", normalized, found.page.upstream if found else "",
             found.page.changed_at if found else "", str(len(files)))
    etag = _etag(request, scope, fmt, *parts)
    stale = found.stale if found else failed
    extra = [(STALE, printable_line(stale))] if stale else []
    if _revalidated(request, etag):
        return _with(_finish(None, fmt, registry, request, scope, etag), extra)
    body = registry.pages.get(etag)
    if body is None:
        if not local and found:
            status = found.page.status
        url = _file_url_builder(request, scope, "file")
        shown = [] if status.status == "quarantined" else [
            *local_files(request, scope, local),
            *(render.File(
                filename=f.file_name, url=url(f.sha256, f.file_name), sha256=f.sha256,
                version=f.version, requires_python=f.requires_python, size=f.size,
                upload_time=f.upload_time, metadata_sha256=f.metadata_sha256,
                yanked=f.yanked, yanked_reason=f.yanked_reason) for f in files)]
        title = local[-1].package_name if local else (found.page.name if found else normalized)
        text = (render.package_json(normalized, shown, status) if fmt.json
                else render.package_html(title, shown, status))
        body = text.encode()
        registry.pages.put(etag, body)
    return _with(_finish(body, fmt, registry, request, scope, etag), extra)


def _with(response: PageResponse, headers: list[tuple[str, str]]) -> PageResponse:
    response.headers.extend(headers)
    return response


# -- files -------------------------------------------------------------------------------------


def cached_file(registry: Registry, scope: Scope, cached: CachedFile, forwardable: bool
                ) -> CachedFile:
    """An upstream file a URL of this scope names, if the scope may take its name from
    upstream (``forwardable``, from the caller) and its upload is old enough."""
    upstreams = registry.upstreams
    assert upstreams is not None
    if not (forwardable or upstreams.may_merge(cached.normalized_name)):
        raise ResourceNotFound("File")
    if registry.catalog.upstream_page_status(cached.upstream, cached.normalized_name) == (
            "quarantined"):  # PEP 792, as for this registry's own names
        raise Forbidden(f"{cached.file_name} is not served: the upstream quarantined its"
                        " package")
    if not upstreams.old_enough(cached.upload_time, upstreams.cutoff()):
        raise NotFound(f"{cached.file_name} is held back: it was uploaded upstream less than"
                       f" {spelled(upstreams.settings.min_age)} ago (min_upstream_age)")
    return cached


def download(registry: Registry, request: RegistryRequest, scope: Scope,
             cached: CachedFile) -> Response:
    """The file from storage once kept; else fetched now, streamed as it comes."""
    upstreams = registry.upstreams
    assert upstreams is not None
    mimetype = mimetypes.guess_type(cached.file_name)[0] or "application/octet-stream"
    reader = None
    if not cached.storage_key:
        settings = upstreams.settings
        fetch = upstreams.files.fetch(cached, wait=settings.read_timeout * 6)
        reader = fetch.started(settings.connect_timeout * (settings.retries + 1)
                               + settings.read_timeout) if fetch else None
        if reader is None:  # stored meanwhile
            cached = registry.catalog.cached_upstream_file(cached.id) or cached
    if reader is not None:
        assert fetch is not None
        response = Response(fetch.chunks(reader, upstreams.settings.read_timeout * 2),
                            mimetype=mimetype, direct_passthrough=True)
        if fetch.size is not None:
            response.content_length = fetch.size
        response.set_etag(cached.sha256)
    elif cached.storage_key and cached.cached_size is not None:
        response = stream_stored(registry.storage, request, cached.storage_key,
                                 cached.cached_size, cached.sha256, mimetype)
    else:
        raise ResourceNotFound("File")
    response.headers.set("Content-Disposition", "attachment", filename=cached.file_name)
    return _immutable(response, scope)


def metadata(registry: Registry, request: RegistryRequest, scope: Scope,
             cached: CachedFile) -> Response:
    """The file's PEP 658 metadata, fetched and verified on first use."""
    upstreams = registry.upstreams
    assert upstreams is not None
    if not cached.metadata_sha256:
        raise ResourceNotFound("Metadata")
    data = upstreams.files.metadata(cached, registry.limits.max_metadata_size)
    response = Response(data, mimetype="application/octet-stream")
    response.set_etag(cached.metadata_sha256)
    return _immutable(response, scope).make_conditional(request)


def _immutable(response: Response, scope: Scope) -> Response:
    response.cache_control.max_age = IMMUTABLE
    response.cache_control.immutable = True
    if not all(project.is_public for project in scope.projects):
        response.cache_control.private = True
    return response
