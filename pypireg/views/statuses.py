"""PEP 792 statuses of package names: read by those who may read the project, set by those
who may delete in it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.exceptions import BadRequest

from ..catalog import CatalogError
from ..dists import normalize
from ..errors import ResourceNotFound
from ..models import DELETE, MAX_REASON, NAME_STATUS_ORDER, READ
from .answers import json_response
from .params import body_fields

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Registry, RegistryRequest
    from ..models import NameStatus


def name_status(registry: Registry, request: RegistryRequest, project: str,
                package_name: str) -> Response:
    found = registry.authorize(request, project, READ)
    if not registry.catalog.name_known([found.id], normalize(package_name)):
        raise ResourceNotFound("Package")
    return json_response(_answer(package_name, registry.name_status(found, package_name)))


def set_name_status(registry: Registry, request: RegistryRequest, project: str,
                    package_name: str) -> Response:
    found = registry.authorize(request, project, DELETE)
    fields = body_fields(request)
    status, reason = fields.get("status"), fields.get("reason", "")
    if not isinstance(status, str) or status not in NAME_STATUS_ORDER:
        raise BadRequest("status is missing or invalid: give one of "
                         + ", ".join(NAME_STATUS_ORDER))
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise BadRequest(f"reason is invalid: text of at most {MAX_REASON} characters")
    try:
        registry.set_name_status(found, package_name, status, reason=reason,
                                 actor=registry.actor(request))
    except CatalogError:  # a name the project never held, or a project deleted meanwhile
        raise ResourceNotFound("Package") from None
    return json_response(_answer(package_name, registry.name_status(found, package_name)))


def _answer(package_name: str, status: NameStatus) -> dict[str, object]:
    return {"name": normalize(package_name), "status": status.status,
            "reason": status.reason, "updated_at": status.updated_at or None}
