"""``pypireg status`` (a package name's PEP 792 status)."""

from __future__ import annotations

import argparse

from ..catalog import CatalogError
from ..models import CLI, NAME_STATUS_ORDER
from .common import open_registry, print_table


def add_commands(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                 data: argparse.ArgumentParser) -> None:
    status = commands.add_parser(
        "status", parents=[data],
        help="show or set a package name's status (PEP 792): archived and quarantined names"
             " take no uploads, quarantined ones serve no files")
    status.add_argument("project", metavar="PROJECT", help="project id or path")
    status.add_argument("name", metavar="NAME", nargs="?",
                        help="package name (without it: every name that is not active)")
    status.add_argument("status", metavar="STATUS", nargs="?", choices=NAME_STATUS_ORDER,
                        help=" | ".join(NAME_STATUS_ORDER) + " (without it: show the status)")
    status.add_argument("--reason", default="", metavar="TEXT",
                        help="why, shown to installers with the status")
    status.set_defaults(run=_status)


def _status(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    project = registry.catalog.project(args.project)
    if project is None:
        raise CatalogError(f"no project {args.project!r}")
    if args.name is None:
        statuses = registry.catalog.name_statuses(project.id)
        if not statuses:
            print(f"every package name in {project.path} is active")
            return 0
        print_table([["NAME", "STATUS", "SINCE", "REASON"], *(
            [name, s.status, s.updated_at, s.reason] for name, s in statuses.items())])
        return 0
    if args.status is None:
        if args.reason:
            raise ValueError("--reason goes with a STATUS to set")
        found = registry.name_status(project, args.name)
        print(found.status + (f": {found.reason}" if found.reason else ""))
        return 0
    changed = registry.set_name_status(project, args.name, args.status, reason=args.reason,
                                       actor=CLI)
    print(f"{args.name} in {project.path} is {args.status}"
          + ("" if changed else " (nothing changed)"))
    return 0
