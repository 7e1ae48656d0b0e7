"""Trusted publishing's token exchange, at PyPI's paths on the host's root
(docs/trusted-publishing.md): the clients that publish with it (``uv publish``,
pypa/gh-action-pypi-publish) ask the host of the upload URL, whatever its path.

- ``GET /_/oidc/audience``: ``{"audience": ...}``, the ``aud`` an identity token must name;
  a 403 while no project trusts a publisher, as PyPI answers when the feature is off;
- ``POST /_/oidc/mint-token`` (and PyPI's older ``/_/oidc/github/mint-token``) with
  ``{"token": IDENTITY_TOKEN}``: ``{"success": true, "token": ..., "expires": UNIX_TIME}``,
  or a 422 ``{"message": "Token request failed", "errors": [{"code", "description"}]}``;
- ``POST /_/oidc/burn-token`` with ``{"token": UPLOAD_TOKEN}``: revokes that minted token,
  and answers 200 whatever the token was, so that it tells nothing.

:func:`token_exchange` is a WSGI app of its own, so a host that mounts the registry under
a prefix can serve it at ``/_/oidc`` on its root; :func:`pypireg.site` serves it beside
the API.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
)
from werkzeug.wrappers import Request, Response

from .errors import NOSNIFF, error_response, unanswered
from .oidc import MAX_TOKEN, TokenRefused
from .publishing import NOT_ENABLED
from .requestlog import ENDPOINT
from .times import parse_time

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .app import Registry

MAX_BODY = 2 * MAX_TOKEN  # bytes of a request's JSON body
_HEADERS = [("Cache-Control", "no-store"), NOSNIFF]


def audience(registry: Registry, request: Request) -> Response:
    if not registry.publishing_enabled():  # PyPI's answer, word for word
        return _json({"message": NOT_ENABLED}, 403)
    return _json({"audience": registry.oidc_audience})


def mint(registry: Registry, request: Request) -> Response:
    try:
        if not registry.publishing_enabled():  # before the body is read, as PyPI answers
            raise TokenRefused("not-enabled", NOT_ENABLED)
        record, secret = registry.mint_token(_token(request), address=request.remote_addr)
    except TokenRefused as refused:
        return _json({"message": "Token request failed", "errors": [
            {"code": refused.code, "description": refused.description}]}, 422)
    expires = int(parse_time(record.expires_at or "").timestamp())
    return _json({"success": True, "token": secret, "expires": expires})


def burn(registry: Registry, request: Request) -> Response:
    # A body without a token burns nothing, and says so no more than any other.
    with contextlib.suppress(TokenRefused, RequestEntityTooLarge):
        registry.burn_token(_token(request), address=request.remote_addr)
    return _json({"success": True})


MOUNT = "/_/oidc"  # where the routes are, on the host's root
ROUTES: dict[str, tuple[str, tuple[str, ...], Callable[[Registry, Request], Response]]] = {
    "/audience": ("oidc.audience", ("GET", "HEAD"), audience),
    "/mint-token": ("oidc.mint_token", ("POST",), mint),
    "/github/mint-token": ("oidc.mint_token", ("POST",), mint),  # PyPI's first path
    "/burn-token": ("oidc.burn_token", ("POST",), burn),
}


def token_exchange(registry: Registry, *, otherwise: WSGIApplication | None = None
                   ) -> WSGIApplication:
    """A WSGI app answering ``/_/oidc/`` + :data:`ROUTES` for ``registry`` (mounted at the
    host's root, where clients look; or just :data:`ROUTES`, mounted at ``/_/oidc``), and
    passing anything else to ``otherwise`` (by default a JSON 404)."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not environ.get("SCRIPT_NAME", "").endswith(MOUNT):
            path = path[len(MOUNT):] if path.startswith(MOUNT + "/") else ""
        route = ROUTES.get(path)
        if route is None and otherwise is not None:
            return otherwise(environ, start_response)
        request = Request(environ)
        try:
            if route is None:
                raise NotFound()
            environ[ENDPOINT], methods, view = route
            registry.check_request(request)
            if request.method not in methods:
                raise MethodNotAllowed(valid_methods=list(methods))
            response = view(registry, request)
        except HTTPException as exc:
            response = error_response(exc, environ)
        except Exception as exc:  # a catalog that cannot be written now, say
            response = error_response(unanswered(exc, request.method, request.path), environ)
        for header in _HEADERS:
            response.headers.set(*header)
        return response(environ, start_response)

    return app


def _token(request: Request) -> str:
    """The ``token`` of the request's JSON body, whatever its Content-Type (clients send
    none, or text/plain); raises TokenRefused(invalid-payload) for any other body."""
    if (request.content_length or 0) > MAX_BODY:
        raise RequestEntityTooLarge(f"the body is larger than {MAX_BODY} bytes")
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise RequestEntityTooLarge(f"the body is larger than {MAX_BODY} bytes")
    try:
        found: Any = json.loads(body)
    except (ValueError, RecursionError):
        found = None
    token = found.get("token") if isinstance(found, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenRefused("invalid-payload", 'the body must be a JSON object with the token'
                                              ' in "token"')
    return token


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
