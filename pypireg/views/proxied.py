"""Names served from the cache of the upstream indexes (docs/proxy.md): their package pages,
with every file URL rewritten to this registry's, and their files and metadata.

A scope takes a name from upstream only when it never held it and no status or protection
rule of it names it, or when the name is one the registry lets merge; then its own files
come first and an upstream file of the same name is left out.
"""

from __future__ import annotations

import hashlib
import mimetypes
from itertools import compress
from operator import ne
from typing import IO, TYPE_CHECKING, cast

from werkzeug.datastructures import ContentRange
from werkzeug.exceptions import Forbidden, HTTPException, NotFound
from werkzeug.wrappers import Response
from werkzeug.wsgi import ClosingIterator

from .. import render
from ..catalog.decoded import PageFiles, PageMoved, Row, rows_of, version_of
from ..errors import ResourceNotFound, printable_line
from ..models import CachedFile, UpstreamFile
from ..upstream import ranges
from ..upstream.settings import spelled
from .answers import FileAnswer, immutable, stored_file, stored_metadata
from .pages import (
    file_url_builder,
    finish,
    forwardable,
    local_files,
    page_etag,
    revalidated,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Sequence

    from ..app import Registry, RegistryRequest
    from ..models import FileLink, NameStatus
    from ..pagecache import PagePieces
    from ..upstream.files import Fetch
    from .pages import Format, PageResponse
    from .scope import Scope

_SAMPLE_DIGEST = "0" * 64
STALE = "X-Pypireg-Stale"  # on a page the upstream could not confirm: why, and since when


def package_page(registry: Registry, request: RegistryRequest, scope: Scope, fmt: Format,
                 normalized: str, local: list[FileLink]) -> PageResponse:
    """The upstream's page of a name (after this scope's own files, for a merged name).
    A version of the page replaced while it was read is read again, from the new one (a
    second time, a 503: errors.fault_answer)."""
    try:
        return _package_page(registry, request, scope, fmt, normalized, local)
    except PageMoved:
        return _package_page(registry, request, scope, fmt, normalized, local)


def _package_page(registry: Registry, request: RegistryRequest, scope: Scope, fmt: Format,
                  normalized: str, local: list[FileLink]) -> PageResponse:
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
    own = {link.file_name for link in local}

    def listed() -> Sequence[UpstreamFile]:
        offered = upstreams.offered(found.page.files) if found else []
        return [f for f in offered if f.file_name not in own] if own else offered

    # The page's version and the scope's own files (in its serials) name what it lists,
    # unless a cooldown holds files back, which time changes: then they are counted. A
    # page rendered already is answered without reading its files.
    files = listed() if upstreams.settings.min_age is not None else None
    parts = ("upstream", normalized, found.page.upstream if found else "",
             found.page.changed_at if found else "", "-" if files is None else str(len(files)))
    etag = page_etag(request, scope, fmt, *parts)
    stale = found.stale if found else failed
    extra = [(STALE, printable_line(stale))] if stale else []
    if revalidated(request, etag):
        return finish(None, fmt, registry, request, scope, etag, extra)
    body = registry.pages.get(etag)
    if body is None:
        files = listed() if files is None else files
        # A merged name's status is the scope's; an upstream name's, its upstream's.
        status = (found.page.status if found and not local
                  else registry.catalog.name_status(scope.project_ids, normalized))
        title = local[-1].package_name if local else (found.page.name if found else normalized)
        if status.status == "quarantined":
            local, files = [], []
        body = _rendered(registry, request, scope, fmt, (normalized, title, status), local,
                         (found.page.upstream if found else "", files)).encode()
        registry.pages.put(etag, body)
    return finish(body, fmt, registry, request, scope, etag, extra)


def _rendered(registry: Registry, request: RegistryRequest, scope: Scope, fmt: Format,
              page: tuple[str, str, NameStatus], local: list[FileLink],
              upstream: tuple[str, Sequence[UpstreamFile]]) -> str:
    """The page (its normalized name, title and status) of the scope's own files, then the
    upstream's, each of those rendered only if its page's last rendered version did not
    have it as it is (:func:`_pieces`)."""
    normalized, title, status = page
    name, files = upstream
    # pypi.file is in every layout (docs/protocols.md): its URLs are never None.
    url = cast("Callable[[str, str], str]", file_url_builder(request, scope, "file"))
    piece = render.file_json if fmt.json else render.file_html

    def one(row: Row) -> str:
        (file_name, _, sha256, version, requires_python, size, upload_time, metadata_sha256,
         yanked, yanked_reason) = row  # an UpstreamFile's fields, in order
        return piece(render.File(
            file_name, url(sha256, file_name), sha256, version, requires_python, size,
            upload_time, metadata_sha256,
            # a wheel's metadata is read from it when its page offers none
            metadata_sha256 is None and file_name.endswith(".whl"), yanked, yanked_reason))

    own = local_files(request, scope, local)
    lineage = (name, normalized, fmt.json, url(_SAMPLE_DIGEST, "f"))
    # As the page keeps them, when it lists them all: no UpstreamFile made for each.
    rows = files.rows if isinstance(files, PageFiles) else rows_of(files)
    shown = [*map(piece, own), *_pieces(registry.pages.pieces, lineage, rows, one)]
    if not fmt.json:
        return render.package_html_of(title, shown, status)
    versions = render.sorted_versions([*(f.version for f in own), *map(version_of, rows)])
    return render.package_json_of(normalized, shown, versions, status)


def _pieces(kept: PagePieces, lineage: Hashable, rows: Sequence[Row],
            one: Callable[[Row], str]) -> list[str]:
    """Each file's piece, in order: the one the lineage's last rendered version had, where
    the file did not change, else ``one(file)``; kept for the next version. Files that line
    up with the last version's (a learned digest changes one of thousands in place) are
    compared side by side without a Python step per file."""
    last_rows, last_texts = kept.get(lineage)
    changed = (list(compress(range(len(rows)), map(ne, last_rows, rows)))
               if len(last_rows) == len(rows) else None)
    if changed is not None and len(changed) <= max(1, len(rows) // 4):
        texts = list(last_texts)
        for i in changed:
            texts[i] = one(rows[i])
    else:  # files added, dropped or moved: each found by what it is
        known = dict(zip(last_rows, last_texts, strict=True))
        texts = [known.get(row) or one(row) for row in rows]
    kept.put(lineage, (tuple(rows), tuple(texts)))
    return texts


# -- files -------------------------------------------------------------------------------------


def cached_file(registry: Registry, scope: Scope, cached: CachedFile) -> CachedFile:
    """An upstream file a URL of this scope names, if the scope may take its name from
    upstream, the upstream does not quarantine it, and its upload is old enough."""
    upstreams = registry.upstreams
    assert upstreams is not None
    name = cached.normalized_name
    if not (upstreams.may_merge(name) or forwardable(registry, scope, name)):
        raise ResourceNotFound("File")
    # PEP 792, as for this registry's own names.
    if cached.page_status == "quarantined":
        raise Forbidden(f"{cached.file_name} is not served: the upstream quarantined its"
                        " package")
    if not upstreams.old_enough(cached.upload_time, upstreams.cutoff()):
        min_age = upstreams.settings.min_age
        assert min_age is not None  # else there is no cutoff, and every file is old enough
        raise NotFound(f"{cached.file_name} is held back: it was uploaded upstream less than"
                       f" {spelled(min_age)} ago (min_upstream_age)")
    return cached


def download(registry: Registry, request: RegistryRequest, scope: Scope,
             cached: CachedFile) -> Response | FileAnswer:
    """The file from storage once kept; else fetched now, streamed as it comes. Until it
    is kept, a HEAD is answered from the page, and a range from the upstream's ranges:
    neither fetches the file (docs/proxy.md)."""
    upstreams = registry.upstreams
    assert upstreams is not None
    private = _private(scope)
    if not cached.storage_key:
        if request.method == "HEAD":
            return _head(request, cached, ranges.size(upstreams.client, cached), private)
        asked = request.range
        if (asked is not None and cached.size is not None and len(asked.ranges) == 1
                and ranges.explicit(asked, cached.size) is None):
            return _unsatisfiable(cached.size)
        wanted = ranges.single(asked, cached.size)
        found = ranges.part(upstreams.client, cached, wanted) if wanted else None
        if found is not None:
            return _part(found, cached)
    if request.method == "GET" and request.range is None:  # a download, not a look at one
        registry.downloads.record_upstream(cached)
        registry.metrics.downloaded("upstream", cached.size or 0)
    if cached.storage_key:  # kept: served from storage, no fetch
        registry.metrics.upstream("file", "hit", None)
    if not cached.storage_key:
        started = _first_download(registry, cached)
        if started is not None:
            return _streamed(*started, upstreams.settings.read_timeout * 2, private)
        cached = registry.catalog.cached_upstream_file(cached.id) or cached  # stored meanwhile
    if not cached.storage_key or cached.cached_size is None:
        raise ResourceNotFound("File")
    return stored_file(registry.storage, request, cached.storage_key,
                       file_name=cached.file_name, sha256=cached.sha256,
                       size=cached.cached_size, private=private)


def _first_download(registry: Registry, cached: CachedFile
                    ) -> tuple[Fetch, IO[bytes]] | None:
    """The fetch of a file not kept yet (this process's, started if nobody fetches it),
    and a reader of its bytes as they come; None once it is kept."""
    upstreams = registry.upstreams
    assert upstreams is not None
    settings = upstreams.settings
    fetch = upstreams.files.fetch(cached, wait=settings.read_timeout * 6)
    reader = fetch.started(settings.connect_timeout * (settings.retries + 1)
                           + settings.read_timeout) if fetch else None
    return None if fetch is None or reader is None else (fetch, reader)


def _streamed(fetch: Fetch, reader: IO[bytes], stall: float, private: bool) -> Response:
    """A first download: the bytes as the fetch brings them."""
    response = Response(fetch.chunks(reader, stall), direct_passthrough=True)
    if fetch.size is not None:
        response.content_length = fetch.size
    return immutable(_described(response, fetch.file), private)


def _head(request: RegistryRequest, cached: CachedFile, size: int | None,
          private: bool) -> Response:
    """A file not kept yet, as a download of it would start: its size (when known), type
    and digest."""
    response = _described(Response(iter(())), cached)
    if size is not None:
        response.content_length = size
    return immutable(response, private).make_conditional(request)


def _part(found: ranges.Part, cached: CachedFile) -> Response:
    """206 with the upstream's range of a file not kept yet, or 416 for one past its end.
    Its bytes are not verified (only a whole file is): no cache keeps them."""
    if found.unsatisfiable:
        return _unsatisfiable(found.content_range.length)
    # A client that goes before the first byte drops the upstream's connection too.
    response = Response(ClosingIterator(found.body, found.drop), status=206,
                        direct_passthrough=True)
    response.content_range = found.content_range
    assert found.content_range.stop is not None and found.content_range.start is not None
    response.content_length = found.content_range.stop - found.content_range.start
    response.cache_control.no_store = True
    return _described(response, cached)


def _unsatisfiable(size: int | None) -> Response:
    response = Response(status=416)
    if size is not None:
        response.content_range = ContentRange("bytes", None, None, size)
    return response


def _described(response: Response, cached: CachedFile) -> Response:
    """The headers of every answer with a file's bytes: its type, name and digest, and
    that it takes ranges."""
    response.mimetype = mimetypes.guess_type(cached.file_name)[0] or "application/octet-stream"
    response.set_etag(cached.sha256)
    response.headers.set("Accept-Ranges", "bytes")
    response.headers.set("Content-Disposition", "attachment", filename=cached.file_name)
    return response


def metadata(registry: Registry, request: RegistryRequest, scope: Scope,
             cached: CachedFile) -> Response:
    """The file's PEP 658 metadata: the upstream's, fetched and verified on first use; or,
    for a wheel whose page offers none, read from the wheel (docs/proxy.md)."""
    upstreams = registry.upstreams
    assert upstreams is not None
    if cached.metadata_sha256 is None and cached.file_name.endswith(".whl"):
        after: list[Callable[[], None]] = []  # what keeping it costs, once it is sent
        data = _read_from_wheel(registry, cached, after.append)
        if data is None:
            raise ResourceNotFound("Metadata")
        response = stored_metadata(request, data, hashlib.sha256(data).hexdigest(),
                                   private=_private(scope))
        for work in after:
            response.call_on_close(work)
        return response
    if not cached.metadata_sha256:
        raise ResourceNotFound("Metadata")
    data = upstreams.files.metadata(cached, registry.limits.max_metadata_size)
    return stored_metadata(request, data, cached.metadata_sha256, private=_private(scope))


def _read_from_wheel(registry: Registry, cached: CachedFile,
                     later: Callable[[Callable[[], None]], object]) -> bytes | None:
    """A wheel's METADATA, read from the wheel (pypireg/upstream/extract.py); the whole
    file, when it must be read, fetched and kept as a first download is. What keeping
    metadata read in ranges costs is handed to ``later``."""
    upstreams = registry.upstreams
    assert upstreams is not None

    def fetch_whole(now: CachedFile) -> None:
        started = _first_download(registry, now)
        if started is not None:
            for _ in started[0].chunks(started[1], upstreams.settings.read_timeout * 2):
                pass
            started[0].settled()  # until it is kept, and its metadata read with it

    return upstreams.metadata.read(cached, fetch_whole, later)


def _private(scope: Scope) -> bool:
    """An upstream file is public, but a private scope's answers are not for shared
    caches."""
    return not all(project.is_public for project in scope.projects)
