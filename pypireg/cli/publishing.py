"""``pypireg publisher``: the CI identities a project trusts to upload without a stored
token (trusted publishing, docs/trusted-publishing.md)."""

from __future__ import annotations

import argparse
import json

from ..models import CLI
from .common import open_project, print_table


def add_commands(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                 data: argparse.ArgumentParser) -> None:
    publisher = commands.add_parser(
        "publisher", help="trusted publishers: CI jobs (GitHub Actions, GitLab CI, any OIDC"
                          " issuer) that may upload to a project with no stored secret")
    actions = publisher.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", parents=[data], help="trust a CI identity to upload to a project",
        description="--kind github needs --repository and --workflow; --kind gitlab needs"
                    " --project-path and --ci-config-path; --kind oidc needs --issuer and"
                    " at least one --claim.")
    add.add_argument("project", metavar="PROJECT", help="project id or path")
    add.add_argument("--kind", required=True, choices=("github", "gitlab", "oidc"))
    add.add_argument("--repository", metavar="OWNER/NAME", help="github: the repository")
    add.add_argument("--workflow", metavar="FILE",
                     help="github: the workflow's file name (release.yml)")
    add.add_argument("--repository-owner-id", metavar="ID",
                     help="github: the owner's numeric id (guards against a re-created"
                          " account of the same name)")
    add.add_argument("--project-path", metavar="NS/PROJECT", help="gitlab: the project")
    add.add_argument("--ci-config-path", metavar="PATH",
                     help="gitlab: the CI file's path in the repository (.gitlab-ci.yml)")
    add.add_argument("--issuer", metavar="URL",
                     help="gitlab: a self-managed GitLab's URL (default https://gitlab.com);"
                          " oidc: the issuer's URL")
    add.add_argument("--environment", metavar="ENV",
                     help="github and gitlab: only jobs of this deployment environment")
    add.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                     help="oidc: a claim the token must have, with exactly this value"
                          " (repeatable)")
    add.set_defaults(run=_add)
    listing = actions.add_parser("list", parents=[data], help="a project's trusted publishers")
    listing.add_argument("project", metavar="PROJECT", help="project id or path")
    listing.add_argument("--json", action="store_true", help="JSON, as the API answers")
    listing.set_defaults(run=_list)
    remove = actions.add_parser("remove", parents=[data], help="stop trusting a publisher")
    remove.add_argument("project", metavar="PROJECT", help="project id or path")
    remove.add_argument("publisher_id", metavar="ID", type=int)
    remove.set_defaults(run=_remove)


def _add(args: argparse.Namespace) -> int:
    from ..publishing import TEXT_FIELDS, describe

    claims = {}
    for given in args.claim:
        name, sep, value = given.partition("=")
        if not sep:
            raise ValueError(f"--claim {given!r}: give NAME=VALUE")
        claims[name] = value
    registry, project = open_project(args)
    fields = {name: getattr(args, name) for name in (*TEXT_FIELDS, "issuer")}
    publisher = registry.add_publisher(project, actor=CLI, kind=args.kind, claims=claims,
                                       **{k: v for k, v in fields.items() if v is not None})
    print(f"{project.path} trusts {describe(publisher)} (publisher {publisher.id})")
    print(publisher.id)
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..publishing import describe, publisher_json

    registry, project = open_project(args)
    found = registry.publishers(project)
    if args.json:
        print(json.dumps([publisher_json(p) for p in found], indent=2))
    elif not found:
        print(f"no trusted publishers in {project.path}")
    else:
        print_table([["ID", "KIND", "PUBLISHER", "CREATED"], *(
            [str(p.id), p.kind, describe(p).split(" ", 1)[1], p.created_at] for p in found)])
    return 0


def _remove(args: argparse.Namespace) -> int:
    from ..publishing import describe

    registry, project = open_project(args)
    publisher = registry.remove_publisher(project, args.publisher_id, actor=CLI)
    print(f"{project.path} no longer trusts {describe(publisher)} (publisher {publisher.id})")
    return 0
