"""What every ``pypireg`` command shares: opening the data directory it was pointed at."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..app import CATALOG, DEFAULT_DATA, Registry, create_app
from ..catalog import CatalogError

__all__ = ["CATALOG", "data_option", "open_registry", "plural", "print_table"]



def data_option() -> argparse.ArgumentParser:
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data",
        default=os.environ.get("PYPIREG_DATA", DEFAULT_DATA),
        metavar="DIR",
        help="data directory (default: $PYPIREG_DATA or ./pypireg-data)",
    )
    return data


def open_registry(args: argparse.Namespace) -> Registry:
    """The registry in ``--data``, which must exist: a mistyped path is an error, never a
    new empty registry (only ``init`` and ``serve`` create one)."""
    data = Path(args.data)
    if not (data / CATALOG).is_file():
        raise CatalogError(
            f"no registry at {data.resolve()}: check --data (or $PYPIREG_DATA), or create"
            f" one with: pypireg init --data {args.data}")
    return create_app(data)


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def print_table(rows: list[list[str]]) -> None:
    """Rows in columns as wide as their widest cell, the first row a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
