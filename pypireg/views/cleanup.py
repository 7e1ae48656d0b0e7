"""GitLab's package cleanup policy of a project, with pypireg's retention rules beside
GitLab's ``keep_n_duplicated_package_files``. Read and changed by those who may delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest

from ..catalog import CatalogError
from ..cleanup import InvalidPolicy
from ..errors import ResourceNotFound
from ..models import DELETE, CleanupPolicy
from .answers import json_response
from .params import body_fields, list_param

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Registry, RegistryRequest

LISTS = ("include_names", "exclude_names")


def cleanup_policy(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, DELETE)
    return json_response(registry.cleanup_policy(found).to_json())


def update_cleanup_policy(registry: Registry, request: RegistryRequest, project: str
                          ) -> Response:
    found = registry.authorize(request, project, DELETE)
    fields: dict[str, Any] = body_fields(request)
    for name in LISTS:
        bracketed = f"{name}[]"
        if name in fields or bracketed in fields:
            if request.is_json:  # as sent (checked by the policy): a list, a string or null
                value = fields.pop(bracketed, None)
                fields.setdefault(name, value)
            else:
                fields.pop(bracketed, None)
                fields[name] = list_param(request, fields, name)
    if not fields:
        raise BadRequest("give at least one of "
                         f"{', '.join(CleanupPolicy.__dataclass_fields__)}")
    try:
        policy = registry.set_cleanup_policy(found, actor=registry.actor(request), **fields)
    except InvalidPolicy as exc:
        raise BadRequest(str(exc)) from None
    except CatalogError:  # the project was deleted meanwhile
        raise ResourceNotFound("Project") from None
    return json_response(policy.to_json())
