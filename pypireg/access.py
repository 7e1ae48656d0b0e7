"""Who may do what, decided in one place, and GitLab's answers to those who may not.

The auth provider says what a principal may do in a project (and, if it can, in a whole
group); this module turns that into every decision a request needs, for the API views, the
web pages and the protection rules alike:

- anonymous and not allowed: 401 with a Basic challenge (:func:`unauthorized`);
- signed in but unable even to read: 404, as if it did not exist, so that private projects
  and groups do not leak;
- able to read but not to act: 403, saying what it would take.

GitLab's levels, for protection rules (:func:`level`): ``developer`` may write in the
project, ``maintainer`` may delete in it, ``owner`` may delete in a group above it
(:class:`~pypireg.protocols.PermitsGroups`), ``admin`` is the instance administrator (a
principal whose ``is_admin`` is true, such as a token with the ``*:admin`` grant).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.exceptions import Forbidden, Unauthorized

from .errors import ResourceNotFound
from .errors import unauthorized as challenge
from .models import DELETE, READ, WRITE, Action, Group, Principal, Project
from .protocols import ExplainsRefusals, PermitsGroups

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from .app import Registry
    from .auth import TokenPrincipal

LEVELS = ("developer", "maintainer", "owner", "admin")  # lowest first
PRINCIPAL = "pypireg.principal"  # where a request keeps its caller once asked


def caller(registry: Registry, request: Request) -> Principal | None:
    """The authenticated caller, asked of the auth provider once per request."""
    if PRINCIPAL not in request.environ:
        request.environ[PRINCIPAL] = registry.auth.authenticate(request)
    return request.environ[PRINCIPAL]


def may(registry: Registry, request: Request, action: Action, project: Project) -> bool:
    return registry.auth.permits(caller(registry, request), action, project)


def unauthorized(registry: Registry, request: Request) -> Unauthorized:
    """GitLab's 401, with a Basic challenge; when the request carried credentials, its
    message says why they did not sign it in, as far as the auth provider tells."""
    auth = registry.auth
    why = auth.refusal(request) if isinstance(auth, ExplainsRefusals) else None
    return challenge(registry.realm, why)


def authorize(registry: Registry, request: Request, project_ref: str | int,
              action: Action) -> Project:
    """The project, if the caller may ``action`` on it; else 401, 404 or 403 as above."""
    project = registry.catalog.project(project_ref)
    if project is None:
        raise ResourceNotFound("Project")
    if may(registry, request, action, project):
        return project
    if caller(registry, request) is None:
        raise unauthorized(registry, request)
    if action != READ and may(registry, request, READ, project):
        raise Forbidden(f"this needs {action} access to {project.path}, which the"
                        " credentials sent do not have")
    raise ResourceNotFound("Project")


def readable(registry: Registry, request: Request, projects: list[Project]) -> list[Project]:
    """Those of ``projects`` the caller may read."""
    return [project for project in projects if may(registry, request, READ, project)]


def readable_projects(registry: Registry, request: Request, group_ref: str | int, *,
                      subgroups: bool = True) -> tuple[Group, list[Project]]:
    """A group and the projects in it (and its subgroups) that the caller may read.

    A private group in which the caller can read nothing answers like a private project:
    401 when anonymous, else 404.
    """
    group = registry.catalog.group(group_ref)
    if group is None:
        raise ResourceNotFound("Group")
    projects = readable(registry, request,
                        registry.catalog.projects_in_group(group, subgroups=subgroups))
    if group.is_public or projects:
        return group, projects
    if caller(registry, request) is None:
        raise unauthorized(registry, request)
    raise ResourceNotFound("Group")


def visible_groups(groups: list[Group], projects: list[Project]) -> list[Group]:
    """Those of ``groups`` a caller who may read ``projects`` sees: the public ones, and
    those above a project they may read."""
    above = {namespace for project in projects for namespace in project.namespaces}
    return [group for group in groups if group.is_public or group.path in above]


def permits_group(registry: Registry, request: Request, group: Group, action: Action) -> bool:
    """Whether the caller may ``action`` on everything in ``group``, now and later, as an
    auth provider that implements :class:`PermitsGroups` says; never otherwise (what is
    allowed in each project today says nothing of the group's past)."""
    if not isinstance(registry.auth, PermitsGroups):
        return False
    return registry.auth.permits_group(caller(registry, request), action, group)


def group_deletable(registry: Registry, request: Request, group_ref: str, *, why: str
                    ) -> tuple[Group, list[Project] | None]:
    """A group and the projects in it the caller may delete in (None: the whole group, now
    and later, as :func:`permits_group` says); 401 or 404 as for reading it, and 403 saying
    ``why`` when they may read but delete nowhere in it."""
    found = registry.catalog.group(group_ref)
    if found is not None and permits_group(registry, request, found, DELETE):
        return found, None  # even while it holds no project
    group, projects = readable_projects(registry, request, group_ref)
    deletable = [project for project in projects if may(registry, request, DELETE, project)]
    if caller(registry, request) is None:
        raise unauthorized(registry, request)
    if not deletable:
        raise Forbidden(why)
    return group, deletable


def group_owner(registry: Registry, request: Request, group_ref: str, *, why: str) -> Group:
    """The group, if the caller may delete in the whole of it (its owner), even while it
    holds nothing; else 401 or 404 as for reading it, and 403 saying ``why``."""
    found = registry.catalog.group(group_ref)
    if found is not None and permits_group(registry, request, found, DELETE):
        return found
    group, _ = readable_projects(registry, request, group_ref)
    if caller(registry, request) is None:
        raise unauthorized(registry, request)
    raise Forbidden(why)


def level(registry: Registry, request: Request, project: Project) -> str | None:
    """The caller's GitLab access level in the project, or None (not even developer)."""
    if getattr(caller(registry, request), "is_admin", False):
        return "admin"
    catalog = registry.catalog
    above = [g for g in map(catalog.group_by_path, project.namespaces) if g is not None]
    if any(permits_group(registry, request, group, DELETE) for group in above):
        return "owner"
    if may(registry, request, DELETE, project):
        return "maintainer"
    if may(registry, request, WRITE, project):
        return "developer"
    return None


def require_level(registry: Registry, request: Request, project: Project, needed: str,
                  action: str, *, why: str) -> None:
    """403 saying ``why`` unless the caller holds the ``needed`` level in the project to
    ``action`` (``push`` or ``delete``) a protected package; deploy tokens never push one."""
    if action == "push" and getattr(caller(registry, request), "kind", None) == "deploy":
        raise Forbidden(f"{why}: deploy tokens may not push it")
    held = level(registry, request, project)
    if held is None or LEVELS.index(held) < LEVELS.index(needed):
        raise Forbidden(f"{why}: to {action} it takes the {needed} level or above")


def token_caller(registry: Registry, request: Request) -> TokenPrincipal:
    """The calling catalog token: 401 when anonymous, 404 for other kinds of callers (a
    host's own users have no catalog token)."""
    from .auth import TokenPrincipal

    principal = caller(registry, request)
    if principal is None:
        raise unauthorized(registry, request)
    if not isinstance(principal, TokenPrincipal) or not principal.id:
        raise ResourceNotFound("Token")
    return principal


def may_rotate(principal: TokenPrincipal, token_id: int) -> None:
    """403 unless the token is the caller's own, or the caller is an administrator."""
    if token_id != principal.id and not principal.is_admin:
        raise Forbidden("only an administrator may rotate another token")


def administrator(registry: Registry, request: Request) -> TokenPrincipal:
    """The calling token, if it is an administrator's; else 401, or 403."""
    from .auth import TokenPrincipal

    principal = caller(registry, request)
    if principal is None:
        raise unauthorized(registry, request)
    if not isinstance(principal, TokenPrincipal) or not principal.is_admin:
        raise Forbidden("managing tokens needs an administrator's token ('*:admin')")
    return principal
