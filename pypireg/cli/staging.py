"""``pypireg stage``: staged releases, files of a project that installers see only once the
stage is published, all at once (docs/staging.md). Files go in with twine or ``uv
publish`` at the stage's upload URL."""

from __future__ import annotations

import argparse
import json

from ..models import CLI
from .common import open_project, plural, print_table


def add_commands(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                 data: argparse.ArgumentParser) -> None:
    stage = commands.add_parser(
        "stage", help="staged releases: upload a version's files, then publish them at once")
    actions = stage.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text, run in (
            ("create", "open a stage in a project; prints its name", _create),
            ("show", "a stage and its files", _show),
            ("publish", "publish every file of a stage at once, or nothing", _publish),
            ("discard", "forget a stage and the files staged in it", _discard)):
        each = actions.add_parser(action, parents=[data], help=text)
        each.add_argument("project", metavar="PROJECT", help="project id or path")
        each.add_argument("name", metavar="NAME", help="the stage's name")
        if action == "show":
            each.add_argument("--json", action="store_true", help="JSON, as the API answers")
        each.set_defaults(run=run)
    listing = actions.add_parser("list", parents=[data], help="a project's stages")
    listing.add_argument("project", metavar="PROJECT", help="project id or path")
    listing.add_argument("--json", action="store_true", help="JSON, as the API answers")
    listing.set_defaults(run=_list)


def _create(args: argparse.Namespace) -> int:
    registry, project = open_project(args)
    stage = registry.create_stage(project, args.name, actor=CLI)
    print(f"opened stage {stage.name} in {project.path}, open until {stage.expires_at};"
          f" upload into .../projects/{project.path}/packages/pypi/stages/{stage.name}")
    print(stage.name)
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..stages import MAX_OPEN_STAGES, stage_json

    registry, project = open_project(args)
    stages, _ = registry.stages(project, limit=MAX_OPEN_STAGES * 10)
    counts = registry.staged_counts(stages)
    if args.json:
        print(json.dumps([stage_json(s, counts.get(s.id, (0, 0))) for s in stages], indent=2))
    elif not stages:
        print(f"no stages in {project.path}")
    else:
        print_table([["NAME", "STATUS", "FILES", "BYTES", "CREATED", "EXPIRES"], *(
            [s.name, s.status, str(counts.get(s.id, (0, 0))[0]),
             f"{counts.get(s.id, (0, 0))[1]:,}", s.created_at, s.expires_at]
            for s in stages)])
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..stages import stage_json, staged_json

    registry, project = open_project(args)
    stage = registry.stage(project, args.name)
    files = registry.staged_files(stage)
    if args.json:
        print(json.dumps({**stage_json(stage, (len(files), sum(f.size for f in files))),
                          "files": [staged_json(f) for f in files]}, indent=2))
        return 0
    when = f", published {stage.published_at}" if stage.published_at else ""
    print(f"stage {stage.name} of {project.path}: {stage.status}, created {stage.created_at}"
          f" by {stage.created_by}, expires {stage.expires_at}{when};"
          f" {plural(len(files), 'file')}")
    if files:
        print_table([["FILE", "VERSION", "BYTES", "SHA256", "UPLOADED"], *(
            [f.file_name, f.version, f"{f.size:,}", f.sha256, f.created_at] for f in files)])
    return 0


def _publish(args: argparse.Namespace) -> int:
    registry, project = open_project(args)
    stage, files = registry.publish_stage(project, args.name, actor=CLI)
    print(f"published stage {stage.name} of {project.path} at {stage.published_at}:"
          f" {plural(len(files), 'file')}")
    for each in files:
        print(f"  {each.file_name}")
    return 0


def _discard(args: argparse.Namespace) -> int:
    registry, project = open_project(args)
    stage = registry.discard_stage(project, args.name, actor=CLI)
    print(f"discarded stage {stage.name} of {project.path}")
    return 0
