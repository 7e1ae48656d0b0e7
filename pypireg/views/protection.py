"""GitLab's protected packages API: a project's package protection rules, listed and
changed by those of maintainer level (who may delete in the project)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.exceptions import BadRequest, UnprocessableEntity

from ..catalog import CatalogError
from ..errors import ResourceNotFound
from ..models import DELETE
from ..protection import InvalidRule, rule_json
from .answers import json_response, no_content
from .params import body_fields, integer_id

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Registry, RegistryRequest
    from ..models import Project, ProtectionRule


def list_rules(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, DELETE)
    return json_response([rule_json(rule) for rule in registry.protection_rules(found)])


def create_rule(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, DELETE)
    fields = body_fields(request)
    rule = _changed(lambda: registry.add_protection_rule(
        found, actor=registry.actor(request), **fields))
    return json_response(rule_json(rule), 201)


def update_rule(registry: Registry, request: RegistryRequest, project: str, rule_id: str
                ) -> Response:
    found, number = _rule(registry, request, project, rule_id)
    fields = body_fields(request)
    rule = _changed(lambda: registry.update_protection_rule(
        found, number, actor=registry.actor(request), **fields))
    return json_response(rule_json(rule))


def delete_rule(registry: Registry, request: RegistryRequest, project: str, rule_id: str
                ) -> Response:
    found, number = _rule(registry, request, project, rule_id)
    _changed(lambda: registry.remove_protection_rule(found, number,
                                                     actor=registry.actor(request)))
    return no_content()


def _rule(registry: Registry, request: RegistryRequest, project: str, rule_id: str
          ) -> tuple[Project, int]:
    number = integer_id(rule_id, "package_protection_rule_id", "Package protection rule")
    return registry.authorize(request, project, DELETE), number


def _changed(change) -> ProtectionRule:  # type: ignore[no-untyped-def]
    """GitLab's answers: 400 for a bad value, 422 for a duplicate or empty rule, 404 for a
    rule the project does not have."""
    try:
        return change()
    except InvalidRule as exc:
        raise (UnprocessableEntity if exc.conflict else BadRequest)(str(exc)) from None
    except CatalogError:
        raise ResourceNotFound("Package protection rule") from None
