"""The plain answers every API area gives: JSON bodies, empty 204s, and the files and
metadata a digest names (an uploaded file's or a cached upstream one's alike)."""

from __future__ import annotations

import functools
import json
import mimetypes
from typing import IO, TYPE_CHECKING, Any

from werkzeug.http import dump_options_header
from werkzeug.utils import get_content_type
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ..errors import NOSNIFF, ResourceNotFound

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ..protocols import Storage

IMMUTABLE = 365 * 24 * 3600  # a file URL names its bytes by digest: they never change


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def no_content() -> Response:
    response = Response(status=204)
    response.headers.remove("Content-Type")  # a 204 has no body to describe
    return response


def stored_file(storage: Storage, request: Request, key: str, *, file_name: str,
                sha256: str, size: int, private: bool) -> Response | FileAnswer:
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
    environ = request.environ
    headers = [
        ("Content-Type", _file_type(file_name)), ("Content-Length", str(size)),
        ("ETag", f'"{sha256}"'), ("Accept-Ranges", "bytes"),
        ("Content-Disposition", _attachment(file_name)),
        ("Cache-Control", _IMMUTABLE_PRIVATE if private else _IMMUTABLE_PUBLIC)]
    if not any(name in environ for name in _CONDITIONS):  # the whole file, as it is
        return FileAnswer(headers, stream, size)
    response = Response(wrap_file(environ, stream), direct_passthrough=True, headers=headers)
    return response.make_conditional(request, accept_ranges=True, complete_length=size)


class FileAnswer:
    """A whole stored file as a WSGI response, sent through the server's
    ``wsgi.file_wrapper``: the answer to nearly every download.

    Its headers are strings known up front, sent as they are, in the order werkzeug's
    response gives them. That response checks and copies each header, about a tenth of
    the cost of a cached download. A HEAD request gets the headers, and the file is closed.
    """

    def __init__(self, headers: list[tuple[str, str]], stream: IO[bytes], size: int) -> None:
        self.headers = [*headers, NOSNIFF]
        self.stream = stream
        self.content_length = size

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        try:
            start_response("200 OK", self.headers)
        except BaseException:
            self.stream.close()
            raise
        if environ.get("REQUEST_METHOD") == "HEAD":
            self.stream.close()
            return []
        return wrap_file(environ, self.stream)


# What a download's answer depends on besides the file (Response.make_conditional).
_CONDITIONS = ("HTTP_RANGE", "HTTP_IF_RANGE", "HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH",
               "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE")


@functools.lru_cache(maxsize=1024)
def _file_type(file_name: str) -> str:
    return get_content_type(mimetypes.guess_type(file_name)[0] or "application/octet-stream",
                            "utf-8")


@functools.lru_cache(maxsize=1024)
def _attachment(file_name: str) -> str:
    return dump_options_header("attachment", {"filename": file_name})


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


def _cache_control(private: bool) -> str:
    return immutable(Response(), private).headers["Cache-Control"]


_IMMUTABLE_PUBLIC, _IMMUTABLE_PRIVATE = _cache_control(False), _cache_control(True)
