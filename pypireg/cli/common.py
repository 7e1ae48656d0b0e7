"""What every ``pypireg`` command shares: opening the data directory it was pointed at."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..defaults import CATALOG, DEFAULT_DATA

if TYPE_CHECKING:
    from ..app import Registry
    from ..catalog import Catalog
    from ..models import Project

# What the commands open is imported by the functions that open it: reading a command's
# arguments (and --version, --help) loads neither the catalog nor the registry.

__all__ = ["CATALOG", "checked_data", "data_option", "has_registry", "open_catalog_of",
           "open_project", "open_registry", "plural", "print_table", "where"]


def data_option() -> argparse.ArgumentParser:
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data",
        default=os.environ.get("PYPIREG_DATA", DEFAULT_DATA),
        metavar="DIR",
        help="data directory (default: $PYPIREG_DATA or ./pypireg-data); with --catalog,"
             " it holds only this process's staged uploads",
    )
    data.add_argument(
        "--catalog", default=_variable("PYPIREG_CATALOG"), metavar="URL",
        help="the catalog elsewhere: postgresql://USER@HOST/DB or sqlite:////PATH"
             " (default: $PYPIREG_CATALOG, else catalog.db in --data)")
    data.add_argument(
        "--storage", default=_variable("PYPIREG_STORAGE"), metavar="URL",
        help="the files elsewhere: s3://BUCKET/PREFIX, file:///PATH or the URL of any"
             " installed storage (default: $PYPIREG_STORAGE, else files/ in --data)")
    return data


def _variable(name: str) -> str | None:
    """An environment variable's value, None when it is unset or blank."""
    return os.environ.get(name, "").strip() or None


def open_registry(args: argparse.Namespace, *, create: bool = False,
                  staging_dir: str | None = None) -> Registry:
    """The registry that ``--data`` (or ``--catalog``) names, which must exist unless
    ``create``: a mistyped path or URL is an error, never a new empty registry (only
    ``init`` and ``serve`` create one)."""
    from ..app import create_app
    from ..catalog import open_catalog

    data = checked_data(args)
    if args.catalog:
        catalog = open_catalog(args.catalog, create=create)
        args.opened.append(catalog)  # main() closes it when the command is done
        registry = create_app(data, catalog=catalog, storage=args.storage,
                              staging_dir=staging_dir)
    else:
        _check_exists(args, data, create)
        registry = create_app(data, storage=args.storage, staging_dir=staging_dir)
    # Webhook deliveries this command's changes queue are sent by the servers, not by a
    # process that may end while one is in flight.
    registry.deliverer.sending = False
    return registry


def open_project(args: argparse.Namespace) -> tuple[Registry, Project]:
    """The registry, and its project that the ``PROJECT`` argument names (an id or a
    path); a project it does not have is an error."""
    from ..catalog import CatalogError

    registry = open_registry(args)
    project = registry.catalog.project(args.project)
    if project is None:
        raise CatalogError(f"no project {args.project!r}")
    return registry, project


def open_catalog_of(args: argparse.Namespace) -> Catalog:
    """The catalog alone of the registry ``--data`` (or ``--catalog``) names, for a
    command that only reads and writes rows (``token list``): it starts faster."""
    from ..catalog import Catalog, open_catalog

    if args.catalog:
        catalog = open_catalog(args.catalog, create=False)
    else:
        data = checked_data(args)
        _check_exists(args, data, create=False)
        catalog = Catalog(str(data / CATALOG))
    args.opened.append(catalog)
    return catalog


def _check_exists(args: argparse.Namespace, data: Path, create: bool) -> None:
    from ..catalog import CatalogError

    if not create and not (data / CATALOG).is_file():
        raise CatalogError(
            f"no registry at {data.resolve()}: check --data (or $PYPIREG_DATA), or create"
            f" one with: pypireg init --data {args.data}")


def checked_data(args: argparse.Namespace) -> Path:
    """``--data``, which may be missing (it is then created) but must not be a file."""
    from ..catalog import CatalogError

    data = Path(args.data)
    if data.exists() and not data.is_dir():
        raise CatalogError(f"--data {args.data} is a file: give a directory (a missing one is"
                           " created)")
    return data


def has_registry(args: argparse.Namespace) -> bool:
    """Whether ``--data`` (or ``--catalog``) already holds a registry."""
    from ..catalog import CatalogError, open_catalog

    if args.catalog:
        try:
            open_catalog(args.catalog, create=False).close()
        except CatalogError:
            return False
        return True
    return (Path(args.data) / CATALOG).is_file()


def where(args: argparse.Namespace) -> str:
    """Where the registry's catalog is, for messages (without a password)."""
    from ..catalog.base import redacted

    return redacted(args.catalog) if args.catalog else str(Path(args.data).resolve())


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def print_table(rows: list[list[str]]) -> None:
    """Rows in columns as wide as their widest cell, the first row a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
