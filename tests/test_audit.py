"""The audit log: what each change records, who may read it, and how it pages."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from webtest import TestApp

import pypireg
from pypireg.models import CLI

from .helpers import API, Env, basic, run

AUDIT = "/projects/{project}/audit_events"


def events(env: Env, **scope) -> list[tuple[str, str, str | None]]:
    found, _ = env.registry.audit_events(**scope)
    return [(e.event_name, e.author_name, e.target_details) for e in reversed(found)]


def test_each_change_is_recorded_once_with_its_actor(env: Env) -> None:
    registry = env.registry
    setup = events(env)
    assert setup[:3] == [("group_created", "host", "acme"), ("group_created", "host",
                         "acme/team"), ("project_created", "host", "acme/tools")]
    assert [e[0] for e in setup].count("token_created") == 4
    start = len(setup)
    env.upload_wheel("acme/team/secret", "demo", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/team/secret", "demo", "1.0", token=env.writer, status=200)  # same
    package = registry.catalog.list_packages([env.private.id])[0][0]
    url = f"/projects/{env.private.id}/packages/{package.id}"
    env.app.put(f"{url}/yank", {"reason": "bad"}, headers=basic(env.deleter))
    env.app.put(f"{url}/yank", {"reason": "bad"}, headers=basic(env.deleter))  # no change
    env.app.delete(f"{url}/yank", headers=basic(env.deleter))
    registry.set_visibility("acme/tools", "private", actor=CLI)
    registry.set_visibility("acme/tools", "private", actor=CLI)  # no change
    env.app.delete(url, headers=basic(env.deleter), status=204)
    assert events(env)[start:] == [
        ("package_published", "writer", "demo-1.0-py3-none-any.whl"),
        ("package_yanked", "deleter", "demo 1.0"),
        ("package_unyanked", "deleter", "demo 1.0"),
        ("visibility_changed", "cli", "acme/tools"),
        ("package_deleted", "deleter", "demo 1.0"),
    ]
    latest, _ = registry.audit_events(limit=1)
    assert latest[0].author_class == "PersonalAccessToken" and latest[0].author_id
    assert latest[0].details == {"name": "demo", "version": "1.0"}


def test_token_events_belong_to_the_path_their_grants_name(env: Env) -> None:
    registry = env.registry
    record, _ = registry.issue_token("bot", ["acme/team/secret:read"], "deploy")
    registry.rotate_token(record.id)
    admin, _ = registry.issue_token("root", ["*:admin"])
    registry.revoke_token(admin.id)
    registry.revoke_token(admin.id)  # already revoked: nothing more to record
    in_project = events(env, project=env.private)
    assert in_project[-2:] == [("token_created", "host", "bot"), ("token_rotated", "host", "bot")]
    everything = events(env)
    assert everything[-2:] == [("token_created", "host", "root"),
                               ("token_revoked", "host", "root")]
    assert ("token_created", "host", "root") not in events(env, group=registry.catalog.group(
        "acme"))


def test_http_changes_record_the_client_address(env: Env) -> None:
    env.app.extra_environ = {"REMOTE_ADDR": "192.0.2.7"}
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    (event,), _ = env.registry.audit_events(limit=1)
    assert event.ip_address == "192.0.2.7" and event.author_name == "writer"
    assert event.entity_type == "Project" and event.entity_path == "acme/tools"
    assert event.details["sha256"] and event.details["size"] > 0


@pytest.mark.parametrize(("who", "status"), [
    (None, 401), ("reader", 403), ("writer", 403), ("outsider", 404), ("deleter", 200),
])
def test_project_audit_events_are_for_those_who_may_delete(env: Env, who, status) -> None:
    headers = basic(getattr(env, who)) if who else {}
    answer = env.app.get(AUDIT.format(project="acme%2Fteam%2Fsecret"), headers=headers,
                         status=status)
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
    if status == 200:
        assert {e["entity_path"] for e in (x["details"] for x in answer.json)} == {
            "acme/team/secret"}


def test_group_audit_events_show_what_the_caller_may_delete(env: Env) -> None:
    registry = env.registry
    whole = registry.create_token("owner", ["acme:delete"])
    part = registry.create_token("part", ["acme/team/other:delete"])
    url = "/groups/acme/audit_events?per_page=100"
    all_paths = {e["details"]["entity_path"] for e in env.app.get(url, headers=basic(whole)).json}
    assert {"acme", "acme/team", "acme/tools", "acme/team/secret"} <= all_paths
    partial = env.app.get(url, headers=basic(part)).json
    assert {e["details"]["entity_path"] for e in partial} == {"acme/team/other"}
    env.app.get(url, headers=basic(env.reader), status=403)
    env.app.get(url, status=401)
    env.app.get("/groups/acme%2Fteam/audit_events", headers=basic(
        registry.create_token("elsewhere", ["acme/tools:read"])), status=404)


def test_audit_events_page_and_filter_by_time(env: Env) -> None:
    token = env.registry.create_token("admin", ["*:admin"])
    url = "/groups/acme/audit_events"
    first = env.app.get(f"{url}?per_page=2", headers=basic(token))
    total = int(first.headers["X-Total"])
    assert len(first.json) == 2 and total > 2 and first.headers["X-Next-Page"] == "2"
    ids = [e["id"] for e in first.json]
    assert ids == sorted(ids, reverse=True)  # newest first
    second = env.app.get(f"{url}?per_page=2&page=2", headers=basic(token)).json
    assert second[0]["id"] < ids[-1]
    newest = first.json[0]["created_at"]
    assert env.app.get(f"{url}?created_after={newest}", headers=basic(token)).json[0][
        "id"] == ids[0]
    assert env.app.get(f"{url}?created_before=2000-01-01", headers=basic(token)).json == []
    bad = env.app.get(f"{url}?created_after=yesterday", headers=basic(token), status=400)
    assert "created_after is invalid" in bad.json["message"]


def test_audit_command(tmp_path, capsys) -> None:
    data = str(tmp_path / "d")
    run(capsys, "init", "--data", data)
    run(capsys, "group", "create", "acme", "--data", data)
    run(capsys, "project", "create", "acme/tools", "--data", data)
    run(capsys, "project", "create", "other", "--data", data)
    code, out, _ = run(capsys, "audit", "--data", data)
    assert code == 0 and out[0].split() == ["ID", "TIME", "ACTOR", "ADDRESS", "ACTION", "IN",
                                           "TARGET"]
    assert [line.split()[4] for line in out[1:]] == ["project_created", "project_created",
                                                     "group_created"]
    code, out, _ = run(capsys, "audit", "--project", "acme/tools", "--json", "--data", data)
    (only,) = json.loads("\n".join(out))
    assert only["event_name"] == "project_created" and only["details"]["author_name"] == "cli"
    _, out, _ = run(capsys, "audit", "--group", "acme", "--since", "1h", "--data", data)
    assert len(out) == 3
    _, out, _ = run(capsys, "audit", "--since", "2999-01-01", "--data", data)
    assert len(out) == 1  # the header alone
    _, out, _ = run(capsys, "audit", "--limit", "1", "--data", data)
    assert out[-1] == "... and 2 older (--limit, or the HTTP API, for more)"
    code, _, err = run(capsys, "audit", "--since", "last week", "--data", data)
    assert code == 1 and "--since 'last week' must be" in err


def test_audit_events_survive_the_deletion_of_their_project(env: Env) -> None:
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    env.registry.delete_namespace("acme/tools", force=True)
    env.registry.collect_garbage()
    assert env.registry.catalog.project("acme/tools") is None
    kept = [e for e in env.registry.audit_events()[0] if e.entity_path == "acme/tools"]
    assert [e.event_name for e in kept] == ["project_deleted", "package_published",
                                            "project_created"]
    assert kept[0].details == {"packages": 1}


def test_an_upload_and_its_audit_row_commit_together(env: Env, monkeypatch) -> None:
    """If recording fails, the upload fails with it: no change goes unrecorded."""
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(env.registry.catalog, "record_event", broken)
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=500)
    monkeypatch.undo()
    assert env.app.get(API.format(project="acme/tools") + "/simple/demo/", status=404)
    assert env.registry.storage.keys() == []  # type: ignore[attr-defined]


def test_the_python_api_names_the_host_unless_told(env: Env) -> None:
    registry: pypireg.Registry = env.registry
    registry.create_project("acme/extra", "public", actor=pypireg.Actor("deploy-script"))
    (event,), _ = registry.audit_events(limit=1)
    assert (event.author_name, event.author_class) == ("deploy-script", "User")


def test_ids_are_never_given_twice(env: Env) -> None:
    """A project (or package) deleted for good leaves its id unused, so its audit events
    and ETags never name the next one."""
    registry = env.registry
    last = registry.create_project("acme/last", "public")
    env.upload_wheel("acme/last", "demo", "1.0", token=env.writer, status=201)
    old_package = registry.catalog.list_packages([last.id])[0][0]
    page = API.format(project=str(last.id)) + "/simple/demo/"
    old_etag = env.app.get(page).headers["ETag"]
    registry.delete_namespace("acme/last", force=True)
    registry.collect_garbage()
    again = registry.create_project("acme/last", "public")
    assert again.id > last.id
    env.upload_wheel("acme/last", "demo", "1.0", token=env.writer, status=201)
    assert registry.catalog.list_packages([again.id])[0][0].id > old_package.id
    owner = registry.create_token("owner", ["acme:delete"])
    events = env.app.get(AUDIT.format(project=again.id), headers=basic(owner)).json
    assert [e["event_name"] for e in events] == ["package_published", "project_created"]
    fresh = env.app.get(API.format(project="acme/last") + "/simple/demo/",
                        headers={"If-None-Match": old_etag})
    assert fresh.status_int == 200


def test_an_upload_into_a_project_deleted_meanwhile_is_refused(env: Env, monkeypatch) -> None:
    from pypireg import forms

    parse = forms.parse_upload

    def deleting(*args, **kwargs):
        form = parse(*args, **kwargs)
        env.registry.delete_namespace("acme/tools")  # while the body was arriving
        return form

    monkeypatch.setattr(forms, "parse_upload", deleting)
    answer = env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=404)
    assert answer.json == {"message": "404 Project Not Found"}
    monkeypatch.undo()
    assert env.registry.collect_garbage().namespaces == 1
    assert list(env.registry.storage.keys()) == []  # type: ignore[attr-defined]


class PerProjectAuth:
    """A host's provider that knows projects only (no PermitsGroups)."""

    def __init__(self, deletes: set[str]) -> None:
        self.deletes = deletes

    def authenticate(self, request):
        user = request.headers.get("X-User")
        return pypireg.Principal(user) if user else None

    def permits(self, principal, action, project):
        if action == "read" and project.is_public:
            return True
        return principal is not None and project.path in self.deletes


def test_without_group_rights_a_group_log_shows_deletable_projects_only(tmp_path) -> None:
    registry = pypireg.create_app(auth=PerProjectAuth({"hr/payroll"}),
                                  staging_dir=str(tmp_path))
    registry.create_group("hr", "public")
    registry.create_project("hr/payroll", "public")
    registry.create_project("hr/salaries", "public")
    registry.create_token("ceo-only", ["hr/salaries:read"])
    registry.delete_namespace("hr/salaries")  # all deletable projects left: payroll alone
    events = TestApp(registry).get("/groups/hr/audit_events", headers={"X-User": "intern"}
                                   ).json
    assert {e["details"]["entity_path"] for e in events} == {"hr/payroll"}


def test_an_owner_reads_the_log_of_a_group_with_no_project_yet(env: Env) -> None:
    env.registry.create_group("newteam", "private")
    owner = env.registry.create_token("owner", ["newteam:delete"])
    events = env.app.get("/groups/newteam/audit_events", headers=basic(owner)).json
    assert [e["event_name"] for e in events] == ["token_created", "group_created"]
    env.app.get("/groups/newteam/audit_events", headers=basic(env.writer), status=404)


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-02:00", "0001-01-01T00:00:00+01:00"])
def test_times_out_of_range_are_a_400(env: Env, when) -> None:
    admin = env.registry.create_token("admin", ["*:admin"])
    answer = env.app.get(f"/groups/acme/audit_events?created_after={quote(when)}",
                         headers=basic(admin), status=400)
    assert "created_after is invalid" in answer.json["message"]
    env.app.post("/personal_access_tokens", {"name": "x", "grants": "acme:read",
                                             "expires_at": when}, headers=basic(admin),
                 status=400)


def test_audit_of_a_deleted_project_from_the_command_line(tmp_path, capsys) -> None:
    data = str(tmp_path / "d")
    run(capsys, "init", "--data", data)
    run(capsys, "project", "create", "gone", "--data", data)
    run(capsys, "project", "delete", "gone", "--data", data)
    run(capsys, "gc", "--data", data)
    code, out, _ = run(capsys, "audit", "--project", "gone", "--data", data)
    assert code == 0 and [line.split()[4] for line in out[1:]] == ["project_deleted",
                                                                  "project_created"]
    code, _, err = run(capsys, "audit", "--project", "never", "--data", data)
    assert code == 1 and "no project 'never'" in err
    for argv in (["--since", "999999w"], ["--limit", "99999999999999999999"]):
        code, _, err = run(capsys, "audit", *argv, "--data", data)
        assert code == 1 and err.startswith("pypireg: error:")
