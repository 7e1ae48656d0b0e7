"""``pypireg status`` (a package name's PEP 792 status) and ``pypireg protect`` (package
protection rules)."""

from __future__ import annotations

import argparse
import json

from ..catalog import CatalogError
from ..defaults import DELETE_LEVELS, PUSH_LEVELS
from ..models import CLI, NAME_STATUS_ORDER
from .common import open_project, print_table


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

    protect = commands.add_parser(
        "protect", help="package protection rules: who may push and delete the names a"
                        " pattern matches (GitLab's protected packages)")
    actions = protect.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[data], help="protect the names a pattern matches")
    add.add_argument("project", metavar="PROJECT", help="project id or path")
    add.add_argument("pattern", metavar="PATTERN",
                     help="package names, with * for any run of characters (my-lib-*)")
    add.add_argument("--push", choices=PUSH_LEVELS, metavar="LEVEL",
                     help="the lowest level that may push: " + ", ".join(PUSH_LEVELS))
    add.add_argument("--delete", choices=DELETE_LEVELS, metavar="LEVEL",
                     help="the lowest level that may delete: " + ", ".join(DELETE_LEVELS))
    add.set_defaults(run=_protect_add)
    listing = actions.add_parser("list", parents=[data], help="a project's rules")
    listing.add_argument("project", metavar="PROJECT", help="project id or path")
    listing.add_argument("--json", action="store_true",
                         help="JSON, in the shape of GitLab's protected packages API")
    listing.set_defaults(run=_protect_list)
    remove = actions.add_parser("remove", parents=[data], help="remove a rule, by its id")
    remove.add_argument("project", metavar="PROJECT", help="project id or path")
    remove.add_argument("rule_id", metavar="RULE_ID", type=int)
    remove.set_defaults(run=_protect_remove)


def _status(args: argparse.Namespace) -> int:
    from ..dists import normalize

    registry, project = open_project(args)
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
        if not registry.catalog.name_known([project.id], normalize(args.name)):
            raise CatalogError(f"no package named {args.name!r} in {project.path}")
        found = registry.name_status(project, args.name)
        print(found.status + (f": {found.reason}" if found.reason else ""))
        return 0
    changed = registry.set_name_status(project, args.name, args.status, reason=args.reason,
                                       actor=CLI)
    print(f"{args.name} in {project.path} is {args.status}"
          + ("" if changed else " (nothing changed)"))
    return 0


def _protect_add(args: argparse.Namespace) -> int:
    if not (args.push or args.delete):
        raise ValueError("a rule needs --push LEVEL, --delete LEVEL or both")
    registry, project = open_project(args)
    rule = registry.add_protection_rule(
        project, package_name_pattern=args.pattern, package_type="pypi",
        minimum_access_level_for_push=args.push, minimum_access_level_for_delete=args.delete,
        actor=CLI)
    print(f"protected {rule.package_name_pattern} in {project.path} (rule {rule.id})")
    print(rule.id)
    return 0


def _protect_list(args: argparse.Namespace) -> int:
    from ..protection import rule_json

    registry, project = open_project(args)
    rules = registry.protection_rules(project)
    if args.json:
        print(json.dumps([rule_json(rule) for rule in rules], indent=2))
    elif not rules:
        print(f"no protection rules in {project.path}")
    else:
        print_table([["ID", "PATTERN", "PUSH", "DELETE"], *(
            [str(r.id), r.package_name_pattern, r.minimum_access_level_for_push or "-",
             r.minimum_access_level_for_delete or "-"] for r in rules)])
    return 0


def _protect_remove(args: argparse.Namespace) -> int:
    registry, project = open_project(args)
    rule = registry.remove_protection_rule(project, args.rule_id, actor=CLI)
    print(f"removed rule {rule.id} ({rule.package_name_pattern}) from {project.path}")
    return 0
