"""``pypireg group`` and ``pypireg project``: create, list, show, set-visibility, delete."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from ..catalog import CatalogError, NotEmpty
from ..models import CLI, Usage
from . import oversight
from .common import open_registry, plural, print_table

if TYPE_CHECKING:
    from ..app import Registry

SHOWN_PACKAGES = 1000  # ``project show`` lists at most this many packages


def add_commands(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                 data: argparse.ArgumentParser) -> None:
    visibility = argparse.ArgumentParser(add_help=False)
    choice = visibility.add_mutually_exclusive_group()
    choice.add_argument("--public", dest="visibility", action="store_const", const="public",
                        help="readable by anyone, without a token")
    choice.add_argument("--private", dest="visibility", action="store_const", const="private",
                        help="readable only with a token (the default)")
    visibility.set_defaults(visibility="private")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="JSON, for scripts")

    group = commands.add_parser("group", help="manage groups").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = group.add_parser("create", parents=[visibility, data],
                              help="create a group (parent groups must exist); prints its id")
    create.add_argument("path", metavar="PATH", help="full path, e.g. acme or acme/tools")
    create.set_defaults(run=_create_group)
    group.add_parser("list", parents=[as_json, data],
                     help="every group, with what the projects below it hold"
                     ).set_defaults(run=_list, kind="group")
    _set_visibility_command(group, "group", data)
    _delete_command(group, "group", data)

    project = commands.add_parser("project", help="manage projects").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = project.add_parser("create", parents=[visibility, data],
                                help="create a project (parent groups must exist); prints its id")
    create.add_argument("path", metavar="PATH", help="full path, e.g. acme/tools/lib")
    create.set_defaults(run=_create_project)
    project.add_parser("list", parents=[as_json, data],
                       help="every project, with its packages, files and bytes"
                       ).set_defaults(run=_list, kind="project")
    show = project.add_parser("show", parents=[as_json, data],
                              help="one project: what it holds, and its packages")
    show.add_argument("path", metavar="PATH", help="the project's full path or id")
    show.set_defaults(run=_show)
    _set_visibility_command(project, "project", data)
    _delete_command(project, "project", data)
    oversight.add_policy_command(project, data)


def _set_visibility_command(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                            kind: str, data: argparse.ArgumentParser) -> None:
    command = commands.add_parser(
        "set-visibility", parents=[data],
        help=f"make a {kind} public or private (never more visible than its parent group)")
    command.add_argument("path", metavar="PATH", help=f"the {kind}'s full path or id")
    command.add_argument("visibility", choices=("public", "private"))
    command.set_defaults(run=_set_visibility, kind=kind)


def _delete_command(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                    kind: str, data: argparse.ArgumentParser) -> None:
    below = " and everything below it" if kind == "group" else ""
    command = commands.add_parser(
        "delete", parents=[data],
        help=f"delete a {kind}{below} (refused while it holds packages, unless --force)")
    command.add_argument("path", metavar="PATH", help=f"the {kind}'s full path or id")
    command.add_argument("--force", action="store_true",
                         help="delete its packages too (soft: gc then frees their files)")
    command.set_defaults(run=_delete, kind=kind)


def _delete(args: argparse.Namespace) -> int:
    registry, path = _with_namespace(args)
    try:
        packages = registry.delete_namespace(path, force=args.force, actor=CLI)
    except NotEmpty as exc:
        raise CatalogError(f"{exc.kind} {path} holds {plural(exc.packages, 'package')}:"
                           " delete them first, or pass --force to delete them with it"
                           ) from None
    went = f" with {plural(packages, 'package')} (run pypireg gc to free their files)" if (
        packages) else ""
    print(f"deleted {args.kind} {path}{went}")
    return 0


def _create_group(args: argparse.Namespace) -> int:
    group = open_registry(args).create_group(args.path, args.visibility, actor=CLI)
    print(f"created {group.visibility} group {group.path}")
    print(group.id)
    return 0


def _create_project(args: argparse.Namespace) -> int:
    project = open_registry(args).create_project(args.path, args.visibility, actor=CLI)
    print(f"created {project.visibility} project {project.path}")
    print(project.id)
    return 0


def _list(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    usage = registry.list_groups() if args.kind == "group" else registry.list_projects()
    if args.json:
        print(json.dumps([_usage_json(u, args.kind) for u in usage], indent=2))
        return 0
    header = ["ID", "PATH", "VISIBILITY", *(["PROJECTS"] if args.kind == "group" else []),
              "PACKAGES", "FILES", "BYTES"]
    rows = [[str(u.id), u.path, u.visibility,
             *([str(u.projects)] if args.kind == "group" else []),
             str(u.packages), str(u.files), str(u.bytes)] for u in usage]
    print_table([header, *rows])
    return 0


def _show(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    project = registry.catalog.project(args.path)
    if project is None:
        raise CatalogError(f"no project {args.path!r}")
    usage = next(u for u in registry.list_projects() if u.id == project.id)
    packages, total = registry.catalog.list_packages(
        [project.id], order_by="name", limit=SHOWN_PACKAGES)
    if args.json:
        print(json.dumps({**_usage_json(usage, "project"), "packages": [
            {"id": p.id, "name": p.name, "version": p.version, "status": p.status,
             "created_at": p.created_at} for p in packages]}, indent=2))
        return 0
    print(f"project {usage.path} (id {usage.id}, {usage.visibility}, created"
          f" {usage.created_at}): {plural(usage.packages, 'package')},"
          f" {plural(usage.files, 'file')}, {plural(usage.bytes, 'byte')}")
    if packages:
        print_table([["ID", "NAME", "VERSION", "STATUS", "CREATED"],
                *[[str(p.id), p.name, p.version, p.status, p.created_at] for p in packages]])
    if total > len(packages):
        print(f"... and {total - len(packages)} more (the Packages API pages through all)")
    return 0


def _set_visibility(args: argparse.Namespace) -> int:
    registry, path = _with_namespace(args)
    found = registry.set_visibility(path, args.visibility, actor=CLI)
    print(f"{args.kind} {found.path} is now {found.visibility}")
    return 0


def _with_namespace(args: argparse.Namespace) -> tuple[Registry, str]:
    """The registry, and the full path of the group or project ``args`` names by path or
    id."""
    registry = open_registry(args)
    catalog = registry.catalog
    # A path first: a group or project may be named by digits, which are also an id.
    found = (catalog.group_by_path(args.path) or catalog.group(args.path)
             if args.kind == "group" else
             catalog.project_by_path(args.path) or catalog.project(args.path))
    if found is None:
        raise CatalogError(f"no {args.kind} {args.path!r}")
    return registry, found.path


def _usage_json(usage: Usage, kind: str) -> dict[str, object]:
    body = asdict(usage)
    if kind == "project":
        body.pop("projects")
    return body
