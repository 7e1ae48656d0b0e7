"""Cleanup policies: GitLab's endpoint, pypireg's rules, and a dry run that tells the truth."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import pypireg
from pypireg.models import CleanupPolicy
from pypireg.times import ago

from .helpers import Env, basic, run

POLICY = "/projects/{project}/packages/cleanup_policy"


def versions(env: Env, project: pypireg.Project) -> set[tuple[str, str]]:
    packages, _ = env.registry.catalog.list_packages([project.id], limit=1000)
    return {(p.name, p.version) for p in packages}


def publish(env: Env, project: str, *releases: tuple[str, str]) -> None:
    for name, version in releases:
        env.upload_wheel(project, name, version, token=env.writer, status=201)


def age(env: Env, name: str, version: str, days: int) -> None:
    """Make a version look ``days`` old (uploads in a test are all seconds old)."""
    env.registry.catalog.run("UPDATE packages SET created_at = ? WHERE name = ? AND version = ?",
                             [ago(timedelta(days=days)), name, version])


@pytest.mark.parametrize(("who", "status"), [
    (None, 401), ("reader", 403), ("writer", 403), ("outsider", 404), ("deleter", 200)])
def test_the_policy_is_for_those_who_may_delete(env: Env, who, status) -> None:
    url = POLICY.format(project="acme%2Fteam%2Fsecret")
    headers = basic(getattr(env, who)) if who else {}
    env.app.get(url, headers=headers, status=status)
    env.app.put_json(url, {"keep_n_latest_versions": 2}, headers=headers, status=status)


def test_gitlab_shape_and_pypireg_rules(env: Env) -> None:
    url, headers = POLICY.format(project=env.private.id), basic(env.deleter)
    assert env.app.get(url, headers=headers).json == {
        "keep_n_duplicated_package_files": "all", "next_run_at": None,
        "keep_n_latest_versions": None, "older_than": None, "include_names": [],
        "exclude_names": []}
    changed = env.app.put_json(url, {"keep_n_duplicated_package_files": "10",
                                     "keep_n_latest_versions": 3, "older_than": "90d",
                                     "include_names": ["Acme_*", "ci.Builds"]},
                               headers=headers).json
    assert changed["include_names"] == ["acme-*", "ci-builds"]  # compared normalized
    assert changed["keep_n_duplicated_package_files"] == "10"
    env.app.put(url, {"exclude_names[]": ["acme-keep", "acme-pin*"]}, headers=headers)
    env.app.put(f"{url}?older_than=", headers=headers)  # unset one rule, by query string
    assert env.registry.cleanup_policy(env.private) == CleanupPolicy(
        "10", 3, None, ("acme-*", "ci-builds"), ("acme-keep", "acme-pin*"))


@pytest.mark.parametrize(("body", "message"), [
    ({"keep_n_latest_versions": 0}, "keep_n_latest_versions is invalid"),
    ({"keep_n_latest_versions": "lots"}, "keep_n_latest_versions is invalid"),
    ({"keep_n_latest_versions": True}, "keep_n_latest_versions is invalid"),
    ({"older_than": "3 months"}, "older_than is invalid: '3 months' must look like"),
    ({"keep_n_duplicated_package_files": "7"}, "use one of all, 1, 10, 20, 30, 40, 50"),
    ({"keep_n_latest": 3}, "unknown cleanup policy field(s): keep_n_latest"),
    ({"include_names": ["x" * 300]}, "at most 255 characters"),
    ({}, "give at least one of"),
])
def test_bad_values_are_refused_with_the_reason(env: Env, body, message) -> None:
    answer = env.app.put_json(POLICY.format(project=env.private.id), body,
                              headers=basic(env.deleter), status=400)
    assert message in answer.json["message"]
    assert env.registry.cleanup_policy(env.private) == CleanupPolicy()


def test_keep_n_keeps_the_highest_versions_whatever_their_upload_order(env: Env) -> None:
    publish(env, "acme/tools", ("lib", "2.0"), ("lib", "10.0"), ("lib", "1.0"),
            ("lib", "10.1rc1"), ("lib", "1.5"), ("other", "0.1"))
    env.registry.set_cleanup_policy(env.public, keep_n_latest_versions=2)
    removed = env.registry.cleanup(env.public, dry_run=True)
    assert sorted(r.version for r in removed) == ["1.0", "1.5", "2.0"]
    assert versions(env, env.public) >= {("lib", "10.0"), ("lib", "10.1rc1"), ("other", "0.1")}


def test_older_than_spares_new_uploads_and_the_highest_version(env: Env) -> None:
    publish(env, "acme/tools", ("lib", "1.0"), ("lib", "2.0"), ("lib", "3.0"), ("solo", "1.0"))
    for version in ("1.0", "3.0"):
        age(env, "lib", version, 100)
    age(env, "solo", "1.0", 100)
    env.registry.set_cleanup_policy(env.public, older_than="30d")
    removed = env.registry.cleanup(env.public, dry_run=True)
    # 3.0 is old but the highest; 2.0 is not old; solo 1.0 is its name's only version.
    assert [(r.name, r.version) for r in removed] == [("lib", "1.0")]


def test_both_rules_together_remove_only_what_each_allows(env: Env) -> None:
    publish(env, "acme/tools", *[("lib", f"1.{n}") for n in range(6)])
    for n in (0, 1, 4):
        age(env, "lib", f"1.{n}", 10)
    env.registry.set_cleanup_policy(env.public, keep_n_latest_versions=2, older_than="7d")
    removed = env.registry.cleanup(env.public, dry_run=True)
    assert sorted(r.version for r in removed) == ["1.0", "1.1"]  # 1.4 is among the 2 kept


def test_name_patterns_choose_which_names_a_policy_touches(env: Env) -> None:
    publish(env, "acme/tools", ("ci-build", "1.0"), ("ci-build", "2.0"), ("ci-pinned", "1.0"),
            ("ci-pinned", "2.0"), ("core", "1.0"), ("core", "2.0"))
    env.registry.set_cleanup_policy(env.public, keep_n_latest_versions=1,
                                    include_names=["CI_*"], exclude_names=["*-pinned"])
    removed = env.registry.cleanup(env.public, dry_run=True)
    assert [(r.name, r.version) for r in removed] == [("ci-build", "1.0")]


def test_a_policy_without_rules_removes_nothing(env: Env) -> None:
    publish(env, "acme/tools", ("lib", "1.0"), ("lib", "2.0"))
    env.registry.set_cleanup_policy(env.public, include_names=["*"],
                                    keep_n_duplicated_package_files="1")
    assert env.registry.cleanup(env.public) == []
    assert len(versions(env, env.public)) == 2


def test_a_dry_run_lists_exactly_what_the_real_run_removes(fs_env: Env, capsys) -> None:
    env = fs_env
    publish(env, "acme/tools", *[("lib", f"0.{n}") for n in range(5)])
    publish(env, "acme/team/secret", ("app", "1.0"), ("app", "1.1"), ("app", "1.2"))
    env.registry.set_cleanup_policy(env.public, keep_n_latest_versions=2)
    env.registry.set_cleanup_policy(env.private, keep_n_latest_versions=1)
    before = versions(env, env.public) | versions(env, env.private)
    sizes = {f.file_name: f.size for p in env.registry.catalog.list_packages(
        [env.public.id, env.private.id], limit=100)[0]
        for f in env.registry.catalog.package_files(p.id, limit=10, offset=0)[0]}
    data = str(env.registry.catalog.path).removesuffix("/catalog.db")
    code, out, _ = run(capsys, "cleanup", "--dry-run", "--json", "--data", data)
    planned = json.loads("\n".join(out))
    assert code == 0 and planned["dry_run"] is True
    assert versions(env, env.public) | versions(env, env.private) == before  # nothing went
    listed = {(v["name"], v["version"]) for v in planned["versions"]}
    assert listed == {("lib", "0.0"), ("lib", "0.1"), ("lib", "0.2"), ("app", "1.0"),
                      ("app", "1.1")}
    assert planned["bytes"] == sum(size for name, size in sizes.items()
                                   if any(name.startswith(f"{n}-{v}-") for n, v in listed))
    code, out, _ = run(capsys, "cleanup", "--data", data)
    assert code == 0 and out[-1] == "5"
    assert out[-2] == (f"removed 5 versions, 5 files, {planned['bytes']} bytes"
                       " (run pypireg gc to free them)")
    after = versions(env, env.public) | versions(env, env.private)
    assert before - after == listed
    code, out, _ = run(capsys, "cleanup", "--project", "acme/tools", "--dry-run", "--data", data)
    assert out == ["would remove 0 versions, 0 files, 0 bytes", "0"]
    removed = [e for e in env.registry.audit_events()[0] if e.event_name == "package_deleted"]
    assert len(removed) == 5 and {e.details["reason"] for e in removed} == {"cleanup policy"}
    assert {e.author_name for e in removed} == {"cli"}


def test_gc_applies_stored_policies_and_frees_the_files(fs_env: Env) -> None:
    env = fs_env
    publish(env, "acme/tools", ("lib", "1.0"), ("lib", "2.0"), ("lib", "3.0"))
    env.registry.set_cleanup_policy(env.public, keep_n_latest_versions=1)
    blobs = len(list(env.registry.storage.keys()))  # type: ignore[attr-defined]
    report = env.registry.collect_garbage()
    assert report.cleaned == 2 and report.packages == 2
    assert str(report).startswith("cleanup policies removed 2 versions; purged 2 packages")
    assert versions(env, env.public) == {("lib", "3.0")}
    assert len(list(env.registry.storage.keys())) < blobs  # type: ignore[attr-defined]
    assert env.registry.collect_garbage().cleaned == 0


def test_policy_command_shows_and_changes(tmp_path, capsys) -> None:
    data = str(tmp_path / "d")
    Env(pypireg.create_app(data))
    code, out, _ = run(capsys, "project", "cleanup-policy", "acme/tools", "--data", data)
    assert code == 0 and out[-1] == (
        "it removes nothing until --keep-n-latest-versions or --older-than is set")
    code, out, _ = run(capsys, "project", "cleanup-policy", "acme/tools",
                       "--keep-n-latest-versions", "5", "--include", "ci-*", "--include",
                       "nightly-*", "--json", "--data", data)
    shown = json.loads("\n".join(out))
    assert shown["keep_n_latest_versions"] == 5
    assert shown["include_names"] == ["ci-*", "nightly-*"]
    code, out, _ = run(capsys, "project", "cleanup-policy", "acme/tools", "--include", "",
                       "--data", data)
    assert "  include_names: -" in out and "  keep_n_latest_versions: 5" in out
    code, _, err = run(capsys, "project", "cleanup-policy", "acme/tools", "--older-than",
                       "forever", "--data", data)
    assert code == 1 and "--older-than is invalid" in err


@pytest.mark.parametrize("body", [
    {"older_than": "999999d"}, {"older_than": "5300w"}, {"keep_n_latest_versions": "1" * 5000},
    {"include_names": [True]}, {"include_names": [{"a": "b"}]}, {"exclude_names": 7},
])
def test_values_past_any_sense_are_refused_not_crashed_on(env: Env, body) -> None:
    answer = env.app.put_json(POLICY.format(project=env.private.id), body,
                              headers=basic(env.deleter), status=400)
    assert "is invalid" in answer.json["message"]
    assert env.registry.collect_garbage().cleaned == 0  # gc is never blocked by a policy


def test_json_takes_the_bracketed_list_name_too(env: Env) -> None:
    publish(env, "acme/team/secret", ("ci-build", "1.0"), ("ci-build", "2.0"),
            ("core", "1.0"), ("core", "2.0"))
    url, headers = POLICY.format(project=env.private.id), basic(env.deleter)
    env.app.put_json(url, {"include_names[]": ["ci-*"], "keep_n_latest_versions": 1},
                     headers=headers)
    assert env.registry.cleanup_policy(env.private).include_names == ("ci-*",)
    assert [r.name for r in env.registry.cleanup(env.private, dry_run=True)] == ["ci-build"]


def test_an_identical_change_records_nothing(env: Env) -> None:
    url, headers = POLICY.format(project=env.private.id), basic(env.deleter)
    for _ in range(3):
        env.app.put_json(url, {"keep_n_latest_versions": 4, "older_than": None},
                         headers=headers)
    env.app.put_json(url, {"keep_n_latest_versions": 4, "older_than": "9d"}, headers=headers)
    recorded = [e.details for e in env.registry.audit_events()[0]
                if e.event_name == "cleanup_policy_updated"]
    assert recorded == [{"older_than": "9d"}, {"keep_n_latest_versions": 4}]


def test_the_highest_release_pip_would_install_stays_too(env: Env) -> None:
    publish(env, "acme/tools", ("lib", "9.0"), ("lib", "10.0"), ("lib", "11.0rc1"),
            ("lib", "12.0"), ("lib", "12.1.dev3"))
    env.registry.yank("acme/tools", "lib", "12.0", reason="broken")
    for version in ("9.0", "10.0", "11.0rc1", "12.0"):
        age(env, "lib", version, 100)
    env.registry.set_cleanup_policy(env.public, older_than="30d")
    removed = env.registry.cleanup(env.public, dry_run=True)
    # 12.1.dev3 is the highest; 12.0 is yanked, so 10.0 is what pip installs: both stay.
    assert sorted(r.version for r in removed) == ["11.0rc1", "12.0", "9.0"]


def test_a_policy_cannot_be_set_on_a_project_deleted_meanwhile(env: Env) -> None:
    project = env.public
    env.registry.delete_namespace(project.path)
    with pytest.raises(pypireg.CatalogError, match="was deleted"):
        env.registry.set_cleanup_policy(project, keep_n_latest_versions=1)
