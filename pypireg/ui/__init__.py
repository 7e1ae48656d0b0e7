"""The web pages for people: browse, search and inspect packages (docs/ui.md).

:func:`create_ui` builds them as a WSGI app to mount beside the API; :func:`pypireg.site`
mounts both, with the health checks, as ``pypireg serve`` runs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .app import UI

if TYPE_CHECKING:
    from ..app import Registry

__all__ = ["UI", "create_ui"]


def create_ui(registry: Registry, *, api: str = "/api/v4", title: str = "pypireg") -> UI:
    """The pages of ``registry``. ``api`` is where its API is mounted: a path below the
    pages' own mount point (the default, as ``pypireg serve`` mounts it), or an absolute
    URL when the API is served elsewhere."""
    return UI(registry, api=api, title=title)
