"""The plain answers every API area gives: JSON bodies, empty 204s, stored files."""

from __future__ import annotations

import json
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


def stream_stored(storage: Storage, request: Request, key: str, size: int, etag: str,
                  mimetype: str) -> Response:
    """A stored file's bytes through the server's ``wsgi.file_wrapper`` (sendfile where it
    can), with ranges and conditional requests."""
    try:
        stream = storage.open(key)
    except KeyError:
        raise ResourceNotFound("File") from None
    response = Response(wrap_file(request.environ, stream), mimetype=mimetype,
                        direct_passthrough=True)
    response.content_length = size
    response.set_etag(etag)
    return response.make_conditional(request, accept_ranges=True, complete_length=size)
