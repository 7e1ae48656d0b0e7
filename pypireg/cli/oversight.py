"""``pypireg audit`` (who changed what), ``pypireg cleanup`` (retention policies) and
``pypireg downloads`` (download statistics)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ..catalog import CatalogError
from ..models import CLI, DUPLICATE_CHOICES, Project
from ..times import ago, moment, parse_duration
from .common import open_registry, plural, print_table

if TYPE_CHECKING:
    from ..app import Registry

AUDIT_LIMIT = 100
MAX_AUDIT_LIMIT = 1_000_000


def add_commands(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                 data: argparse.ArgumentParser) -> None:
    audit = commands.add_parser(
        "audit", parents=[data], help="the audit log: who published, deleted, yanked or"
        " changed what, newest first")
    scope = audit.add_mutually_exclusive_group()
    scope.add_argument("--project", metavar="PATH", help="only this project's events")
    scope.add_argument("--group", metavar="PATH",
                       help="only the events of this group and everything below it")
    audit.add_argument("--since", metavar="WHEN",
                       help="only events since then: a duration back (12h, 7d, 4w), a date"
                            " (2026-12-01) or an ISO 8601 time")
    audit.add_argument("--limit", type=int, default=AUDIT_LIMIT, metavar="N",
                       help=f"at most N events (default {AUDIT_LIMIT})")
    audit.add_argument("--json", action="store_true",
                       help="JSON, in the shape of GitLab's audit events API")
    audit.set_defaults(run=_audit)

    cleanup = commands.add_parser(
        "cleanup", parents=[data], help="apply cleanup policies: soft-delete the versions"
        " they remove (gc then frees the files)")
    cleanup.add_argument("--project", metavar="PATH",
                         help="only this project (default: every project with a policy)")
    cleanup.add_argument("--dry-run", action="store_true",
                         help="list what would go, and how many bytes, and change nothing")
    cleanup.add_argument("--json", action="store_true", help="JSON, for scripts")
    cleanup.set_defaults(run=_cleanup)

    downloads = commands.add_parser(
        "downloads", parents=[data], help="download statistics: a project's versions by"
        " downloads, or one name's")
    downloads.add_argument("project", metavar="PROJECT", help="project id or path")
    downloads.add_argument("name", metavar="NAME", nargs="?", help="only this package")
    downloads.add_argument("--since", metavar="DURATION", default="30d",
                           help="over the last 12h, 30d or 8w, today included (default 30d)")
    downloads.add_argument("--json", action="store_true",
                           help="JSON: the objects of GET .../packages/downloads")
    downloads.set_defaults(run=_downloads)


# The policy's fields (as the API and `--json` name them), and the options that set them.
POLICY_OPTIONS = {
    "keep_n_latest_versions": "--keep-n-latest-versions",
    "older_than": "--older-than",
    "include_names": "--include",
    "exclude_names": "--exclude",
    "keep_n_duplicated_package_files": "--keep-n-duplicated-package-files",
}


def add_policy_command(project: argparse._SubParsersAction,  # type: ignore[type-arg]
                       data: argparse.ArgumentParser) -> None:
    """``pypireg project cleanup-policy PATH [changes]``."""
    policy = project.add_parser(
        "cleanup-policy", parents=[data],
        help="show or change a project's cleanup policy (applied by cleanup and gc)")
    policy.add_argument("path", metavar="PATH", help="the project's full path or id")
    policy.add_argument("--keep-n-latest-versions", metavar="N",
                        help="keep the N highest versions of each name ('' to unset)")
    policy.add_argument("--older-than", metavar="DURATION",
                        help="of the others, remove those uploaded longer ago than this"
                             " (90d, 12w; '' to unset)")
    policy.add_argument("--include", action="append", metavar="GLOB", dest="include_names",
                        help="only names matching this glob (repeatable; '' to clear)")
    policy.add_argument("--exclude", action="append", metavar="GLOB", dest="exclude_names",
                        help="never names matching this glob (repeatable; '' to clear)")
    policy.add_argument("--keep-n-duplicated-package-files", choices=DUPLICATE_CHOICES,
                        help="GitLab's setting, kept for its API (pypireg has no duplicates)")
    policy.add_argument("--json", action="store_true", help="JSON, as the API shows it")
    policy.set_defaults(run=_policy)


def _audit(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    if not 1 <= args.limit <= MAX_AUDIT_LIMIT:
        raise ValueError(f"--limit must be from 1 to {MAX_AUDIT_LIMIT}")
    project = registry.catalog.project(args.project) if args.project else None
    group = registry.catalog.group(args.group) if args.group else None
    gone = None  # the path of a project or group deleted since: its events remain
    if (args.project and project is None) or (args.group and group is None):
        gone = args.project or args.group
        if not registry.audit_events(path=gone, limit=1)[1]:
            raise CatalogError(f"no {'project' if args.project else 'group'} {gone!r},"
                               " and no events of one at that path")
    events, total = registry.audit_events(project=project, group=group, path=gone,
                                          after=_since(args.since), limit=args.limit)
    if args.json:
        print(json.dumps([event.to_json() for event in events], indent=2))
        return 0
    print_table([["ID", "TIME", "ACTOR", "ADDRESS", "ACTION", "IN", "TARGET"], *[
        [str(e.id), e.created_at,
         e.author_name + (f" (token {e.author_id})" if e.author_id is not None else ""),
         e.ip_address or "-", e.event_name, e.entity_path or "(registry)",
         f"{e.target_type} {e.target_details}" if e.target_type else "-"]
        for e in events]])
    if total > len(events):
        print(f"... and {total - len(events)} older (--limit, or the HTTP API, for more)")
    return 0


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return ago(parse_duration(text))
    except ValueError:
        pass
    try:
        return moment(text)
    except ValueError:
        raise ValueError(f"--since {text!r} must be a duration back (12h, 7d, 4w), a date"
                         " (YYYY-MM-DD) or an ISO 8601 time") from None


def _cleanup(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    project = _project(registry, args.project) if args.project else None
    removals = registry.cleanup(project, dry_run=args.dry_run, actor=CLI)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "versions": [r.__dict__ for r in removals],
                          "files": sum(r.files for r in removals),
                          "bytes": sum(r.bytes for r in removals)}, indent=2))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for r in removals:
        print(f"{verb} {r.project_path} {r.name} {r.version} (uploaded {r.created_at}):"
              f" {plural(r.files, 'file')}, {plural(r.bytes, 'byte')}")
    files, size = sum(r.files for r in removals), sum(r.bytes for r in removals)
    print(f"{verb} {plural(len(removals), 'version')}, {plural(files, 'file')},"
          f" {plural(size, 'byte')}" + ("" if args.dry_run or not removals
                                         else " (run pypireg gc to free them)"))
    print(len(removals))
    return 0


def _policy(args: argparse.Namespace) -> int:
    from ..cleanup import InvalidPolicy

    registry = open_registry(args)
    project = _project(registry, args.path)
    changes = {name: getattr(args, name) for name in POLICY_OPTIONS
               if getattr(args, name) is not None}
    try:
        policy = (registry.set_cleanup_policy(project, actor=CLI, **changes) if changes
                  else registry.cleanup_policy(project))
    except InvalidPolicy as exc:  # it names the field: say the option instead
        field, _, rest = str(exc).partition(" ")
        raise ValueError(f"{POLICY_OPTIONS.get(field, field)} {rest}") from None
    if args.json:
        print(json.dumps(policy.to_json(), indent=2))
        return 0
    print(f"cleanup policy of {project.path}:")
    for name, value in policy.to_json().items():
        if name != "next_run_at":
            shown = ", ".join(value) if isinstance(value, list) else value
            print(f"  {name}: {'-' if shown in (None, '') else shown}")
    if not policy.removes_anything:
        print("it removes nothing until --keep-n-latest-versions or --older-than is set")
    return 0


def _downloads(args: argparse.Namespace) -> int:
    from datetime import datetime, timedelta, timezone

    from ..dists import normalize

    days = max(1, -(-parse_duration(args.since) // timedelta(days=1)))  # 12h: today
    last = datetime.now(timezone.utc).date()
    first = last - timedelta(days=days - 1)
    registry = open_registry(args)
    project = _project(registry, args.project)
    rows, _ = registry.catalog.project_downloads(
        project.id, first.isoformat(), last.isoformat(),
        normalized_name=normalize(args.name) if args.name else None, limit=1_000_000)
    if args.json:
        print(json.dumps([row._asdict() for row in rows], indent=2))
        return 0
    print(f"downloads of {args.name or project.path} from {first} to {last} (UTC):"
          f" {sum(row.downloads for row in rows)}")
    if rows:
        print_table([["NAME", "VERSION", "DOWNLOADS"],
                     *[[row.name, row.version, str(row.downloads)] for row in rows]])
    return 0


def _project(registry: Registry, ref: str) -> Project:
    project = registry.catalog.project(ref)
    if project is None:
        raise CatalogError(f"no project {ref!r}")
    return project
