"""GitLab's audit events API, for a project or a group: who changed what, and when.

Readable by those who may delete in that project or group. In a group, a caller who may
delete only in some of its projects sees the events of those projects alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest

from .. import access
from ..models import DELETE
from ..times import moment
from .answers import json_response
from .params import Page

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Registry, RegistryRequest


def project_audit_events(registry: Registry, request: RegistryRequest, project: str
                         ) -> Response:
    found = registry.authorize(request, project, DELETE)
    return _events(registry, request, project=found)


def group_audit_events(registry: Registry, request: RegistryRequest, group: str) -> Response:
    found, deletable = access.group_deletable(
        registry, request, group, why="reading a group's audit events needs delete access in it")
    if deletable is None:
        return _events(registry, request, group=found)  # even while it holds no project
    return _events(registry, request, projects=deletable)


def _events(registry: Registry, request: RegistryRequest, **scope: Any) -> Response:
    page = Page.from_args(request.args)
    events, total = registry.audit_events(
        **scope, after=_time(request, "created_after"), before=_time(request, "created_before"),
        limit=page.size, offset=page.offset)
    return page.headers(json_response([e.to_json() for e in events]), request, total)


def _time(request: RegistryRequest, name: str) -> str | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return moment(value)
    except ValueError as exc:
        raise BadRequest(f"{name} is invalid: {exc}") from None
