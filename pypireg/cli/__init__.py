"""The ``pypireg`` command: run the registry and administer its data directory.

Scriptable: a command that creates something prints its id or secret alone on the last
line of stdout; errors go to stderr with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .. import __version__
from ..defaults import BODY_TIMEOUT, HEADER_TIMEOUT, STAGING_MAX_AGE
from .common import data_option, has_registry, open_registry, plural, where

if TYPE_CHECKING:
    from ..models import Actor

# The modules of the commands not defined here, loaded only for their own commands (and
# for --help), so that a command starts without loading what the others need.
MODULES = {"group": "namespaces", "project": "namespaces", "token": "tokens",
           "audit": "oversight", "cleanup": "oversight", "downloads": "oversight",
           "status": "safety", "protect": "safety", "publisher": "publishing",
           "cache": "caching", "stage": "staging", "hook": "hooks"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(_command(argv)).parse_args(argv)
    args.opened = []  # catalogs whose connections to close at the end
    from ..auth import InvalidGrant
    from ..catalog import CatalogError, CatalogReadOnly
    from ..exceptions import PypiregError

    try:
        return args.run(args)
    except CatalogReadOnly as exc:
        print(f"pypireg: error: the registry is read-only: {exc}", file=sys.stderr)
        return 1
    except (CatalogError, InvalidGrant, ValueError, PypiregError) as exc:  # unavailable too
        print(f"pypireg: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, and keep Python's exit-time
        # flush from raising again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a path that is a file, a disk that is full or read-only
        where = f": {exc.filename}" if exc.filename else ""
        print(f"pypireg: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    finally:
        for catalog in args.opened:
            catalog.close()


def _command(argv: list[str]) -> str | None:
    """The command ``argv`` names; ``""`` for none at all (``--version`` needs none); None
    for anything else (``-h``, a typo), for which every command is loaded."""
    named = next((i for i, word in enumerate(argv) if not word.startswith("-")), None)
    if named is None:
        return "" if "--version" in argv and "-h" not in argv and "--help" not in argv else None
    if named or argv[named] not in {*MODULES, *BUILT_IN}:  # -h token, --, a typo
        return None
    return argv[0]


def actor() -> Actor:
    """Who the audit log says acted: the command line."""
    from ..models import CLI

    return CLI


def _modules(command: str | None) -> list[str]:
    """The modules whose commands the parser needs, in the order --help lists them."""
    wanted = list(dict.fromkeys(MODULES.values()))
    return wanted if command is None else [m for m in wanted if m == MODULES.get(command)]


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    data = data_option()
    parser = argparse.ArgumentParser(
        prog="pypireg", description="Run a private Python package registry and administer its"
        " data directory. A command that creates something prints its id or secret alone on"
        " the last line.")
    parser.add_argument("--version", action="version", version=f"pypireg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", parents=[data],
                               help="create an empty registry in the data directory")
    init.set_defaults(run=_init)

    serve = commands.add_parser("serve", parents=[data], help="run the registry over HTTP"
                                " (creating an empty one if the data directory has none)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080,
                       help="port (default 8080; 0 picks one)")
    serve.add_argument("--prefix", default=None,
                       help="URL prefix to mount under (default /api/v4; / for --layout flat)")
    serve.add_argument("--no-ui", action="store_true",
                       help="serve the API and health checks only, without the web pages")
    if command in (None, "serve"):  # not read otherwise: kept from other commands' start-up
        from ..settings import FIELDS, add_flags

        # Every setting of the registry, each defaulting to its PYPIREG_ variable.
        add_flags(serve, [name for name in FIELDS if name not in ("catalog", "storage")],
                  aliases={"trusted_hosts": "--trusted-host"})
    serve.add_argument("--header-timeout", type=_seconds, metavar="SECONDS",
                       default=os.environ.get("PYPIREG_HEADER_TIMEOUT", HEADER_TIMEOUT),
                       help="close a connection whose request's headers take longer"
                            f" (default $PYPIREG_HEADER_TIMEOUT, or {HEADER_TIMEOUT:g})")
    serve.add_argument("--body-timeout", type=_seconds, metavar="SECONDS",
                       default=os.environ.get("PYPIREG_BODY_TIMEOUT", BODY_TIMEOUT),
                       help="close a connection whose request body sends nothing for"
                            " longer, or that stays idle between requests"
                            f" (default $PYPIREG_BODY_TIMEOUT, or {BODY_TIMEOUT:g})")
    serve.set_defaults(run=_serve)

    for module in _modules(command):
        import_module(f".{module}", __name__).add_commands(commands, data)

    imports = commands.add_parser(
        "import", parents=[data],
        help="bring a directory of wheels and sdists (a pypiserver one), or the projects of"
             " another index (--from-index), into a project")
    imports.add_argument("directory", metavar="DIR", nargs="?",
                         help="searched recursively (or give --from-index)")
    imports.add_argument("--project", required=True, metavar="PATH",
                         help="the project to import into (it must exist)")
    index = imports.add_argument_group(
        "from another index", "copy every file of its projects, checked by sha256, with"
        " upload times, yanks and requires-python; a second run copies only what is new")
    index.add_argument("--from-index", metavar="URL",
                       help="its simple index: GitLab's .../packages/pypi/simple, devpi's"
                            " USER/INDEX/+simple/, pypiserver's /simple/, ...")
    index.add_argument("--token", metavar="TOKEN", help="a token it takes (as __token__)")
    index.add_argument("--username", metavar="USER")
    index.add_argument("--password", metavar="PASSWORD")
    index.add_argument("--name", action="append", dest="names", metavar="NAME",
                       help="only this project (repeatable; default: every one it lists)")
    index.add_argument("--requirements", metavar="FILE",
                       help="only the projects a requirements file names")
    imports.set_defaults(run=_import)

    for action, text in (("yank", "yank a version or one file (PEP 592)"),
                         ("unyank", "undo a yank")):
        yanking = commands.add_parser(action, parents=[data], help=text)
        yanking.add_argument("project", metavar="PROJECT", help="project id or path")
        yanking.add_argument("name", metavar="NAME", help="package name")
        yanking.add_argument("version", metavar="VERSION")
        yanking.add_argument("--file", metavar="FILENAME", dest="file_name",
                             help="only this file of the version")
        if action == "yank":
            yanking.add_argument("--reason", default="", metavar="TEXT",
                                 help="why, shown to installers (optional, as in PEP 592)")
        yanking.set_defaults(run=_yank, yanked=action == "yank")

    migrate = commands.add_parser(
        "migrate", parents=[data],
        help="copy a whole registry into this one (--data, or --catalog and --storage),"
             " checking every file's sha256; running it again copies nothing new")
    source = migrate.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-data", metavar="DIR", help="the registry in this data directory")
    source.add_argument("--from-catalog", metavar="URL", help="the registry in this catalog")
    migrate.add_argument("--from-storage", metavar="URL",
                         help="the files of --from-catalog (default: files/ in --from-data)")
    migrate.set_defaults(run=_migrate)

    gc = commands.add_parser(
        "gc", parents=[data],
        help="purge deleted packages, unreferenced blobs and abandoned uploads")
    gc.add_argument("--staging-age", type=float, default=STAGING_MAX_AGE, metavar="SECONDS",
                    help="remove staged uploads older than this (default: one day)")
    if command in (None, "gc"):  # where serve stages uploads, if not in the data directory
        from ..settings import add_flags

        add_flags(gc, ["staging_dir"])
    gc.set_defaults(run=_gc)
    return parser


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 0 to"
                                         " 65535 (0 picks a free one)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0
    if not 0 < seconds < 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds: give one"
                                         " above 0 (and below a day), such as 10 or 2.5")
    return seconds


BUILT_IN = ("init", "serve", "import", "yank", "unyank", "migrate", "gc")  # defined here


def _serve(args: argparse.Namespace) -> int:
    from . import serving

    return serving.run(args)


def _init(args: argparse.Namespace) -> int:
    if has_registry(args):
        print(f"a registry already exists in {where(args)}; nothing changed")
        return 0
    open_registry(args, create=True)
    print(f"created an empty registry in {where(args)}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ..catalog import CatalogError
    from ..importer import import_directory

    if (args.directory is None) == (args.from_index is None):
        raise CatalogError("give a directory to import, or --from-index URL (not both)")
    if args.from_index is not None:
        from .importing import import_index

        return import_index(args)
    directory = Path(args.directory)
    if not directory.is_dir():
        raise CatalogError(f"{args.directory!r} is not a directory")
    registry = open_registry(args)
    project = registry.catalog.project(args.project)
    if project is None:
        raise CatalogError(f"no project {args.project!r}: create it with pypireg project create")
    report = import_directory(registry, directory, project, ProgressBar(sys.stderr), actor())
    for path in report.ignored:
        print(f"ignored: {path}: not a wheel (.whl) or an sdist (.tar.gz, .zip)")
    for path, reason in report.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(report)
    print(report.imported)
    return 1 if report.failed else 0


class ProgressBar:
    """``[#####.....] 500/1000 files`` on a terminal; a line per tenth otherwise."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self._tty = stream.isatty()
        self._shown = -1.0

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if self._tty:
            now = time.monotonic()
            if done < total and now - self._shown < 0.1:
                return
            self._shown = now
            filled = int(share * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            end = "\n" if done == total else ""
            self.stream.write(f"\r[{bar}] {done}/{total} files{end}")
        elif int(share * 10) > self._shown or done == total:
            self._shown = int(share * 10)
            self.stream.write(f"{done}/{total} files\n")
        self.stream.flush()


def _yank(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    if args.yanked:
        changed = registry.yank(args.project, args.name, args.version, reason=args.reason,
                                file_name=args.file_name, actor=actor())
    else:
        changed = registry.unyank(args.project, args.name, args.version,
                                  file_name=args.file_name, actor=actor())
    done = "yanked" if args.yanked else "unyanked"
    if changed:
        print(f"{done} {plural(changed, 'file')} of {args.name} {args.version}")
    else:
        print(f"nothing changed: {args.name} {args.version}"
              f" {'was already yanked' if args.yanked else 'is not yanked'}"
              f"{' with that reason' if args.yanked and args.reason else ''}")
    print(changed)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from ..migration import migrate_registry

    if args.from_catalog and not args.from_storage:
        raise ValueError("--from-catalog needs --from-storage: where its files are")
    origin = argparse.Namespace(data=args.from_data or args.data, catalog=args.from_catalog,
                                storage=args.from_storage, opened=args.opened)
    source = open_registry(origin)
    target = open_registry(args, create=True)
    print(f"copying {where(origin)} into {where(args)}", file=sys.stderr)
    report = migrate_registry(source, target, ProgressBar(sys.stderr))
    print(report)
    print(sum(report.rows.values()))
    return 0


def _gc(args: argparse.Namespace) -> int:
    from ..settings import Settings

    staging = Settings.read(vars(args), os.environ).staging_dir
    report = open_registry(args, staging_dir=staging).collect_garbage(
        staging_max_age=args.staging_age, actor=actor())
    print(report)
    print(report.total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
