"""The plain answers every API area gives: JSON bodies, empty 204s, and the files and
metadata a digest names (an uploaded file's or a cached upstream one's alike)."""

from __future__ import annotations

import json
import mimetypes
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ..errors import ResourceNotFound

if TYPE_CHECKING:
    from ..protocols import Storage

IMMUTABLE = 365 * 24 * 3600  # a file URL names its bytes by digest: they never change


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def no_content() -> Response:
    response = Response(status=204)
    response.headers.remove("Content-Type")  # a 204 has no body to describe
    return response


def stored_file(storage: Storage, request: Request, key: str, *, file_name: str,
                sha256: str, size: int, private: bool) -> Response:
    """A stored file's download: the storage's own answer where it gives one (a redirect
    to a presigned URL), else its bytes through the server's ``wsgi.file_wrapper``
    (sendfile where it can), with ranges and conditional requests."""
    # What isinstance(storage, ServesDownloads) asks, at a fraction of its cost per download.
    serves = getattr(storage, "download_response", None)
    if serves is not None:
        answer = serves(key, request, filename=file_name, sha256=sha256, size=size)
        if answer is not None:
            return answer
    try:
        stream = storage.open(key)
    except KeyError:
        raise ResourceNotFound("File") from None
    response = Response(wrap_file(request.environ, stream), direct_passthrough=True,
                        mimetype=mimetypes.guess_type(file_name)[0] or "application/octet-stream")
    response.content_length = size
    response.set_etag(sha256)
    response = response.make_conditional(request, accept_ranges=True, complete_length=size)
    response.headers.set("Content-Disposition", "attachment", filename=file_name)
    return immutable(response, private)


def stored_metadata(request: Request, data: bytes, sha256: str, *, private: bool) -> Response:
    """A file's core metadata (PEP 658), its sha256 as ETag."""
    response = Response(data, mimetype="application/octet-stream")
    response.set_etag(sha256)
    return immutable(response, private).make_conditional(request)


def immutable(response: Response, private: bool) -> Response:
    """Cached for a year: a file URL names its bytes by digest, so they never change."""
    response.cache_control.max_age = IMMUTABLE
    response.cache_control.immutable = True
    if private:
        response.cache_control.private = True
    return response
