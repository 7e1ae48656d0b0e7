"""Every page's queries walk only what the page shows: no scan of packages or files,
whatever the catalog's size and whether or not it has planner statistics.

A query plan is a fact about the query, not a timing, so this holds on any machine.
"""

from __future__ import annotations

import re

import pytest
from webtest import TestApp

import pypireg

from .seeding import seed

PACKAGES = 20_000
# A full walk of a big table, or of an index that covers every live row of the registry.
WHOLE_TABLE = re.compile(
    r"\bSCAN (packages|package_files|package_names|p|f|n)\b"
    r"|USING (COVERING )?INDEX (packages|files)_by_status\b")


@pytest.fixture(scope="module", params=["without statistics", "analyzed"])
def big(request, tmp_path_factory):
    registry = pypireg.create_app(tmp_path_factory.mktemp("big"))
    registry.create_group("acme", "public")
    projects = [registry.create_project(f"acme/p{n}", "public") for n in range(4)]
    seed(registry, projects, PACKAGES, big=2000)
    registry.create_token("admin", ["*:admin"])
    if request.param == "analyzed":
        registry.catalog.db.execute("ANALYZE")
    return registry


def plans(registry: pypireg.Registry, *urls: str, site: bool = False,
          **headers: str) -> list[tuple[str, str]]:
    """``(query, plan step)`` of every SELECT the requests ran (on the API, or with
    ``site`` on pypireg.site: the web pages at the root)."""
    conn = registry.catalog.db.conn
    queries: list[str] = []
    conn.set_trace_callback(queries.append)
    try:
        app = TestApp(pypireg.site(registry) if site else registry)
        for url in urls:
            app.get(url, headers=headers, status="*")
    finally:
        conn.set_trace_callback(None)
    return [(query, row[3]) for query in queries if query.lstrip().upper().startswith("SELECT")
            for row in conn.execute(f"EXPLAIN QUERY PLAN {query}")]


PYPI = "/projects/acme%2Fp0/packages/pypi"
GROUP = "/groups/acme/-/packages/pypi"


@pytest.mark.parametrize("url", [
    f"{PYPI}/simple/pkg4/",  # one file
    f"{PYPI}/simple/pkg0/",  # 2,000 files
    f"{PYPI}/simple/pkg4/?format=application/vnd.pypi.simple.v1+json",
    f"{PYPI}/simple/no-such-name/",
    f"{GROUP}/simple/pkg4/",
    f"{PYPI}/files/{'0' * 64}/pkg4-1.0.0.tar.gz",
    f"{PYPI}/files/{'0' * 64}/pkg4-1.0.0.tar.gz.metadata",
    f"{GROUP}/files/{'0' * 64}/pkg4-1.0.0.tar.gz",
    "/projects/acme%2Fp0/packages",
    "/projects/acme%2Fp0/packages?order_by=name&sort=desc&page=40",
    "/projects/acme%2Fp0/packages?order_by=version",
    "/projects/acme%2Fp0/packages?package_name=pkg12",
    "/projects/acme%2Fp0/packages/5",
    "/projects/acme%2Fp0/packages/1/package_files?page=3",
    "/projects/acme%2Fp0/audit_events",
])
def test_a_page_never_walks_every_package_or_file(big, secret, url) -> None:
    steps = plans(big, url, **{"PRIVATE-TOKEN": secret})
    assert steps, "the page ran no query"
    scans = [(query[:200], step) for query, step in steps if WHOLE_TABLE.search(step)]
    assert not scans, scans


@pytest.mark.parametrize("url", [
    "/",
    "/acme/p0",
    "/acme/p0?order_by=last_upload&page=30",
    "/acme/p0?q=pkg12&sort=desc",
    "/acme",
    "/acme?order_by=last_upload",
    "/-/search?q=pkg12",
    "/-/search?q=number+1234",
    "/acme/p0/-/packages/pypi/pkg4",
    "/acme/p0/-/packages/pypi/pkg0",  # 2,000 files
    "/acme/p0/-/packages/5",
])
def test_a_web_page_never_walks_every_package_or_name(big, secret, url) -> None:
    steps = plans(big, url, site=True, **{"PRIVATE-TOKEN": secret,
                                          "Accept": "text/html"})
    assert steps, "the page ran no query"
    scans = [(query[:200], step) for query, step in steps if WHOLE_TABLE.search(step)]
    assert not scans, scans


@pytest.fixture(scope="module")
def secret(big) -> str:
    """A token of the big registry that may read everything in it."""
    return big.create_token("reader", ["acme:delete"])


@pytest.fixture(scope="module")
def one_project(tmp_path_factory):
    """Every name in one project: the shape in which SQLite, left alone, would walk the
    project's names and run the text match once for each."""
    registry = pypireg.create_app(tmp_path_factory.mktemp("one"))
    seed(registry, [registry.create_project("solo", "public")], PACKAGES)
    return registry


@pytest.mark.parametrize("query", ["pkg12", "pkg", "number 1234"])
def test_search_is_driven_by_the_text_index(one_project, query) -> None:
    """Each text query's first step is the full-text index: were the names the outer loop,
    the match would run once per name (seconds at 100,000)."""
    steps = plans(one_project, f"/-/search?q={query}", site=True, Accept="text/html")
    first: dict[str, str] = {}
    for sql, step in steps:
        first.setdefault(sql, step)
    matching = [step for sql, step in first.items() if "MATCH" in sql]
    assert matching and all(s.startswith("SCAN package_names_fts VIRTUAL TABLE")
                            for s in matching), first


def test_the_index_reads_its_own_project_only(big) -> None:
    """An index lists every name in its scope, so it reads all of them, but nothing of the
    other projects, through the index on names."""
    steps = plans(big, f"{PYPI}/simple/", f"{GROUP}/simple/")
    assert not [step for _, step in steps if WHOLE_TABLE.search(step)]
    assert any("packages_by_name" in step for _, step in steps)


def test_statistics_follow_the_catalog_as_it_grows(tmp_path) -> None:
    registry = pypireg.create_app(tmp_path)
    project = registry.create_project("p", "public")
    catalog = registry.catalog

    def analyzed_tables() -> set[str]:
        return {row[0] for row in catalog.db.execute("SELECT tbl FROM sqlite_stat1")}

    assert "package_files" not in analyzed_tables()  # empty when it was opened
    seed(registry, [project], 600)  # 1,200 files: past the first threshold
    assert registry.collect_garbage() is not None
    assert {"packages", "package_files"} <= analyzed_tables()
    assert catalog.refresh_statistics() is False  # nothing grew since
    seed(registry, [project], 700)
    assert pypireg.create_app(tmp_path).catalog.refresh_statistics() is False  # done on open
    assert catalog.db.execute("SELECT value FROM meta WHERE key = 'analyzed_at_files'"
                              ).fetchone()[0] == "2600"
