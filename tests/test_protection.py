"""Protected packages in GitLab's API shape: the rules' endpoints and their access, what a
rule refuses (pushes and deletes below its level, any deploy token's push), upstream
forwarding never reaching a protected or known name, and ``pypireg protect``."""

from __future__ import annotations

import pytest

import pypireg
from pypireg.cli import main

from .helpers import Env, basic

RULES = "/projects/acme%2Fteam%2Fsecret/packages/protection/rules"
SECRET = "acme/team/secret"


@pytest.fixture
def levels(env: Env) -> dict[str, str]:
    """A token of each GitLab level for acme/team/secret (the env's deleter, with delete on
    the group acme/team above it, is an owner)."""
    registry = env.registry
    return {
        "developer": env.writer,
        "maintainer": registry.create_token("maintainer", [f"{SECRET}:delete"]),
        "owner": env.deleter,
        "admin": registry.create_token("admin", ["*:admin"]),
        "deploy": registry.create_token("deploy", [f"{SECRET}:delete"], kind="deploy"),
    }


def add_rule(env: Env, token: str, status: int = 201, **fields):
    body = {"package_name_pattern": "acme-*", "package_type": "pypi", **fields}
    return env.app.post_json(RULES, body, headers=basic(token), status=status)


def push(env: Env, token: str, name: str = "acme-lib", version: str = "1.0",
         user: str = "someone") -> int:
    return env.upload_wheel(SECRET, name, version, token=token, user=user).status_int


# -- the endpoints ---------------------------------------------------------------------------


def test_create_list_update_and_delete(env: Env, levels) -> None:
    owner = levels["owner"]
    created = add_rule(env, owner, minimum_access_level_for_push="maintainer").json
    project_id = env.private.id
    assert created == {"id": created["id"], "project_id": project_id,
                       "package_name_pattern": "acme-*", "package_type": "pypi",
                       "minimum_access_level_for_push": "maintainer",
                       "minimum_access_level_for_delete": None}
    # A form body and the query string work as well; patterns are kept normalized.
    env.app.post(RULES, {"package_name_pattern": "Other_Lib", "package_type": "pypi",
                         "minimum_access_level_for_delete": "owner"},
                 headers=basic(owner), status=201)
    env.app.post(RULES + "?package_name_pattern=third.*&package_type=pypi"
                 "&minimum_access_level_for_push=admin", headers=basic(owner), status=201)
    listed = env.app.get(RULES, headers=basic(owner)).json
    assert [r["package_name_pattern"] for r in listed] == ["acme-*", "other-lib", "third-*"]
    url = f"{RULES}/{created['id']}"
    patched = env.app.patch_json(url, {"minimum_access_level_for_push": "owner",
                                       "minimum_access_level_for_delete": "admin"},
                                 headers=basic(owner)).json
    assert patched == {**created, "minimum_access_level_for_push": "owner",
                       "minimum_access_level_for_delete": "admin"}
    env.app.delete(url, headers=basic(owner), status=204)
    env.app.delete(url, headers=basic(owner), status=404)
    assert [r["id"] for r in env.app.get(RULES, headers=basic(owner)).json] == [
        r["id"] for r in listed[1:]]
    events, _ = env.registry.audit_events(path=SECRET)
    assert [e.event_name for e in events][:2] == ["package_protection_rule_deleted",
                                                  "package_protection_rule_updated"]
    assert sum(e.event_name == "package_protection_rule_created" for e in events) == 3


@pytest.mark.parametrize(("fields", "status", "says"), [
    ({"package_name_pattern": None}, 400, "package_name_pattern is missing"),
    ({"package_name_pattern": "acme lib"}, 400, "package_name_pattern is invalid"),
    ({"package_name_pattern": "***"}, 400, "package_name_pattern is invalid"),
    ({"package_name_pattern": "a" * 256}, 400, "package_name_pattern is invalid"),
    ({"package_name_pattern": ["acme"]}, 400, "package_name_pattern is invalid"),
    ({"package_type": "npm"}, 400, "package_type does not have a valid value"),
    ({"package_type": None}, 400, "package_type is missing"),
    ({"minimum_access_level_for_push": "developer"}, 400,
     "minimum_access_level_for_push does not have a valid value"),
    ({"minimum_access_level_for_delete": "maintainer"}, 400,
     "minimum_access_level_for_delete does not have a valid value"),
    ({"colour": "red", "minimum_access_level_for_push": "owner"}, 400,
     "colour is not a field of a rule"),
    ({}, 422, "a rule must set minimum_access_level_for_push or"),
])
def test_bad_rules_are_refused(env: Env, levels, fields, status, says) -> None:
    body = {"package_name_pattern": "acme-*", "package_type": "pypi", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    refused = env.app.post_json(RULES, body, headers=basic(levels["owner"]), status=status)
    assert says in refused.json["message"]
    assert env.app.get(RULES, headers=basic(levels["owner"])).json == []


def test_duplicates_and_unknown_rules(env: Env, levels) -> None:
    owner = levels["owner"]
    first = add_rule(env, owner, minimum_access_level_for_push="owner").json
    refused = add_rule(env, owner, 422, package_name_pattern="ACME_*",
                       minimum_access_level_for_push="admin")
    assert "has already been taken" in refused.json["message"]
    second = add_rule(env, owner, package_name_pattern="b",
                      minimum_access_level_for_push="admin").json
    env.app.patch_json(f"{RULES}/{second['id']}", {"package_name_pattern": "acme-*"},
                       headers=basic(owner), status=422)
    env.app.patch_json(f"{RULES}/{first['id']}", {"minimum_access_level_for_push": None},
                       headers=basic(owner), status=422)  # it would restrict nothing
    env.app.patch_json(f"{RULES}/999", {"package_type": "pypi"}, headers=basic(owner),
                       status=404)
    env.app.delete(f"{RULES}/abc", headers=basic(owner), status=400)
    # Another project's rule is not this project's.
    other = env.app.post_json("/projects/acme%2Fteam%2Fother/packages/protection/rules",
                              {"package_name_pattern": "x", "package_type": "pypi",
                               "minimum_access_level_for_push": "owner"},
                              headers=basic(owner), status=201).json
    env.app.delete(f"{RULES}/{other['id']}", headers=basic(owner), status=404)


def test_managing_rules_takes_the_maintainer_level(env: Env, levels) -> None:
    assert "WWW-Authenticate" in env.app.get(RULES, status=401).headers
    env.app.post_json(RULES, {}, status=401)
    env.app.get(RULES, headers=basic(env.outsider), status=404)
    for token in (env.reader, levels["developer"]):  # may read the project, not manage it
        env.app.get(RULES, headers=basic(token), status=403)
        add_rule(env, token, 403, minimum_access_level_for_push="owner")
    rule = add_rule(env, levels["maintainer"], minimum_access_level_for_push="owner").json
    env.app.delete(f"{RULES}/{rule['id']}", headers=basic(env.reader), status=403)
    env.app.delete(f"{RULES}/{rule['id']}", headers=basic(levels["admin"]), status=204)


# -- what a rule refuses ----------------------------------------------------------------------


@pytest.mark.parametrize("needed", ["maintainer", "owner", "admin"])
def test_pushes_below_the_rules_level_are_refused(env: Env, levels, needed) -> None:
    rule = add_rule(env, levels["admin"], minimum_access_level_for_push=needed).json
    order = ["developer", "maintainer", "owner", "admin"]
    for version, who in enumerate(order, 1):
        allowed = order.index(who) >= order.index(needed)
        response = env.upload_wheel(SECRET, "Acme.Lib", f"{version}.0", token=levels[who])
        assert response.status_int == (201 if allowed else 403), who
        if not allowed:
            assert response.status == (
                f"403 Forbidden - Package protected: acme-lib matches protection rule"
                f" {rule['id']} ('acme-*') of {SECRET}: to push it takes the {needed} level"
                " or above")
    # Names the rule does not match are pushed as before.
    assert push(env, levels["developer"], "other-lib") == 201


def test_deploy_tokens_never_push_a_protected_name(env: Env, levels) -> None:
    deploy = levels["deploy"]
    assert push(env, deploy, "acme-lib", "1.0", user="deploy") == 201  # not protected yet
    add_rule(env, levels["owner"], minimum_access_level_for_push="maintainer")
    response = env.upload_wheel(SECRET, "acme-lib", "2.0", token=deploy, user="deploy")
    assert response.status_int == 403 and "deploy tokens may not push it" in response.status
    assert push(env, deploy, "unprotected", "1.0", user="deploy") == 201
    assert push(env, levels["maintainer"], "acme-lib", "2.0") == 201


def test_deletes_below_the_rules_level_are_refused(env: Env, levels) -> None:
    assert push(env, levels["developer"], "acme-lib", "1.0") == 201
    add_rule(env, levels["admin"], minimum_access_level_for_delete="owner")
    package = env.app.get(f"/projects/{env.private.id}/packages",
                          headers=basic(levels["owner"])).json[0]
    url = f"/projects/{env.private.id}/packages/{package['id']}"
    files = env.app.get(url + "/package_files", headers=basic(levels["owner"])).json
    refused = env.app.delete(url, headers=basic(levels["maintainer"]), status=403)
    assert "to delete it takes the owner level or above" in refused.json["message"]
    env.app.delete(f"{url}/package_files/{files[0]['id']}", headers=basic(levels["maintainer"]),
                   status=403)
    # A push-only rule leaves deletes alone; the owner deletes.
    env.app.delete(url, headers=basic(levels["owner"]), status=204)


def test_protected_and_known_names_are_never_forwarded(tmp_path, catalog) -> None:
    registry = pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path),
                                  upstream="https://upstream.example/simple")
    env = Env(registry)
    page = "/projects/acme%2Ftools/packages/pypi/simple/{}/"
    forwarded = env.app.get(page.format("requests"), status=302)
    assert forwarded.headers["Location"] == "https://upstream.example/simple/requests/"
    registry.add_protection_rule(env.public, package_name_pattern="acme-*",
                                 package_type="pypi", minimum_access_level_for_push="owner")
    env.app.get(page.format("Acme_Private"), status=404)  # a private name's public twin
    # A name the project held (its only version deleted) is not forwarded either.
    env.upload_wheel("acme/tools", "gone", "1.0", token=env.writer, status=201)
    for package in registry.catalog.versions_named(env.public.id, "gone"):
        registry.delete_package(package)
    env.app.get(page.format("gone"), status=404)
    env.app.get("/groups/acme/-/packages/pypi/simple/acme-x/", status=404)
    assert env.app.get("/groups/acme/-/packages/pypi/simple/flask/", status=302)


def test_the_cli_adds_lists_and_removes(tmp_path, capsys) -> None:
    env = Env(pypireg.create_app(tmp_path))
    data = ["--data", str(tmp_path)]
    assert main(["protect", "add", "acme/tools", "Acme_*", "--push", "owner", *data]) == 0
    rule_id = int(capsys.readouterr().out.splitlines()[-1])
    assert env.upload_wheel("acme/tools", "acme-lib", "1.0", token=env.writer).status_int == 403
    assert main(["protect", "add", "acme/tools", "acme-*", "--push", "admin", *data]) == 1
    assert "has already been taken" in capsys.readouterr().err
    assert main(["protect", "list", "acme/tools", *data]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == [str(rule_id), "acme-*",
                                                               "owner", "-"]
    assert main(["protect", "remove", "acme/tools", str(rule_id), *data]) == 0
    capsys.readouterr()
    assert main(["protect", "list", "acme/tools", "--json", *data]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert env.upload_wheel("acme/tools", "acme-lib", "1.0", token=env.writer).status_int == 201
    events, _ = env.registry.audit_events(path="acme/tools")
    assert [e.author_name for e in events if "protection_rule" in e.event_name] == [
        "cli", "cli"]
