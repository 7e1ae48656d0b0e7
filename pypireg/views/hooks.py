"""Webhooks over HTTP, GitLab's paths (docs/webhooks.md): ``/projects/:id/hooks`` and
``/groups/:id/hooks`` to list and add, ``.../hooks/:hook_id`` to show, edit and delete,
``.../test`` to send a test event now, ``.../deliveries`` to read what was sent.

A hook tells its receiver what happens in a project, and holds a secret: managing the
hooks of a project needs the right to delete in it (maintainer), and a group's the right
to delete in the whole group (owner). Every change goes through the
:class:`pypireg.hooks.Webhooks` methods the command line calls too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest

from .. import access
from ..catalog import CatalogError
from ..errors import ResourceNotFound
from ..hooks import HookNotFound, delivery_json, hook_json
from ..limits import as_id
from ..models import DELETE, Group, Project
from .answers import json_response, no_content
from .params import Page, body_fields

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Registry, RegistryRequest
    from ..records import Hook


def project_hooks(registry: Registry, request: RegistryRequest, project: str) -> Response:
    return _list(registry, _project(registry, request, project))


def group_hooks(registry: Registry, request: RegistryRequest, group: str) -> Response:
    return _list(registry, _group(registry, request, group))


def add_project_hook(registry: Registry, request: RegistryRequest, project: str) -> Response:
    return _add(registry, request, _project(registry, request, project))


def add_group_hook(registry: Registry, request: RegistryRequest, group: str) -> Response:
    return _add(registry, request, _group(registry, request, group))


def project_hook(registry: Registry, request: RegistryRequest, project: str, hook_id: str
                 ) -> Response:
    return _show(registry, _project(registry, request, project), hook_id)


def group_hook(registry: Registry, request: RegistryRequest, group: str, hook_id: str
               ) -> Response:
    return _show(registry, _group(registry, request, group), hook_id)


def edit_project_hook(registry: Registry, request: RegistryRequest, project: str,
                      hook_id: str) -> Response:
    return _edit(registry, request, _project(registry, request, project), hook_id)


def edit_group_hook(registry: Registry, request: RegistryRequest, group: str, hook_id: str
                    ) -> Response:
    return _edit(registry, request, _group(registry, request, group), hook_id)


def delete_project_hook(registry: Registry, request: RegistryRequest, project: str,
                        hook_id: str) -> Response:
    return _delete(registry, request, _project(registry, request, project), hook_id)


def delete_group_hook(registry: Registry, request: RegistryRequest, group: str,
                      hook_id: str) -> Response:
    return _delete(registry, request, _group(registry, request, group), hook_id)


def test_project_hook(registry: Registry, request: RegistryRequest, project: str,
                      hook_id: str) -> Response:
    return _test(registry, _project(registry, request, project), hook_id)


def test_group_hook(registry: Registry, request: RegistryRequest, group: str, hook_id: str
                    ) -> Response:
    return _test(registry, _group(registry, request, group), hook_id)


def project_hook_deliveries(registry: Registry, request: RegistryRequest, project: str,
                            hook_id: str) -> Response:
    return _deliveries(registry, request, _project(registry, request, project), hook_id)


def group_hook_deliveries(registry: Registry, request: RegistryRequest, group: str,
                          hook_id: str) -> Response:
    return _deliveries(registry, request, _group(registry, request, group), hook_id)


# -- shared ---------------------------------------------------------------------------------


def _project(registry: Registry, request: RegistryRequest, project: str) -> Project:
    return registry.authorize(request, project, DELETE)


def _group(registry: Registry, request: RegistryRequest, group: str) -> Group:
    return access.group_owner(registry, request, group, why=(
        f"the hooks of {group} need owner access to the group: a grant with delete on it"))


def _hook(registry: Registry, owner: Project | Group, hook_id: str) -> Hook:
    number = as_id(hook_id)
    try:
        if number is None:
            raise HookNotFound(hook_id)
        return registry.hook(owner, number)
    except HookNotFound:
        raise ResourceNotFound("Hook") from None


def _list(registry: Registry, owner: Project | Group) -> Response:
    return json_response([hook_json(hook) for hook in registry.hooks(owner)])


def _add(registry: Registry, request: RegistryRequest, owner: Project | Group) -> Response:
    fields = body_fields(request)
    url, events, enabled = fields.get("url"), _events_field(fields), fields.get("enabled", True)
    if not isinstance(url, str) or not url:
        raise BadRequest("url is missing: the URL the events are posted to")
    if not isinstance(enabled, bool):
        raise BadRequest("enabled is invalid: give true or false")
    try:
        hook = registry.add_hook(owner, url, events=events, enabled=enabled,
                                 actor=registry.actor(request))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    except CatalogError:  # deleted meanwhile
        raise ResourceNotFound("Project" if isinstance(owner, Project) else "Group") from None
    return json_response({**hook_json(hook), "secret": hook.secret}, 201)


def _show(registry: Registry, owner: Project | Group, hook_id: str) -> Response:
    return json_response(hook_json(_hook(registry, owner, hook_id)))


def _edit(registry: Registry, request: RegistryRequest, owner: Project | Group,
          hook_id: str) -> Response:
    hook = _hook(registry, owner, hook_id)
    fields = body_fields(request)
    url, enabled = fields.get("url"), fields.get("enabled")
    if url is not None and not isinstance(url, str):
        raise BadRequest("url is invalid: give a URL")
    if enabled is not None and not isinstance(enabled, bool):
        raise BadRequest("enabled is invalid: give true or false")
    try:
        hook = registry.update_hook(owner, hook.id, url=url, events=_events_field(fields),
                                    enabled=enabled, actor=registry.actor(request))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    except HookNotFound:  # removed meanwhile
        raise ResourceNotFound("Hook") from None
    return json_response(hook_json(hook))


def _delete(registry: Registry, request: RegistryRequest, owner: Project | Group,
            hook_id: str) -> Response:
    hook = _hook(registry, owner, hook_id)
    try:
        registry.remove_hook(owner, hook.id, actor=registry.actor(request))
    except HookNotFound:
        raise ResourceNotFound("Hook") from None
    return no_content()


def _test(registry: Registry, owner: Project | Group, hook_id: str) -> Response:
    hook = _hook(registry, owner, hook_id)
    delivery = registry.test_hook(owner, hook.id)
    attempts = registry.hook_attempts([delivery])
    return json_response(delivery_json(delivery, attempts[delivery.id]))


def _deliveries(registry: Registry, request: RegistryRequest, owner: Project | Group,
                hook_id: str) -> Response:
    hook = _hook(registry, owner, hook_id)
    page = Page.from_args(request.args)
    found, total = registry.hook_deliveries(owner, hook.id, limit=page.size,
                                            offset=page.offset)
    attempts = registry.hook_attempts(found)
    return page.headers(json_response([delivery_json(d, attempts[d.id]) for d in found]),
                        request, total)


def _events_field(fields: dict[str, Any]) -> list[str] | None:
    events = fields.get("events")
    if events is None:
        return None
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise BadRequest("events is invalid: give a list of event names")
    return events
