"""Errors: werkzeug exceptions raised anywhere, rendered once as GitLab-shaped JSON.

GitLab's bodies read ``{"message": "404 Project Not Found"}`` or
``{"message": "400 Bad request - <reason>"}``; clients and scripts grep these.
"""

from __future__ import annotations

import errno
import json
import logging

from markupsafe import Markup
from werkzeug.datastructures import MIMEAccept, WWWAuthenticate
from werkzeug.exceptions import (
    GatewayTimeout,
    HTTPException,
    InternalServerError,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from werkzeug.http import parse_accept_header, quote_header_value
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response

from .catalog.base import CatalogReadOnly, CatalogUnavailable
from .catalog.decoded import PageMoved

log = logging.getLogger("pypireg")

_TITLES = {400: "Bad request"}  # GitLab's capitalisation
RETRY_AFTER = 5  # seconds, for a client told to try again


class ResourceNotFound(NotFound):
    """404 naming what was missing, as GitLab does: ``404 Project Not Found``."""

    def __init__(self, resource: str) -> None:
        super().__init__()
        self.resource = resource


class BasicChallenge(WWWAuthenticate):
    """``Basic realm="..."``, the realm always quoted as RFC 7235 asks (werkzeug may not)."""

    def to_header(self) -> str:
        realm = quote_header_value(self.parameters.get("realm", ""), allow_token=False)
        return f"Basic realm={realm}"


def unauthorized(realm: str, why: str | None = None) -> Unauthorized:
    return Unauthorized(why, www_authenticate=BasicChallenge("basic", {"realm": realm}))


def message_for(exc: HTTPException) -> str:
    code = exc.code or 500
    if isinstance(exc, ResourceNotFound):
        return f"{code} {exc.resource} Not Found"
    text = f"{code} {_TITLES.get(code, exc.name)}"
    if exc.description and exc.description != type(exc).description:
        text += f" - {exc.description}"
    return text


class InsufficientStorage(HTTPException):
    """507: the registry's storage is full (werkzeug has no class of its own for it)."""

    code = 507
    description = "The server has no room to store what the request holds."


def fault_answer(exc: Exception) -> HTTPException | None:
    """The answer for a fault of what is under the registry, which the client can do
    nothing about but wait: a catalog that cannot be written now or does not answer (or
    whose cached page kept changing while it was read), a full, read-only or silent disk
    or storage. None for an error that is no such fault
    (a bug)."""
    if isinstance(exc, CatalogReadOnly):  # reads go on; changes wait for the disk
        return ServiceUnavailable(f"the registry is read-only: {exc}")
    if isinstance(exc, CatalogUnavailable):  # a database restarting: pip and uv try again
        return ServiceUnavailable("the registry's catalog is not answering now: try again"
                                  " shortly", retry_after=RETRY_AFTER)
    if isinstance(exc, PageMoved):  # metadata noted on it again and again, meanwhile
        return ServiceUnavailable("an upstream page kept changing while it was read: try"
                                  " again", retry_after=RETRY_AFTER)
    if not isinstance(exc, OSError):
        return None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage("no space left on the registry's storage")
    if exc.errno == errno.EROFS:
        return ServiceUnavailable("the registry's storage is read-only")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ServiceUnavailable("the registry may not write to its storage (permission"
                                  " denied)")
    if isinstance(exc, TimeoutError):
        return GatewayTimeout("the registry's storage did not answer in time")
    if isinstance(exc, ConnectionError):
        return ServiceUnavailable("the registry's storage cannot be reached")
    return None


def unanswered(exc: Exception, method: str, path: str) -> HTTPException:
    """The answer for an exception that no view turned into one: a fault's
    (:func:`fault_answer`, logged on one line with its cause), else a 500 (a bug, logged
    with its traceback)."""
    fault = fault_answer(exc)
    if fault is None:
        log.exception("unhandled error on %s %s", method, path)
        return InternalServerError()
    cause = "" if str(exc) in (fault.description or "") else f" ({exc})"
    log.warning("%s %s: %s%s", method, path, fault.description, cause)
    return fault


NOSNIFF = ("X-Content-Type-Options", "nosniff")  # on every response the registry sends


def wants_html(environ: dict) -> bool:
    """Whether the client is a browser: it asks for HTML above everything else. pip and
    uv ask for text/html only as a last resort (q=0.01), so they keep the JSON errors."""
    accept = parse_accept_header(environ.get("HTTP_ACCEPT"), MIMEAccept)
    html = max((q for value, q in accept if value == "text/html"), default=0)
    return html >= 0.5 and html > accept["application/json"]


_PAGE = Markup(
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="color-scheme" content="light dark"><title>{title}</title></head>'
    '<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto;'
    ' padding: 0 1rem"><h1>{title}</h1><p>{hint}</p></body></html>\n')
_HINTS = {401: "This page is private: sign in with a token as the password.",
          404: "There is nothing here, or nothing you may see."}


def error_response(exc: HTTPException, environ: dict) -> Response:
    """GitLab's JSON body, or a small page of the same message for a browser."""
    if isinstance(exc, RequestRedirect):
        return exc.get_response(environ)
    message = message_for(exc)
    if wants_html(environ):
        body = _PAGE.format(title=message, hint=_HINTS.get(exc.code or 500, ""))
        response = Response(str(body), mimetype="text/html")
    else:
        response = Response(json.dumps({"message": message}), mimetype="application/json")
    response.headers.set(*NOSNIFF)
    response.status = status_line(exc)
    for name, value in exc.get_headers(environ):
        if name.lower() != "content-type":
            response.headers.add(name, value)
    return response


def status_line(exc: HTTPException) -> str:
    """The status with the message as its reason phrase, as PyPI does: twine and pip
    print the status line, not the body."""
    return f"{exc.code} {printable_line(message_for(exc).partition(' ')[2])}"


def printable_line(text: str, limit: int = 300) -> str:
    """Printable ASCII on one line, as a status line allows."""
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    cleaned = "".join(c if " " <= c <= "~" else " " for c in ascii_text)
    return cleaned[:limit].strip() or "Error"
