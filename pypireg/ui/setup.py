"""What the pages tell a client to configure: the index and upload URLs of a project or
group (with a private index's token in its place), and the install commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..catalog.names import search_words
from ..models import Group, NameEntry, Package, Project

if TYPE_CHECKING:
    from ..protocols import URLAdapter
    from .app import UI


def upstreams(ui: UI) -> str | None:
    """Where the index takes the names it does not hold from (docs/proxy.md), if anywhere."""
    upstreams = ui.registry.upstreams
    return None if upstreams is None else upstreams.describe()


def client_urls(api: URLAdapter, project: Project | None,
           group: Group | None = None) -> dict[str, str]:
    """The URLs a client is configured with: an index to install from (the group's, on
    a group page) and, for a project, where to upload."""
    found: dict[str, str] = {}
    if project is not None:
        found["index"] = api.build("pypi.simple_index", {"project": str(project.id)},
                                   force_external=True)
        found["upload"] = api.build("pypi.upload", {"project": str(project.id)},
                                    force_external=True)
        found["label"] = project.path
        found["private"] = "no" if project.is_public else "yes"
    elif group is not None:
        found["index"] = api.build("pypi.group.simple_index", {"group": str(group.id)},
                                   force_external=True)
        found["label"] = group.path
    found["source"] = "-".join(search_words(found.get("label", ""))) or "private"
    return found


def example(api: URLAdapter, projects: list[Project], counts: dict[int, int],
             recent: list[NameEntry]) -> dict[str, str] | None:
    """The home page's client setup: for the project holding the most names (an empty one
    only when all are), with its newest name in the commands."""
    if not projects:
        return None
    chosen = max(projects, key=lambda p: counts.get(p.id, 0))  # the first of a tie
    setup = client_urls(api, chosen)
    setup["package"] = next((e.name for e in recent if e.project_id == chosen.id), "PACKAGE")
    return setup


TOKEN = "<your token>"  # where a private index's URL takes the token


def install(setup: dict[str, str], shown: Package, ui: UI) -> dict[str, Any]:
    """The commands that install this version. A private project's index takes a token
    as the password (``__token__`` as the user), written in its place in the URL."""
    pin = f"{shown.name}=={shown.version}"
    index, source = setup["index"], setup["source"]
    private = setup.get("private") == "yes"
    if private:
        scheme, _, rest = index.partition("://")
        index = f"{scheme}://__token__:{TOKEN}@{rest}"
    poetry = f"poetry source add --priority=explicit {source} {setup['index']}\n"
    if private:
        poetry += f"poetry config http-basic.{source} __token__ '{TOKEN}'\n"
    return {
        "pip": f"pip install --index-url {index} {pin}",
        "uv": f"uv pip install --index-url {index} {pin}",
        "poetry": poetry + f"poetry add --source {source} {pin}",
        "private": private, "upstreams": upstreams(ui),
        "extra": f"pip install --index-url {index} --extra-index-url"
                 f" https://pypi.org/simple/ {pin}",
    }
