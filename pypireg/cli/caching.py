"""``pypireg cache``: the cache of upstream indexes (docs/proxy.md)."""

from __future__ import annotations

import argparse

from .common import open_registry


def add_commands(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
                 data: argparse.ArgumentParser) -> None:
    cache = commands.add_parser(
        "cache", help="the cache of upstream indexes (--upstream-mode cache)")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", parents=[data],
                              help="how many upstream pages and files are cached, and their size")
    show.add_argument("name", metavar="NAME", nargs="?", help="only this package name")
    show.set_defaults(run=_show)
    purge = actions.add_parser(
        "purge", parents=[data],
        help="forget cached upstream pages and files and delete their bytes (they are"
             " fetched again when next asked for)")
    purge.add_argument("name", metavar="NAME", nargs="?",
                       help="only this package name (default: everything)")
    purge.set_defaults(run=_purge)


def _show(args: argparse.Namespace) -> int:
    from datetime import datetime, timedelta, timezone

    from ..dists import normalize

    registry = open_registry(args)
    name = normalize(args.name) if args.name else None
    pages, files, size = registry.catalog.upstream_cache_usage(name)
    today = datetime.now(timezone.utc).date()
    downloads = registry.catalog.upstream_downloads(
        name, (today - timedelta(days=29)).isoformat(), today.isoformat())
    print(f"{pages} pages, {files} files, {size:,} bytes; {downloads} downloads in the last"
          " 30 days")
    return 0


def _purge(args: argparse.Namespace) -> int:

    pages, files, blobs = open_registry(args).purge_upstream_cache(args.name)
    what = f" of {args.name}" if args.name else ""
    print(f"purged {pages} cached pages and {files} files{what}; deleted {blobs} stored blobs")
    print(pages + files)
    return 0
