"""Pages rendered once per change: served from the cache until a serial moves, in every
process sharing a catalog, and never to a caller who may see something else."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from webtest import TestApp
from werkzeug.routing import Map, Rule

import pypireg
from pypireg.pagecache import PageCache

from .distributions import sdist_bytes, wheel_bytes, wheel_name
from .helpers import API, Env, basic, recorded_queries, sha256

PAGE = API.format(project="acme/tools") + "/simple/demo/"


def queries_for(registry: pypireg.Registry, url: str, **headers: str) -> list[str]:
    """The queries a request runs, on whichever engine."""
    catalog = registry.catalog
    seen = recorded_queries(catalog)
    try:
        TestApp(registry).get(url, headers=headers)
    finally:
        for name in ("rows", "value", "tuples"):
            delattr(catalog, name)
    return [q for q in seen if q.lstrip().startswith("SELECT")]


def test_a_page_is_rendered_once_until_it_changes(env: Env) -> None:
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    first = env.app.get(PAGE)
    assert any("package_files" in q for q in queries_for(env.registry, PAGE)) is False
    again = env.app.get(PAGE)
    assert again.body == first.body and again.headers["ETag"] == first.headers["ETag"]
    env.upload_wheel("acme/tools", "demo", "2.0", token=env.writer, status=201)
    changed = env.app.get(PAGE)
    assert b"demo-2.0-py3-none-any.whl" in changed.body
    assert changed.headers["ETag"] != first.headers["ETag"]


class Clock:
    """A process's clock, moved by hand: it looks at the generation again only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_page_costs_no_statement_while_nothing_changes(env: Env) -> None:
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    group_page = "/groups/acme/-/packages/pypi/simple/demo/"
    env.app.get(PAGE), env.app.get(group_page)
    env.registry.catalog.changes.clock = Clock()  # within one look at the generation
    assert queries_for(env.registry, PAGE) == []
    assert queries_for(env.registry, group_page) == []
    etag = env.app.get(PAGE).headers["ETag"]
    assert queries_for(env.registry, PAGE, **{"If-None-Match": etag}) == []
    # A write that changes no project or group costs one look at the generation, once.
    with env.registry.catalog.write():
        env.registry.catalog.upsert("meta", {"key": "written_at", "value": "now"}, key="key")
    assert [q.split(" FROM ")[1].split()[0] for q in queries_for(env.registry, PAGE)] == [
        "meta"]
    assert queries_for(env.registry, PAGE) == []
    # A change through this process is seen at once, on both pages.
    env.upload_wheel("acme/tools", "demo", "2.0", token=env.writer, status=201)
    assert b"demo-2.0" in env.app.get(PAGE).body
    assert b"demo-2.0" in env.app.get(group_page).body


def sharing(one: pypireg.Registry, other: pypireg.Registry) -> None:
    """``other`` (another process, or another host on ``one``'s PostgreSQL) sees each of
    ``one``'s changes once it looks at the generation again: within CHECK_INTERVAL."""
    from pypireg.catalog.changes import CHECK_INTERVAL

    clock = other.catalog.changes.clock = Clock()
    writer, reader = Env(one), TestApp(other)
    writer.upload_wheel("acme/tools", "demo", "1.0", token=writer.writer, status=201)
    assert b"demo-1.0" in reader.get(PAGE).body
    writer.upload_wheel("acme/tools", "demo", "2.0", token=writer.writer, status=201)
    clock.now += CHECK_INTERVAL
    assert b"demo-2.0" in reader.get(PAGE).body
    one.yank("acme/tools", "demo", "2.0", reason="broken")
    clock.now += CHECK_INTERVAL
    assert b'data-yanked="broken"' in reader.get(PAGE).body
    # A project made private is private everywhere once they look again.
    one.set_visibility("acme/tools", "private")
    clock.now += CHECK_INTERVAL
    reader.get(PAGE, status=401)
    # A project another process creates is found at once: only what was found is kept.
    reader.get(API.format(project="acme/new") + "/simple/", status=404)
    one.create_project("acme/new", visibility="public")
    reader.get(API.format(project="acme/new") + "/simple/", status=200)
    assert CHECK_INTERVAL < 1  # every change seen everywhere within a second


def test_processes_sharing_a_catalog_see_each_others_changes(tmp_path) -> None:
    sharing(pypireg.create_app(tmp_path), pypireg.create_app(tmp_path))


def test_hosts_sharing_a_postgresql_catalog_see_each_others_changes(postgres_server,
                                                                   tmp_path) -> None:
    from pypireg.catalog.postgres import PostgresEngine

    with postgres_server.database(postgres_server.template) as url:
        engines = [PostgresEngine(url, max_connections=2) for _ in range(2)]
        try:
            one, other = (pypireg.create_app(tmp_path / str(n), catalog=pypireg.Catalog(
                engine=engine)) for n, engine in enumerate(engines))
            sharing(one, other)
        finally:
            for engine in engines:
                engine.close()


def test_a_postgresql_change_made_in_any_session_moves_its_own_schemas_generation(
        postgres_server) -> None:
    """The trigger updates the meta table beside the changed table, whatever the session's
    search_path: a catalog in its own schema, changed from a session that would find
    another catalog's meta first, or none (a restore's empty search_path)."""
    import psycopg

    from pypireg.catalog.postgres import PostgresEngine

    with postgres_server.database(postgres_server.template) as url:  # a catalog in public
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("CREATE SCHEMA reg")
        engine = PostgresEngine(url + "?options=-csearch_path%3Dreg", max_connections=1)
        try:
            registry = pypireg.create_app(catalog=pypireg.Catalog(engine=engine))
            registry.create_project("acme", "public")
        finally:
            engine.close()
        with psycopg.connect(url, autocommit=True) as db:
            def generations() -> list[str]:
                return [db.execute(f"SELECT value FROM {schema}.meta"  # type: ignore[index]
                                   " WHERE key = 'generation'").fetchone()[0]
                        for schema in ("reg", "public")]

            before = generations()
            db.execute("UPDATE reg.projects SET visibility = 'private'")
            moved = generations()
            assert moved[0] != before[0] and moved[1] == before[1]
            db.execute("SET search_path = ''")
            db.execute("UPDATE reg.projects SET visibility = 'public'")
            assert generations()[0] != moved[0]


def test_a_change_made_by_hand_in_sql_is_seen_too(tmp_path) -> None:
    """The generation is moved by triggers, not by this code: an older pypireg during a
    rolling upgrade, or SQL run by hand, moves it as well."""
    import sqlite3

    from pypireg.catalog.changes import CHECK_INTERVAL

    env = Env(pypireg.create_app(tmp_path))
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    clock = env.registry.catalog.changes.clock = Clock()
    env.app.get(PAGE, status=200)
    db = sqlite3.connect(env.registry.catalog.path)
    with db:
        db.execute("UPDATE projects SET visibility = 'private' WHERE path = 'acme/tools'")
    db.close()
    clock.now += CHECK_INTERVAL
    env.app.get(PAGE, status=401)


def test_a_name_only_python_folds_to_a_projects_never_hides_it(env: Env) -> None:
    """The Kelvin sign lower-cases to "k" in Python, not in SQL: its 404 must not make the
    project missing for the next caller."""
    env.registry.create_project("acme/kit", visibility="public")
    env.registry.catalog.changes.clock = Clock()
    env.app.get(API.format(project="acme/%E2%84%AAit") + "/simple/", status=404)
    env.app.get(API.format(project="acme/kit") + "/simple/", status=200)
    env.app.get(API.format(project="ACME/KIT") + "/simple/", status=200)
    env.app.get(API.format(project="acme/%E2%84%AAit") + "/simple/", status=404)


def test_a_catalog_without_a_generation_keeps_nothing(env: Env) -> None:
    """A catalog whose generation is gone (restored from an old copy, say) is read every
    time, as it was before the generation existed."""
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    with env.registry.catalog.write():
        env.registry.catalog.run("DELETE FROM meta WHERE key = 'generation'")
    env.app.get(PAGE)
    for _ in range(2):
        assert [q.split(" FROM ")[1].split()[0] for q in queries_for(env.registry, PAGE)
                if "meta" not in q] == ["projects"]


def test_callers_who_see_different_projects_get_different_pages(env: Env) -> None:
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/team/secret", "demo", "9.0", token=env.writer, status=201)
    group_page = "/groups/acme/-/packages/pypi/simple/demo/"
    anonymous = env.app.get(group_page).body
    insider = env.app.get(group_page, headers=basic(env.deleter)).body
    assert b"demo-9.0" in insider and b"demo-9.0" not in anonymous
    assert b"demo-9.0" not in env.app.get(group_page).body


def test_each_host_and_prefix_gets_its_own_urls(env: Env) -> None:
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    here = env.app.get(PAGE).body
    there = env.app.get(PAGE, extra_environ={"HTTP_HOST": "pypi.example.com",
                                             "SCRIPT_NAME": "/api/v4"}).body
    assert b"http://localhost/projects/" in here
    assert b"http://pypi.example.com/api/v4/projects/" in there
    # The scheme alone makes a page of its own.
    secure = env.app.get(PAGE, extra_environ={"wsgi.url_scheme": "https"}).body
    assert b"https://localhost:80/projects/" in secure  # webtest sends Host: localhost:80
    assert b"https://" not in env.app.get(PAGE).body


def test_the_cache_is_bounded_and_can_be_turned_off(env: Env) -> None:
    cache = PageCache(max_bytes=1000)
    for n in range(10):
        cache.put(f"etag{n}", b"x" * 200)
    assert len(cache) == 5 and cache.get("etag0") is None and cache.get("etag9")
    cache.put("huge", b"x" * 600)  # over a quarter of the cache: not kept
    assert cache.get("huge") is None
    registry = pypireg.create_app(page_cache_size=0)
    off = Env(registry)
    off.upload_wheel("acme/tools", "demo", "1.0", token=off.writer, status=201)
    off.app.get(PAGE)
    assert len(registry.pages) == 0


@pytest.mark.parametrize("file_name", ["demo-1.0+local.7-py3-none-any.whl",
                                       "demo-1.0.tar.gz"])
def test_file_urls_from_the_template_are_the_dispatchers_own(env: Env, file_name) -> None:
    if file_name.endswith(".whl"):
        env.upload_wheel("acme/tools", "demo", "1.0+local.7", token=env.writer, status=201)
    else:
        env.upload("acme/tools", file_name, sdist_bytes("demo", "1.0"), token=env.writer,
                   name="demo", version="1.0", status=201)
    body = env.app.get(PAGE).text
    (package_file,) = [f for p in env.registry.catalog.list_packages([env.public.id])[0]
                       for f in env.registry.catalog.package_files(p.id, limit=5, offset=0)[0]]
    urls = env.registry.dispatcher.bind("localhost", url_scheme="http")
    built = urls.build("pypi.file", {"project": "acme/tools", "sha256": package_file.sha256,
                                     "filename": package_file.file_name}, force_external=True)
    assert f'href="{built}#sha256=' in body


def test_a_layout_that_quotes_otherwise_still_gets_its_own_urls(tmp_path) -> None:
    """A dispatcher whose file URLs do not follow werkzeug's quoting is asked per file."""
    layout = Map([
        Rule("/simple/<package_name>/", endpoint="pypi.simple_package",
             defaults={"project": "tools"}),
        Rule("/f/<filename>/<sha256>", endpoint="pypi.file", defaults={"project": "tools"}),
        Rule("/", endpoint="pypi.upload", methods=["POST"], defaults={"project": "tools"}),
    ])
    registry = pypireg.create_app(dispatcher=layout, staging_dir=str(tmp_path))
    registry.create_project("tools", "public")
    token = registry.create_token("w", ["tools:write"])
    data = wheel_bytes("demo", "1.0")
    TestApp(registry).post("/", [("name", "demo"), ("version", "1.0")],
                           upload_files=[("content", wheel_name("demo", "1.0"), data)],
                           headers=basic(token), status=201)
    body = TestApp(registry).get("/simple/demo/").text
    assert f'href="http://localhost/f/{wheel_name("demo", "1.0")}/{sha256(data)}#sha256=' in body


def test_the_templated_index_is_the_generic_one_byte_for_byte() -> None:
    from pypireg import render
    from pypireg.models import IndexEntry

    entries = [IndexEntry("Acme.Greet", "acme-greet", ">=3.8,<4"),
               IndexEntry("a&b", "a-b", ""), IndexEntry("Z_z", "z-z", '"quoted"')]
    head, tail = "http://h/p?x=<&y>/simple/", "/"
    generic = render.index_html("T & <t>", [
        render.Project(e.name, f"{head}{e.normalized_name}{tail}", e.requires_python)
        for e in entries])
    assert render.index_html_templated("T & <t>", entries, head, tail) == generic
    assert "&gt;=3.8,&lt;4" in generic and "a&amp;b" in generic


def test_a_page_its_head_and_its_304_carry_the_same_headers(env: Env) -> None:
    """Pages are sent without werkzeug's response object; what goes out is what it sent."""
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    page = env.app.get(PAGE)
    etag = page.headers["ETag"]
    cache = "public, max-age=0, must-revalidate"
    assert page.headerlist == [
        ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page.body))),
        ("ETag", etag), ("Vary", "Accept"), ("Cache-Control", cache),
        ("X-Content-Type-Options", "nosniff"),
    ]
    head = env.app.head(PAGE)
    assert head.headerlist == page.headerlist and head.body == b""
    unchanged = env.app.get(PAGE, headers={"If-None-Match": etag}, status=304)
    assert unchanged.status == "304 NOT MODIFIED" and unchanged.body == b""
    assert unchanged.headerlist == [("ETag", etag), ("Vary", "Accept"), ("Cache-Control", cache),
                                    ("X-Content-Type-Options", "nosniff")]
    private = env.app.get(PAGE, headers=basic(env.writer))
    assert private.headers["Cache-Control"] == "private, max-age=0, must-revalidate"


@pytest.mark.parametrize("sent, status", [
    ('"{etag}"', 304),
    ('"other", "{etag}"', 304),
    ('W/"{etag}"', 304),  # If-None-Match compares weakly (RFC 9110)
    ("*", 304),
    ('"other"', 200),
    ('"{etag}', 200),  # unterminated: not this ETag
])
def test_if_none_match_in_every_form(env: Env, sent: str, status: int) -> None:
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    etag = env.app.get(PAGE).headers["ETag"].strip('"')
    env.app.get(PAGE, headers={"If-None-Match": sent.format(etag=etag)}, status=status)


def test_only_short_accept_headers_are_remembered(env: Env) -> None:
    from pypireg.views.pages import LONGEST_KEPT, _remembered_offer

    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    long_accept = "text/html, " + ", ".join(f"x/y{n}" for n in range(LONGEST_KEPT // 5))
    before = _remembered_offer.cache_info()
    assert env.app.get(PAGE, headers={"Accept": long_accept}).content_type == "text/html"
    assert _remembered_offer.cache_info() == before


def test_a_look_begun_before_a_write_of_this_process_ends_keeps_nothing() -> None:
    """A thread that read the generation just before another thread's write committed
    must not keep what it then reads under that stale generation."""
    from pypireg.catalog.changes import Changes

    changes, reads = Changes(clock=Clock()), []

    def stale() -> str:
        changes.look_again()  # another thread's write ends while this one looks
        return "before the write"

    def read() -> str:
        reads.append(1)
        return "found"

    assert changes.kept("key", read, stale) == "found"
    assert changes.kept("key", read, lambda: "after the write") == "found"
    assert changes.kept("key", read, lambda: "after the write") == "found"
    assert len(reads) == 2  # read again after the write; kept from then on


def test_what_is_kept_is_bounded() -> None:
    from pypireg.catalog.changes import MAX_KEPT, Changes

    changes, reads = Changes(clock=Clock()), []
    for key in range(MAX_KEPT + 1):
        changes.kept(key, lambda: reads.append(1) or "found", lambda: "one")
    changes.kept(MAX_KEPT, lambda: reads.append(1) or "found", lambda: "one")
    assert len(reads) == MAX_KEPT + 1
    changes.kept(0, lambda: reads.append(1) or "found", lambda: "one")  # the oldest, gone
    assert len(reads) == MAX_KEPT + 2


def guarded(started: Callable[[str], pypireg.Registry]) -> None:
    """Once warm, a cached upstream file costs two statements: the project's own file of
    that digest (none), and the cache's row with its page's status. Whatever makes its
    name the project's own in another process (an upload of the name, a protection rule,
    a stage holding it) stops it within a second, and undoing it (the rule removed, the
    stage discarded, the package deleted and purged by gc) serves it again as soon.
    ``started(upstream)`` is a new process's registry caching ``upstream``."""
    from .upstreams import one_wheel_index, serve

    with serve(one_wheel_index("twin", wheel_bytes("twin", "1.0"))) as served:
        one = Env(started(f"{served.url}/simple/"))
        other = started(f"{served.url}/simple/")
        reader = TestApp(other)
        page = API.format(project="acme/tools") + "/simple/twin/"
        url = reader.get(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"}
                         ).json["files"][0]["url"]
        assert reader.get(url).body == wheel_bytes("twin", "1.0")
        other.upstreams.files.settle()  # kept once its answer has ended
        clock = other.catalog.changes.clock = Clock()
        reader.get(url)  # its first look at the generation by that clock
        warm = queries_for(other, url)
        assert len(warm) == 2 and "FROM package_files" in warm[0], warm
        assert "FROM upstream_files" in warm[1] and "upstream_pages" in warm[1]

        def served_after_a_look(status: int) -> None:
            clock.now += 1  # a second later: every process has looked at the generation
            reader.get(url, status=status)

        rule = one.registry.add_protection_rule(
            one.public, package_name_pattern="tw*", package_type="pypi",
            minimum_access_level_for_push="owner")
        served_after_a_look(404)
        one.registry.remove_protection_rule(one.public, rule.id)
        served_after_a_look(200)
        one.app.post_json(API.format(project="acme/tools") + "/stages", {"name": "rc1"},
                          headers=basic(one.writer), status=201)
        served_after_a_look(200)  # an empty stage holds no name
        name = wheel_name("twin", "2.0")
        one.app.post(API.format(project="acme/tools") + "/stages/rc1",
                     params=[("name", "twin"), ("version", "2.0")],
                     upload_files=[("content", name, wheel_bytes("twin", "2.0"))],
                     headers=basic(one.writer), status=201)
        served_after_a_look(404)
        one.registry.discard_stage(one.public, "rc1")
        served_after_a_look(200)
        one.upload_wheel("acme/tools", "twin", "2.0", token=one.writer, status=201)
        served_after_a_look(404)
        for package in one.registry.catalog.versions_named(one.public.id, "twin"):
            one.registry.delete_package(package)
        served_after_a_look(404)  # deleted, not purged: the name is still the project's
        assert one.registry.collect_garbage().packages == 1
        served_after_a_look(200)


def test_a_cached_upstream_file_reads_no_guard_until_something_it_depends_on_changes(
        tmp_path) -> None:
    guarded(lambda upstream: pypireg.create_app(tmp_path, upstream=upstream,
                                                upstream_mode="cache"))


def test_a_cached_upstream_file_reads_no_guard_until_a_change_on_postgresql_too(
        postgres_server, tmp_path) -> None:
    from pypireg.catalog.postgres import PostgresEngine

    engines: list[PostgresEngine] = []
    with postgres_server.database(postgres_server.template) as url:
        def started(upstream: str) -> pypireg.Registry:
            engines.append(PostgresEngine(url, max_connections=2))
            return pypireg.create_app(tmp_path / str(len(engines)), upstream=upstream,
                                      upstream_mode="cache",
                                      catalog=pypireg.Catalog(engine=engines[-1]))

        try:
            guarded(started)
        finally:
            for engine in engines:
                engine.close()


def test_answers_about_made_up_names_cannot_push_out_the_projects(monkeypatch) -> None:
    """Whether a name may come from upstream is kept for any name a request makes up, in a
    room of its own: however many there are, the projects found stay kept."""
    from pypireg.catalog import changes

    monkeypatch.setattr(changes, "MAX_KEPT", 3)
    kept = changes.Changes(clock=Clock())
    reads: list[object] = []

    def read(value: object):  # type: ignore[no-untyped-def]
        return lambda: reads.append(value) or value

    generation = lambda: "g1"  # noqa: E731
    assert kept.kept(("projects", "acme/tools"), read("tools"), generation) == "tools"
    for n in range(10):
        assert kept.kept(((1,), f"made-up-{n}"), read(True), generation, "forwardable")
    reads.clear()
    assert kept.kept(("projects", "acme/tools"), read("again"), generation) == "tools"
    assert kept.kept(((1,), "made-up-9"), read(False), generation, "forwardable") is True
    assert kept.kept(((1,), "made-up-0"), read(False), generation, "forwardable") is False
    assert reads == [False]  # the oldest made-up name was forgotten, the project was not


def test_a_name_made_private_by_hand_in_sql_is_never_forwarded(tmp_path) -> None:
    """The tables that say which names may not come from upstream move the generation by
    triggers too: a status or a protection rule written by SQL run by hand (or by an older
    pypireg) stops the redirect to the upstream's twin within a second."""
    import sqlite3

    registry = pypireg.create_app(tmp_path, upstream="https://pypi.example/simple/")
    env = Env(registry)
    clock = registry.catalog.changes.clock = Clock()
    page = API.format(project="acme/tools") + "/simple/{}/"
    for name in ("held", "guarded"):
        env.app.get(page.format(name), status=302)
    db = sqlite3.connect(registry.catalog.path)
    with db:
        db.execute("INSERT INTO name_statuses (id, project_id, normalized_name, status,"
                   " reason, updated_at) VALUES (99, ?, 'held', 'archived', '', '')",
                   [env.public.id])
        db.execute("INSERT INTO protection_rules (id, project_id, package_name_pattern,"
                   " package_type, minimum_access_level_for_push, updated_at)"
                   " VALUES (99, ?, 'guard*', 'pypi', 'owner', '')", [env.public.id])
    db.close()
    clock.now += 1
    for name in ("held", "guarded"):
        env.app.get(page.format(name), status=404)


def test_what_a_write_leaves_for_its_commit_runs_once_the_outermost_write_commits(
        catalog, caplog) -> None:
    """Callbacks left for a write's commit (what a process keeps in memory of what the
    write made) run after the outermost write commits, in order, never after one rolled
    back; outside a write, at once. One that raises is logged: the write stands."""
    import logging

    changes, ran = catalog.changes, []
    changes.after_commit(lambda: ran.append("outside"))
    assert ran == ["outside"]
    with catalog.write():
        changes.after_commit(lambda: ran.append("outer"))
        with catalog.write():
            changes.after_commit(lambda: ran.append("inner"))
        assert ran == ["outside"]  # the inner write joined the outer: nothing committed yet
    assert ran == ["outside", "outer", "inner"]
    with pytest.raises(RuntimeError), catalog.write():
        catalog.run("INSERT INTO meta (key, value) VALUES ('rolled back', 'x')")
        changes.after_commit(lambda: ran.append("rolled back"))
        raise RuntimeError
    with catalog.write():  # a write after one rolled back leaves nothing of it
        pass
    assert ran == ["outside", "outer", "inner"]

    def failing() -> None:
        raise ValueError("a callback's own fault")

    with caplog.at_level(logging.ERROR, logger="pypireg"), catalog.write():
        catalog.run("INSERT INTO meta (key, value) VALUES ('committed', 'x')")
        changes.after_commit(failing)
        changes.after_commit(lambda: ran.append("after the failing one"))
    assert ran[-1] == "after the failing one" and "a callback's own fault" in caplog.text
    assert catalog.value("SELECT value FROM meta WHERE key = 'committed'") == "x"
    assert catalog.value("SELECT count(*) FROM meta WHERE key = 'rolled back'") == 0


def test_a_write_that_does_not_stand_whole_runs_nothing_left_for_its_commit(
        catalog, tmp_path) -> None:
    """A COMMIT refused (a constraint checked at commit) and, on PostgreSQL, a failed
    statement whose error the caller caught (its COMMIT would roll everything back without
    a word): the write raises, nothing of it stands, nothing left for its commit runs, and
    the next write commits on its own."""
    deferred = "DEFERRABLE INITIALLY DEFERRED"
    if catalog.engine.name == "sqlite":  # a file, so that another connection can look
        catalog = pypireg.Catalog(str(tmp_path / "catalog.sqlite"))
        other = pypireg.Catalog(str(tmp_path / "catalog.sqlite"))
    else:
        other = catalog
    catalog.run("CREATE TABLE parents (id INTEGER PRIMARY KEY)")
    catalog.run(f"CREATE TABLE children (id INTEGER PRIMARY KEY, parent INTEGER"
                f" REFERENCES parents (id) {deferred})")
    ran: list[str] = []
    with pytest.raises(Exception, match="(?i)foreign key"), catalog.write():
        catalog.run("INSERT INTO children (id, parent) VALUES (1, 7)")  # no parent 7
        catalog.changes.after_commit(lambda: ran.append("refused"))
    with catalog.write():
        catalog.run("INSERT INTO parents (id) VALUES (1)")
        catalog.changes.after_commit(lambda: ran.append("committed"))
    assert ran == ["committed"]
    assert other.value("SELECT count(*) FROM parents") == 1
    assert other.value("SELECT count(*) FROM children") == 0
    if catalog.engine.name != "postgresql":
        return
    with pytest.raises(RuntimeError, match="rolled back"), catalog.write():
        catalog.run("INSERT INTO parents (id) VALUES (2)")
        with contextlib.suppress(Exception):
            catalog.run("INSERT INTO parents (id) VALUES (1)")  # taken: it fails
        catalog.changes.after_commit(lambda: ran.append("rolled back"))
    assert ran == ["committed"]
    assert catalog.value("SELECT count(*) FROM parents") == 1
