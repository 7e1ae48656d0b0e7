"""``pypireg import --from-index``: the projects of another index, copied into a project
(pypireg/index_import.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..models import CLI
from .common import open_project


def import_index(args: argparse.Namespace) -> int:
    from urllib3.exceptions import HTTPError

    from ..catalog import CatalogError
    from ..index_import import Source, SourceError, import_from_index, requirement_names

    if args.token and (args.username or args.password):
        raise CatalogError("give --token, or --username and --password, not both")
    if args.names and args.requirements:
        raise CatalogError("give --name, or --requirements, not both")
    names = args.names
    if args.requirements:
        names = requirement_names(Path(args.requirements).read_text())
    registry, project = open_project(args)
    source = Source(args.from_index, token=args.token, username=args.username,
                    password=args.password, max_page=registry.limits.max_upstream_page_size,
                    max_file=registry.limits.max_upload_size)
    try:
        report = import_from_index(registry, project, source, names=names, actor=CLI,
                                   progress=lambda line: print(line, file=sys.stderr))
    except (SourceError, HTTPError, OSError) as exc:  # its list of names could not be read
        raise CatalogError(f"--from-index {args.from_index}: {exc}") from None
    print(report)  # each failure was told on stderr as it happened
    print(report.copied)
    return 1 if report.failed else 0
