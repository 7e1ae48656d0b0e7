"""Deleting projects and groups: refused while they hold packages, soft with --force, and
finished by gc. And a catalog of the previous schema opens with its data intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from webtest import TestApp

import pypireg
from pypireg.catalog import SCHEMA_VERSION

from .distributions import wheel_bytes, wheel_name
from .helpers import API, Env, basic, run

FIXTURES = Path(__file__).parent / "fixtures"
V3_WRITER = "pypireg-4MmChn3SNM7jUPBC_ZENFmw-Z9AOkBRoIEU0yFRa2Fk"  # the writer in the dump


def test_a_project_with_packages_is_deleted_only_with_force(fs_env: Env) -> None:
    registry = fs_env.registry
    fs_env.upload_wheel("acme/tools", "demo", "1.0", token=fs_env.writer, status=201)
    page = API.format(project="acme/tools") + "/simple/demo/"
    with pytest.raises(pypireg.CatalogError, match="holds 1 package: delete them first, or"):
        registry.delete_namespace("acme/tools")
    fs_env.app.get(page, status=200)
    assert registry.delete_namespace("acme/tools", force=True) == 1
    fs_env.app.get(page, status=404)
    assert registry.catalog.project("acme/tools") is None
    assert "acme/tools" not in [u.path for u in registry.list_projects()]
    stored = list(registry.storage.keys())  # type: ignore[attr-defined]
    assert stored  # the blobs wait for gc
    report = registry.collect_garbage()
    assert (report.packages, report.files, report.namespaces) == (1, 1, 1)
    assert list(registry.storage.keys()) == []  # type: ignore[attr-defined]
    assert registry.collect_garbage().total == 0


def test_a_deleted_path_can_be_taken_again_at_once(env: Env) -> None:
    registry = env.registry
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    registry.delete_namespace("acme/tools", force=True)
    again = registry.create_project("acme/tools", "public")
    assert again.id != env.public.id
    env.app.get(API.format(project="acme/tools") + "/simple/demo/", status=404)
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    registry.collect_garbage()  # purges the old project's rows, not the new one's
    env.app.get(API.format(project="acme/tools") + "/simple/demo/", status=200)
    env.app.get(API.format(project=str(env.public.id)) + "/simple/", status=404)


def test_a_group_goes_with_everything_below_it(env: Env) -> None:
    registry = env.registry
    env.upload_wheel("acme/team/secret", "demo", "1.0", token=env.writer, status=201)
    with pytest.raises(pypireg.CatalogError, match="group 'acme/team' holds 1 package"):
        registry.delete_namespace("acme/team")
    assert registry.delete_namespace("acme/team", force=True) == 1
    for path in ("acme/team", "acme/team/secret", "acme/team/other"):
        assert not registry.catalog.path_exists(path)
    assert registry.catalog.project("acme/tools") is not None  # a sibling stays
    env.app.get("/groups/acme%2Fteam/-/packages/pypi/simple/", headers=basic(env.deleter),
                status=404)
    report = registry.collect_garbage()
    assert report.namespaces == 3  # the group and its two projects
    assert registry.catalog.value("SELECT count(*) FROM groups WHERE path = 'acme/team'") == 0


def test_an_empty_project_needs_no_force(env: Env) -> None:
    assert env.registry.delete_namespace("acme/team/other") == 0
    with pytest.raises(pypireg.CatalogError, match="no group or project 'acme/team/other'"):
        env.registry.delete_namespace("acme/team/other")


def test_delete_commands(tmp_path, capsys) -> None:
    data = str(tmp_path / "d")
    env = Env(pypireg.create_app(data))
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    code, _, err = run(capsys, "project", "delete", "acme/tools", "--data", data)
    assert code == 1 and "holds 1 package" in err and "--force" in err
    code, out, _ = run(capsys, "project", "delete", "acme/tools", "--force", "--data", data)
    assert code == 0 and out == [
        "deleted project acme/tools with 1 package (run pypireg gc to free their files)"]
    code, _, err = run(capsys, "group", "delete", "acme/tools", "--data", data)
    assert code == 1 and "no group 'acme/tools'" in err
    code, out, _ = run(capsys, "group", "delete", "acme", "--data", data)
    assert code == 0 and out == ["deleted group acme"]
    code, out, _ = run(capsys, "group", "list", "--json", "--data", data)
    assert out == ["[]"]


def test_a_catalog_of_schema_3_is_migrated_with_its_data(tmp_path) -> None:
    """The catalog as the previous release wrote it (tests/fixtures/catalog-v3.sql)."""
    db = sqlite3.connect(tmp_path / "catalog.db")
    db.executescript((FIXTURES / "catalog-v3.sql").read_text())
    db.close()
    registry = pypireg.create_app(tmp_path)
    assert registry.catalog.db.execute(
        "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            SCHEMA_VERSION)
    assert [u.path for u in registry.list_projects()] == [
        "acme/team/other", "acme/team/secret", "acme/tools"]
    assert [(u.path, u.packages) for u in registry.list_projects()][2] == ("acme/tools", 1)
    wheel = wheel_bytes("demo", "3.0")
    TestApp(registry).post(API.format(project="acme/tools"), [("name", "demo"), (
        "version", "3.0")], upload_files=[("content", wheel_name("demo", "3.0"), wheel)],
        headers=basic(V3_WRITER), status=201)
    assert registry.audit_events()[0][0].event_name == "package_published"
    registry.delete_namespace("acme/tools", force=True)
    registry.create_project("acme/tools", "public")  # the path is free again
    with pytest.raises(pypireg.CatalogError, match="already exists"):
        registry.create_project("acme/team/secret", "private")
