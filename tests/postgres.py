"""A throwaway PostgreSQL server for the tests: Debian's package, a cluster in a temporary
directory on a free 127.0.0.1 port, and a fresh database per test cloned from a template.

Outside CI a machine without PostgreSQL skips these tests with how to get it; under CI
(``CI=true``) they must run, so a missing server fails them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .helpers import missing
from .upstreams import free_port

TEMPLATE = "pypireg_template"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Server:
    """A running cluster: :meth:`database` makes a fresh, empty database and gives its URL;
    :meth:`pg_ctl` stops, starts or restarts it."""

    def __init__(self, port: int, control: list[str] | None = None) -> None:
        self.port = port
        self.control = control or []  # pg_ctl's command line, up to its action

    def pg_ctl(self, action: str, *options: str) -> None:
        """``pg_ctl ACTION`` (``stop -m fast``, ``start``, ``restart -m fast``), waiting
        for it to be done."""
        subprocess.run([*self.control, "-w", *options, action], check=True,
                       capture_output=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    @contextmanager
    def database(self, template: str = "template0") -> Iterator[str]:
        """A new database for the block (a copy of ``template``), dropped afterwards."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {template}")
        try:
            yield self.url(name)
        finally:
            self.sql(f"DROP DATABASE {name} WITH (FORCE)")


def make_template(server: Server) -> str:
    """A database holding the catalog's empty schema, to copy for each test (30 ms, where
    creating the schema takes longer); nothing may stay connected to it."""
    from pypireg.catalog import Catalog
    from pypireg.catalog.postgres import PostgresEngine

    server.sql(f"CREATE DATABASE {TEMPLATE}")
    catalog = Catalog(engine=PostgresEngine(server.url(TEMPLATE), max_connections=1))
    catalog.engine.close()  # type: ignore[attr-defined]
    return TEMPLATE


@contextmanager
def server() -> Iterator[Server]:
    """Start a cluster for the block, or skip (fail under CI) saying how to get one."""
    binaries = _binaries()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        binaries = None
    if binaries is None:
        missing("PostgreSQL", "apt-get install postgresql, and pip install -e '.[test]' for"
                " psycopg")
    root = Path(tempfile.mkdtemp(prefix="pypireg-pg-"))  # not tmp_path: postgres must enter
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    subprocess.run([*as_postgres, str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
                    "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                   check=True, capture_output=True)
    options = (f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off"
               " -c full_page_writes=off -c max_connections=200")
    control = [*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-l",
               str(root / "log"), "-o", options]
    subprocess.run([*control, "-w", "start"], check=True, capture_output=True)
    try:
        yield Server(port, control)
    finally:
        subprocess.run([*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-m",
                        "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
