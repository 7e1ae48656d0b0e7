"""Which projects a simple page covers: one project, or a group's readable projects."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..models import READ, Project

if TYPE_CHECKING:
    from ..app import Registry, RegistryRequest


class Scope(NamedTuple):  # made on every page request: a tuple is made fastest
    title: str
    projects: list[Project]
    endpoints: str  # "pypi" or "pypi.group"
    url_args: dict[str, str]  # the project or group argument, as the caller wrote it

    @property
    def project_ids(self) -> list[int]:
        return [project.id for project in self.projects]

    @property
    def state(self) -> str:
        """Changes whenever anything on the scope's pages may have changed."""
        return ",".join(f"{p.id}:{p.serial}" for p in self.projects)

    def url(self, request: RegistryRequest, endpoint: str, **values: str) -> str:
        return request.urls.build(
            f"{self.endpoints}.{endpoint}", {**self.url_args, **values}, force_external=True
        )


def project_scope(registry: Registry, request: RegistryRequest, project: str) -> Scope:
    found = registry.authorize(request, project, READ)
    return Scope(found.name, [found], "pypi", {"project": project})


def group_scope(registry: Registry, request: RegistryRequest, group: str) -> Scope:
    found, projects = registry.readable_projects(request, group)
    return Scope(found.name, projects, "pypi.group", {"group": group})
