"""The fixtures and hooks of every test: a catalog on each engine (SQLite, and PostgreSQL
where there is one), registries built on it, a test CA and an OIDC issuer over https
(trusted publishing's), and the markers ``e2e`` and ``postgres``.
What the tests share besides fixtures lives in helper modules (tests/helpers.py and its
neighbours), which tests import; no test imports this file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import pypireg

from .helpers import Env, Tree
from .oidc_issuer import Authority, Issuer, authority, serve
from .webpages import Site

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """One PostgreSQL cluster for the session, with the catalog's schema in a template."""
    from . import postgres

    with postgres.server() as server:
        server.template = postgres.make_template(server)  # type: ignore[attr-defined]
        yield server


@pytest.fixture(params=ENGINES)
def catalog(request):  # type: ignore[no-untyped-def]
    """A new, empty catalog on each engine: in-memory SQLite, and a fresh PostgreSQL
    database (skipped, with how to get one, where there is no PostgreSQL)."""
    if request.param == "sqlite":
        yield pypireg.Catalog()
        return
    from pypireg.catalog.postgres import PostgresEngine

    server = request.getfixturevalue("postgres_server")
    with server.database(server.template) as url:
        engine = PostgresEngine(url, max_connections=4)
        try:
            yield pypireg.Catalog(engine=engine)
        finally:
            engine.close()


@pytest.fixture
def env(tmp_path, catalog) -> Iterator[Env]:
    """In-memory storage on each catalog engine; staging in the test's own directory."""
    made = Env(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path / "staging")))
    yield made
    made.registry.deliverer.stop()  # a webhook sender, if one started, before the catalog


@pytest.fixture
def fs_env(tmp_path) -> Env:
    return Env(pypireg.create_app(tmp_path / "data"))


@pytest.fixture
def tree(tmp_path, catalog) -> Tree:
    return Tree(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path / "staging")))


def pytest_collection_modifyitems(config, items) -> None:  # type: ignore[no-untyped-def]
    """``e2e`` for the tests under tests/e2e, ``postgres`` for those that start or use a
    PostgreSQL server, so that ``pytest -m "not e2e and not postgres"`` runs the rest."""
    e2e = Path(__file__).parent / "e2e"
    for item in items:
        if e2e in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
        uses = set(getattr(item, "fixturenames", ()))
        if "postgres_server" in uses or "registry_on_postgres" in uses or (
                "catalog" in uses and "[postgresql" in item.nodeid):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def site(tmp_path, catalog) -> Site:
    """The web pages and the API of a registry on each catalog engine."""
    return Site(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path / "staging")))


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    """A test certificate authority, and a certificate it signed for 127.0.0.1."""
    return authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def issuer(ca: Authority) -> Iterator[Issuer]:
    """An OIDC issuer over https on 127.0.0.1 (tests/oidc_issuer.py), one per module."""
    with serve(Issuer(), ca) as running:
        yield running
