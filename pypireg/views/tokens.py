"""Tokens over HTTP, in the shapes of GitLab's personal access token and deploy token APIs.

A token manages itself (``/personal_access_tokens/self``); an administrator (a token with
``*:admin``) lists, creates, rotates and revokes any token. Everyone else gets GitLab's
answers: 401 when anonymous, 403 when signed in, 404 where a project or group must not
leak. Parameters come as a JSON body, a form body or the query string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest

from .. import access
from ..auth import (
    Grant,
    InvalidGrant,
    TokenRecord,
    expiry,
    find_token,
)
from ..catalog import CatalogError
from ..errors import ResourceNotFound
from ..models import READ
from .answers import json_response, no_content
from .params import body_fields, integer_id, list_param

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Registry, RegistryRequest

# GitLab's deploy token scopes that mean something for a package registry.
DEPLOY_SCOPES = {"read_package_registry": "read", "write_package_registry": "write"}


# -- the calling token -------------------------------------------------------------------------


def self_token(registry: Registry, request: RegistryRequest) -> Response:
    return json_response(_personal_json(_own_token(registry, request)))


def revoke_self(registry: Registry, request: RegistryRequest) -> Response:
    registry.revoke_token(_own_token(registry, request).id, actor=registry.actor(request))
    return no_content()


def rotate_self(registry: Registry, request: RegistryRequest) -> Response:
    return _rotate(registry, request, _own_token(registry, request))


# -- any token, for administrators ---------------------------------------------------------------


def personal_tokens(registry: Registry, request: RegistryRequest) -> Response:
    """Personal and job tokens (deploy tokens are listed by their project or group)."""
    access.administrator(registry, request)
    return json_response([_personal_json(r) for r in registry.list_tokens() if r.kind != "deploy"])


def create_personal_token(registry: Registry, request: RegistryRequest) -> Response:
    """pypireg's own (GitLab's tokens belong to users, which pypireg has none of)."""
    access.administrator(registry, request)
    fields = body_fields(request)
    kind = str(fields.get("kind") or "personal")
    if kind not in ("personal", "job"):
        raise BadRequest("kind is invalid: personal or job (deploy tokens are created at"
                         " /projects/:id/deploy_tokens)")
    grants = _grants(list_param(request, fields, "grants"))
    record, secret = _issue(registry, request, str(fields.get("name") or ""), grants, kind,
                            fields)
    return json_response({**_personal_json(record), "token": secret}, 201)


def revoke_personal_token(registry: Registry, request: RegistryRequest, token_id: str
                          ) -> Response:
    access.administrator(registry, request)
    record = _token(registry, token_id)
    if record.kind == "deploy":
        raise ResourceNotFound("Token")
    registry.revoke_token(record.id, actor=registry.actor(request))
    return no_content()


def rotate_personal_token(registry: Registry, request: RegistryRequest, token_id: str
                          ) -> Response:
    principal = access.token_caller(registry, request)
    record = _token(registry, token_id)
    access.may_rotate(principal, record.id)
    return _rotate(registry, request, record)


# -- deploy tokens of a project or group -------------------------------------------------------


def project_deploy_tokens(registry: Registry, request: RegistryRequest, project: str
                          ) -> Response:
    found = registry.authorize(request, project, READ)
    access.administrator(registry, request)
    return json_response([_deploy_json(r) for r in _deploy_tokens(registry, found.path)])


def group_deploy_tokens(registry: Registry, request: RegistryRequest, group: str) -> Response:
    found, _ = registry.readable_projects(request, group)
    access.administrator(registry, request)
    return json_response([_deploy_json(r) for r in _deploy_tokens(registry, found.path)])


def create_project_deploy_token(registry: Registry, request: RegistryRequest, project: str
                                ) -> Response:
    found = registry.authorize(request, project, READ)
    access.administrator(registry, request)
    return _create_deploy_token(registry, request, found.path)


def create_group_deploy_token(registry: Registry, request: RegistryRequest, group: str
                              ) -> Response:
    found, _ = registry.readable_projects(request, group)
    access.administrator(registry, request)
    return _create_deploy_token(registry, request, found.path)


def revoke_project_deploy_token(registry: Registry, request: RegistryRequest, project: str,
                                token_id: str) -> Response:
    found = registry.authorize(request, project, READ)
    access.administrator(registry, request)
    return _revoke_deploy_token(registry, request, found.path, token_id)


def revoke_group_deploy_token(registry: Registry, request: RegistryRequest, group: str,
                              token_id: str) -> Response:
    found, _ = registry.readable_projects(request, group)
    access.administrator(registry, request)
    return _revoke_deploy_token(registry, request, found.path, token_id)


# -- helpers ---------------------------------------------------------------------------------


def _own_token(registry: Registry, request: RegistryRequest) -> TokenRecord:
    return find_token(registry.catalog, access.token_caller(registry, request).id)


def _token(registry: Registry, token_id: str) -> TokenRecord:
    number = integer_id(token_id, "token_id", "Token")
    try:
        return find_token(registry.catalog, number)
    except CatalogError:
        raise ResourceNotFound("Token") from None


def _rotate(registry: Registry, request: RegistryRequest, record: TokenRecord) -> Response:
    fields = body_fields(request)
    try:
        new, secret = registry.rotate_token(record.id, expires_at=_expiry(fields),
                                            actor=registry.actor(request))
    except InvalidGrant as exc:
        raise BadRequest(str(exc)) from None
    body = _deploy_json(new) if new.kind == "deploy" else _personal_json(new)
    return json_response({**body, "token": secret})


def _deploy_tokens(registry: Registry, path: str) -> list[TokenRecord]:
    """The deploy tokens granted on exactly this project or group."""
    return [r for r in registry.list_tokens()
            if r.kind == "deploy" and {g.path.lower() for g in r.grants} == {path.lower()}]


def _create_deploy_token(registry: Registry, request: RegistryRequest, path: str) -> Response:
    fields = body_fields(request)
    scopes = list_param(request, fields, "scopes")
    levels = [DEPLOY_SCOPES[s] for s in scopes if s in DEPLOY_SCOPES]
    if not levels:
        raise BadRequest("scopes is invalid: give read_package_registry and/or"
                         " write_package_registry")
    access = "write" if "write" in levels else "read"
    name = str(fields.get("username") or fields.get("name") or "")
    record, secret = _issue(registry, request, name, [Grant(path, access)], "deploy", fields)
    return json_response({**_deploy_json(record), "token": secret}, 201)


def _revoke_deploy_token(registry: Registry, request: RegistryRequest, path: str,
                         token_id: str) -> Response:
    record = _token(registry, token_id)
    if record not in _deploy_tokens(registry, path):
        raise ResourceNotFound("Token")
    registry.revoke_token(record.id, actor=registry.actor(request))
    return no_content()


def _issue(registry: Registry, request: RegistryRequest, name: str, grants: list[Grant],
           kind: str, fields: dict[str, Any]) -> tuple[TokenRecord, str]:
    if not name.strip():
        raise BadRequest("name is missing")
    try:
        return registry.issue_token(name, grants, kind, expires_at=_expiry(fields),
                                    actor=registry.actor(request))
    except InvalidGrant as exc:
        raise BadRequest(str(exc)) from None


def _expiry(fields: dict[str, Any]) -> str | None:
    value = fields.get("expires_at")
    if value in (None, ""):
        return None
    try:
        return expiry(expires_at=str(value))
    except InvalidGrant as exc:
        raise BadRequest(f"expires_at is invalid: {exc}") from None


def _grants(texts: list[str]) -> list[Grant]:
    try:
        return [Grant.parse(text) for text in texts]
    except InvalidGrant as exc:
        raise BadRequest(f"grants is invalid: {exc}") from None


def _personal_json(record: TokenRecord) -> dict[str, Any]:
    """GitLab's personal access token fields, with pypireg's kind and grants (and, for a
    token minted by trusted publishing, its publishers and the identity's claims)."""
    write = any(g.access != READ for g in record.grants)
    return {
        "id": record.id, "name": record.name, "revoked": record.revoked,
        "created_at": record.created_at, "description": None,
        "scopes": ["api"] if write else ["read_api"], "user_id": None,
        "last_used_at": record.last_used_at, "active": record.active,
        "expires_at": record.expires_at, "kind": record.kind,
        "grants": [f"{g.path}:{g.access}" for g in record.grants],
        "trusted_publishing": record.trusted_publishing,
    }


def _deploy_json(record: TokenRecord) -> dict[str, Any]:
    """GitLab's deploy token fields; the username is the token's name."""
    write = any(g.access != READ for g in record.grants)
    return {
        "id": record.id, "name": record.name, "username": record.name,
        "expires_at": record.expires_at, "revoked": record.revoked,
        "expired": record.expired,
        "scopes": ["read_package_registry", *(["write_package_registry"] if write else [])],
    }

