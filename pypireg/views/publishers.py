"""Trusted publishers of a project (docs/trusted-publishing.md), in GitLab's API style:
listed, added, shown and removed by those of maintainer level (who may delete in the
project)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.exceptions import BadRequest, Conflict

from ..catalog import CatalogError
from ..errors import ResourceNotFound
from ..models import DELETE
from ..publishing import InvalidPublisher, publisher_json
from .answers import json_response, no_content
from .params import body_fields, integer_id

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Registry, RegistryRequest
    from ..models import Project, TrustedPublisher


def list_publishers(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, DELETE)
    return json_response([publisher_json(p) for p in registry.publishers(found)])


def create_publisher(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, DELETE)
    fields = body_fields(request)
    try:
        publisher = registry.add_publisher(found, actor=registry.actor(request), **fields)
    except InvalidPublisher as exc:
        raise (Conflict if exc.conflict else BadRequest)(str(exc)) from None
    return json_response(publisher_json(publisher), 201)


def publisher(registry: Registry, request: RegistryRequest, project: str, publisher_id: str
              ) -> Response:
    return json_response(publisher_json(_publisher(registry, request, project, publisher_id)[1]))


def delete_publisher(registry: Registry, request: RegistryRequest, project: str,
                     publisher_id: str) -> Response:
    found, existing = _publisher(registry, request, project, publisher_id)
    registry.remove_publisher(found, existing.id, actor=registry.actor(request))
    return no_content()


def _publisher(registry: Registry, request: RegistryRequest, project: str, publisher_id: str
               ) -> tuple[Project, TrustedPublisher]:
    number = integer_id(publisher_id, "publisher_id", "Trusted publisher")
    found = registry.authorize(request, project, DELETE)
    try:
        return found, registry.publisher(found, number)
    except CatalogError:
        raise ResourceNotFound("Trusted publisher") from None
