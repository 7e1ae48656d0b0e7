"""pypireg migrate: a whole registry into another catalog and storage, and back, with every
row and blob intact; again is a no-op; another registry is never overwritten."""

from __future__ import annotations

import pytest
from webtest import TestApp

import pypireg

from .helpers import API, Env, basic, run


def everything(registry: pypireg.Registry) -> dict:
    """What a registry holds, as its own answers show it."""
    catalog = registry.catalog
    return {table: catalog.rows(f"SELECT * FROM {table} ORDER BY 1") for table in (
        "groups", "projects", "packages", "package_files", "tokens", "audit_events",
        "cleanup_policies", "package_names", "package_details", "trusted_publishers")} | {
            "blobs": sorted(registry.storage.keys())}  # type: ignore[attr-defined]


@pytest.fixture
def source(tmp_path) -> Env:
    env = Env(pypireg.create_app(tmp_path / "source"))
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/team/secret", "demo", "2.0", token=env.writer, status=201)
    env.upload_wheel("acme/tools", "gone", "1.0", token=env.writer, status=201)
    env.registry.yank("acme/tools", "demo", "1.0", reason="old")
    env.registry.set_cleanup_policy(env.public, keep_n_latest_versions=3)
    gone = env.registry.catalog.live_package(env.public.id, "gone", "1")
    env.registry.delete_package(gone)  # deleted, not yet purged: copied as it is
    env.registry.catalog.add_trusted_publisher(
        env.public.id, "oidc", "https://buildkite.com", {}, {"pipeline_slug": "release"})
    return env


def test_a_registry_goes_to_postgresql_and_back(source: Env, postgres_server, tmp_path,
                                                capsys) -> None:
    before = everything(source.registry)
    with postgres_server.database() as url:
        there = ["--catalog", url, "--storage", f"file://{tmp_path}/blobs", "--data",
                 str(tmp_path / "staging")]
        code, out, err = run(capsys, "migrate", "--from-data", str(tmp_path / "source"), *there)
        assert code == 0, err
        assert "copied 4 blobs (all 4 checked by their sha256 on the target)" in out[0]
        assert int(out[-1]) == sum(len(rows) for name, rows in before.items()
                                   if name != "blobs")
        assert "6/6 files" in err  # progress over every referenced blob, on stderr
        code, out, _ = run(capsys, "migrate", "--from-data", str(tmp_path / "source"), *there)
        assert out[0].startswith("copied 0 blobs (all 4 checked") and out[-1] == "0"
        middle = pypireg.create_app(tmp_path / "staging", catalog=url,
                                    storage=f"file://{tmp_path}/blobs")
        try:
            assert everything(middle) == before
            page = TestApp(middle).get(API.format(project="acme/team/secret") + "/simple/demo/",
                                       headers=basic(source.writer))
            assert "demo-2.0-py3-none-any.whl" in page.text  # the token works there too
        finally:
            middle.catalog.close()
        back = tmp_path / "back"
        code, _, err = run(capsys, "migrate", "--from-catalog", url, "--from-storage",
                           f"file://{tmp_path}/blobs", "--data", str(back))
        assert code == 0, err
    returned = pypireg.create_app(back)
    assert everything(returned) == before
    assert 'data-yanked="old"' in TestApp(returned).get(
        API.format(project="acme/tools") + "/simple/demo/").text
    new = returned.create_project("acme/new", "public")
    assert new.id > max(row["id"] for row in before["projects"])


def test_another_registry_is_never_overwritten(source: Env, tmp_path, capsys) -> None:
    other = tmp_path / "other"
    Env(pypireg.create_app(other))
    code, _, err = run(capsys, "migrate", "--from-data", str(tmp_path / "source"), "--data",
                       str(other))
    assert code == 1 and "already holds another registry" in err


def test_a_blob_that_differs_on_the_target_is_reported(source: Env, tmp_path, capsys) -> None:
    target = tmp_path / "target"
    run(capsys, "migrate", "--from-data", str(tmp_path / "source"), "--data", str(target))
    copy = pypireg.create_app(target)
    key = copy.catalog.rows("SELECT storage_key FROM package_files ORDER BY id")[0]["storage_key"]
    copy.storage.path(key).write_bytes(b"rotten")  # type: ignore[attr-defined]
    code, _, err = run(capsys, "migrate", "--from-data", str(tmp_path / "source"), "--data",
                       str(target))
    assert code == 1 and f"the blob {key} differs on the target" in err


def test_migrate_needs_to_know_where_the_source_files_are(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "migrate", "--from-catalog", "sqlite:///x.db", "--data",
                       str(tmp_path))
    assert code == 1 and "--from-catalog needs --from-storage" in err
