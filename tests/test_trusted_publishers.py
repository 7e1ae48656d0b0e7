"""Trusted publishing's rows in the catalog (pypireg/catalog/publishers.py), on each
engine: the publishers a project trusts, and identity tokens accepted once, whichever
process or host is asked."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import pypireg
from pypireg.times import stamp


def _in(minutes: float) -> str:
    return stamp(datetime.now(timezone.utc) + timedelta(minutes=minutes))


def test_publishers_are_kept_per_project_and_found_by_issuer(catalog) -> None:
    registry = pypireg.create_app(catalog=catalog)
    registry.create_group("acme", "public")
    tools = registry.create_project("acme/tools", "public")
    docs = registry.create_project("acme/docs", "public")
    first = catalog.add_trusted_publisher(
        tools.id, "github", "https://token.actions.githubusercontent.com",
        {"repository": "acme/tools", "workflow": "release.yml", "environment": ""}, {})
    second = catalog.add_trusted_publisher(
        tools.id, "oidc", "https://buildkite.com",
        {}, {"organization_slug": "acme", "pipeline_slug": "release"})
    third = catalog.add_trusted_publisher(
        docs.id, "github", "https://token.actions.githubusercontent.com",
        {"repository": "acme/docs", "workflow": "docs.yml"}, {})
    assert [p.id for p in catalog.trusted_publishers(tools.id)] == [first.id, second.id]
    assert first.repository == "acme/tools" and first.environment == ""
    assert first.created_at and first.claims == {}
    assert second.claims == {"organization_slug": "acme", "pipeline_slug": "release"}
    assert catalog.trusted_publisher(docs.id, first.id) is None  # another project's
    github = "https://token.actions.githubusercontent.com"
    assert [p.id for p in catalog.publishers_of_issuer(github)] == [first.id, third.id]
    registry.delete_namespace("acme/docs")
    assert [p.id for p in catalog.publishers_of_issuer(github)] == [first.id]
    catalog.delete_trusted_publisher(second)
    assert catalog.trusted_publishers(tools.id) == [first]
    again = catalog.add_trusted_publisher(tools.id, "oidc", "https://buildkite.com", {},
                                          {"pipeline_slug": "release"})
    assert again.id > third.id  # a deleted publisher's id is never given again


def test_an_identity_token_is_accepted_once_until_it_expires(catalog) -> None:
    assert catalog.spend_identity_token("https://issuer jti:1", _in(5)) is True
    assert catalog.spend_identity_token("https://issuer jti:1", _in(5)) is False
    assert catalog.spend_identity_token("https://other jti:1", _in(5)) is True
    assert catalog.spend_identity_token("https://issuer jti:2", _in(-1)) is True
    # an expired one is forgotten: its token is refused by its own expiry by then
    assert catalog.spend_identity_token("https://issuer jti:2", _in(5)) is True


def test_two_catalogs_on_one_file_accept_a_token_once(tmp_path) -> None:
    one = pypireg.Catalog(str(tmp_path / "catalog.db"))
    two = pypireg.Catalog(str(tmp_path / "catalog.db"))
    assert one.spend_identity_token("https://issuer jti:shared", _in(5)) is True
    assert two.spend_identity_token("https://issuer jti:shared", _in(5)) is False


def test_two_hosts_on_one_postgresql_accept_a_token_once(postgres_server) -> None:
    from pypireg.catalog.postgres import PostgresEngine

    with postgres_server.database(postgres_server.template) as url:
        engines = [PostgresEngine(url, max_connections=2) for _ in range(2)]
        try:
            one, two = (pypireg.Catalog(engine=engine) for engine in engines)
            assert one.spend_identity_token("https://issuer jti:shared", _in(5)) is True
            assert two.spend_identity_token("https://issuer jti:shared", _in(5)) is False
        finally:
            for engine in engines:
                engine.close()


# -- the API and the Registry's methods --------------------------------------------------

PUBLISHERS = "/projects/acme%2Fteam%2Fsecret/packages/pypi/trusted_publishers"


def test_maintainers_add_list_show_and_remove_publishers(env) -> None:
    from .helpers import basic

    github = {"kind": "github", "repository": "acme/secret", "workflow": "release.yml",
              "environment": "pypi"}
    made = env.app.post_json(PUBLISHERS, github, headers=basic(env.deleter), status=201).json
    assert made["kind"] == "github"
    assert made["issuer"] == "https://token.actions.githubusercontent.com"
    assert (made["repository"], made["workflow"], made["environment"]) == (
        "acme/secret", "release.yml", "pypi")
    assert made["project_path"] is None and made["claims"] == {} and made["created_at"]
    assert made["repository_owner_id"] is None
    gitlab = env.app.post_json(PUBLISHERS, {
        "kind": "gitlab", "project_path": "acme/secret", "ci_config_path": "ci/release.yml"},
        headers=basic(env.deleter), status=201).json
    assert gitlab["issuer"] == "https://gitlab.com" and gitlab["environment"] is None
    oidc = env.app.post_json(PUBLISHERS, {
        "kind": "oidc", "issuer": "https://agent.buildkite.com",
        "claims": {"organization_slug": "acme", "pipeline_slug": "release"}},
        headers=basic(env.deleter), status=201).json
    assert oidc["claims"] == {"organization_slug": "acme", "pipeline_slug": "release"}
    listed = env.app.get(PUBLISHERS, headers=basic(env.deleter)).json
    assert [p["id"] for p in listed] == [made["id"], gitlab["id"], oidc["id"]]
    shown = env.app.get(f"{PUBLISHERS}/{made['id']}", headers=basic(env.deleter)).json
    assert shown == made
    env.app.delete(f"{PUBLISHERS}/{gitlab['id']}", headers=basic(env.deleter), status=204)
    env.app.get(f"{PUBLISHERS}/{gitlab['id']}", headers=basic(env.deleter), status=404)
    env.app.delete(f"{PUBLISHERS}/{gitlab['id']}", headers=basic(env.deleter), status=404)
    env.app.get(f"{PUBLISHERS}/x", headers=basic(env.deleter), status=400)
    events = [e["event_name"] for e in env.app.get(
        "/projects/acme%2Fteam%2Fsecret/audit_events", headers=basic(env.deleter)).json]
    assert events.count("trusted_publisher_created") == 3
    assert events.count("trusted_publisher_deleted") == 1


def test_who_may_see_and_change_publishers(env) -> None:
    from .helpers import basic

    body = {"kind": "github", "repository": "acme/secret", "workflow": "release.yml"}
    anonymous = env.app.get(PUBLISHERS, status=401)
    assert "WWW-Authenticate" in anonymous.headers
    env.app.get(PUBLISHERS, headers=basic(env.reader), status=403)
    env.app.post_json(PUBLISHERS, body, headers=basic(env.writer), status=403)
    env.app.post_json(PUBLISHERS, body, headers=basic(env.outsider), status=404)
    assert env.registry.publishers(env.private) == []


@pytest.mark.parametrize("body, words", [
    ({"kind": "bitbucket"}, "kind must be one of github, gitlab, oidc"),
    ({"kind": "github", "repository": "acme/secret"}, "workflow is missing"),
    ({"kind": "github", "repository": "acme", "workflow": "r.yml"}, "repository is invalid"),
    ({"kind": "github", "repository": "a/b", "workflow": "../r.yml"}, "workflow is invalid"),
    ({"kind": "github", "repository": "a/b", "workflow": "r.yml", "issuer": "https://x.org"},
     "issuer of a github publisher is https://token.actions.githubusercontent.com"),
    ({"kind": "github", "repository": "a/b", "workflow": "r.yml", "project_path": "a/b"},
     "project_path is not a field of a github publisher"),
    ({"kind": "gitlab", "project_path": "acme/secret", "ci_config_path": "../x.yml"},
     "ci_config_path is invalid"),
    ({"kind": "gitlab", "project_path": "acme/secret", "ci_config_path": "x.yml",
      "issuer": "http://gitlab.example.com"}, "issuer is invalid"),
    ({"kind": "oidc", "issuer": "https://idp.example.com"}, "claims is missing"),
    ({"kind": "oidc", "issuer": "https://idp.example.com", "claims": {"aud": "x"}},
     "aud is checked for every token"),
    ({"kind": "oidc", "issuer": "https://idp.example.com", "claims": {"sub": 1}},
     "the value of sub must be a string"),
    ({"kind": "oidc", "issuer": "https://u:p@idp.example.com", "claims": {"sub": "x"}},
     "issuer is invalid"),
    ({"kind": "oidc", "claims": {"sub": "x"}}, "issuer is missing"),
    ({"kind": "oidc", "issuer": "https://token.actions.githubusercontent.com",
      "claims": {"repository": "acme/secret"}}, "takes a publisher of kind github"),
    ({"kind": "oidc", "issuer": "https://GitLab.com", "claims": {"sub": "x"}},
     "takes a publisher of kind gitlab"),
    ({"kind": "oidc", "issuer": "https://idp.example.com:99999", "claims": {"sub": "x"}},
     "issuer is invalid"),
    ({"kind": "oidc", "issuer": "https://idp.example.com:abc", "claims": {"sub": "x"}},
     "issuer is invalid"),
    ({"kind": "oidc", "issuer": "https://idp .example.com", "claims": {"sub": "x"}},
     "issuer is invalid"),
    ({"kind": "github", "repository": "acme/..", "workflow": "r.yml"}, "repository is invalid"),
    ({"kind": "gitlab", "project_path": "acme/secret", "ci_config_path": "./x.yml"},
     "ci_config_path is invalid"),
    ({"kind": "github", "owner": "acme"}, "owner is not a field of a trusted publisher"),
])
def test_a_bad_publisher_is_a_400_that_says_why(env, body, words) -> None:
    from .helpers import basic

    answer = env.app.post_json(PUBLISHERS, body, headers=basic(env.deleter), status=400)
    assert words in answer.json["message"], answer.json
    assert env.registry.publishers(env.private) == []


def test_the_same_publisher_twice_is_a_409(env) -> None:
    from .helpers import basic

    body = {"kind": "gitlab", "project_path": "acme/secret", "ci_config_path": ".gitlab-ci.yml"}
    first = env.app.post_json(PUBLISHERS, body, headers=basic(env.deleter), status=201).json
    again = env.app.post_json(PUBLISHERS, {**body, "project_path": "ACME/Secret"},
                              headers=basic(env.deleter), status=409).json
    assert f"id {first['id']}" in again["message"]
    other = {**body, "environment": "production"}  # another environment is another one
    env.app.post_json(PUBLISHERS, other, headers=basic(env.deleter), status=201)


# -- the command line -------------------------------------------------------------------


def test_the_publisher_commands(tmp_path, capsys) -> None:
    from .helpers import run

    data = str(tmp_path / "data")
    registry = pypireg.create_app(data)
    registry.create_group("acme", "public")
    registry.create_project("acme/tools", "public")
    code, out, err = run(capsys, "publisher", "add", "acme/tools", "--kind", "github",
                         "--repository", "acme/tools", "--workflow", "release.yml",
                         "--environment", "pypi", "--data", data)
    assert code == 0, err
    github = int(out[-1])
    assert "acme/tools trusts github acme/tools release.yml environment pypi" in out[0]
    code, out, err = run(capsys, "publisher", "add", "acme/tools", "--kind", "oidc",
                         "--issuer", "https://agent.buildkite.com",
                         "--claim", "organization_slug=acme", "--claim", "pipeline_slug=release",
                         "--data", data)
    assert code == 0, err
    oidc = int(out[-1])
    code, out, err = run(capsys, "publisher", "list", "acme/tools", "--json", "--data", data)
    listed = json.loads("\n".join(out))
    assert [p["id"] for p in listed] == [github, oidc]
    assert listed[1]["claims"] == {"organization_slug": "acme", "pipeline_slug": "release"}
    code, out, err = run(capsys, "publisher", "list", "acme/tools", "--data", data)
    assert out[0].split() == ["ID", "KIND", "PUBLISHER", "CREATED"] and len(out) == 3
    code, out, err = run(capsys, "publisher", "remove", "acme/tools", str(github),
                         "--data", data)
    assert code == 0 and "no longer trusts github acme/tools" in out[0]
    code, out, err = run(capsys, "publisher", "add", "acme/tools", "--kind", "gitlab",
                         "--project-path", "acme/tools", "--data", data)
    assert code == 1 and "ci_config_path is missing" in err
    code, out, err = run(capsys, "publisher", "add", "acme/tools", "--kind", "oidc",
                         "--issuer", "https://idp.example.com", "--claim", "sub", "--data", data)
    assert code == 1 and "give NAME=VALUE" in err
    code, out, err = run(capsys, "publisher", "remove", "acme/tools", str(github),
                         "--data", data)
    assert code == 1 and f"no trusted publisher {github}" in err
    assert [p.id for p in pypireg.create_app(data).publishers(
        registry.catalog.project("acme/tools"))] == [oidc]


def test_an_issuer_is_kept_as_tokens_name_it(env) -> None:
    made = env.registry.add_publisher(
        env.private, kind="oidc", issuer="HTTPS://IdP.Example.com:8443/tenant/",
        claims={"sub": "ci"})
    assert made.issuer == "https://idp.example.com:8443/tenant/"  # its path as given


def test_a_project_trusts_at_most_twenty_publishers(env) -> None:
    from pypireg.publishing import MAX_PUBLISHERS, InvalidPublisher

    for number in range(MAX_PUBLISHERS):
        env.registry.add_publisher(env.private, kind="github", repository="acme/secret",
                                   workflow=f"release{number}.yml")
    with pytest.raises(InvalidPublisher, match="remove one first"):
        env.registry.add_publisher(env.private, kind="github", repository="acme/secret",
                                   workflow="one-more.yml")
