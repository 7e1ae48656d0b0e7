"""Who may do what: TokenAuth's credential forms and GitLab's 401 / 403 / 404 answers."""

from __future__ import annotations

import pytest

import pypireg

from .helpers import API, Env, basic

SIMPLE = API + "/simple/"


def test_public_project_is_readable_anonymously(env: Env) -> None:
    env.app.get(SIMPLE.format(project="acme/tools"), status=200)


def test_bad_credentials_on_public_project_read_as_anonymous(env: Env) -> None:
    env.app.get(SIMPLE.format(project="acme/tools"), headers=basic("pypireg-wrong"), status=200)


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "401 Unauthorized"),
    # A secret that never existed learns nothing beyond "not valid", whatever its shape.
    (basic("pypireg-wrong"), "401 Unauthorized - the token is not valid"),
    (basic("not-even-a-token"), "401 Unauthorized - the token is not valid"),
    ({"PRIVATE-TOKEN": "pypireg-wrong"}, "401 Unauthorized - the token is not valid"),
])
def test_private_project_anonymous_or_bad_token_is_401_with_challenge(
    env: Env, headers: dict, message: str
) -> None:
    response = env.app.get(SIMPLE.format(project="acme/team/secret"), headers=headers, status=401)
    assert response.json == {"message": message}
    assert response.status == message  # twine and pip print the status line
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pypireg"'


def test_a_401_says_why_a_real_token_was_refused(env: Env) -> None:
    registry = env.registry
    page = SIMPLE.format(project="acme/team/secret")
    expired = registry.create_token("old", ["acme/team/secret:read"],
                                    expires_at="2099-01-01T00:00:00.000Z")
    with registry.catalog.write():  # as if time had passed
        registry.catalog.run("UPDATE tokens SET expires_at = ? WHERE name = 'old'",
                             ["2026-01-01T00:00:00.000Z"])
    answer = env.app.get(page, headers=basic(expired), status=401)
    assert answer.json["message"] == (
        "401 Unauthorized - the token expired at 2026-01-01T00:00:00.000Z: create a new one"
        " (or rotate tokens before they expire)")
    revoked = registry.create_token("gone", ["acme/team/secret:read"])
    registry.revoke_token(next(t.id for t in registry.list_tokens() if t.name == "gone"))
    assert env.app.get(page, headers=basic(revoked), status=401).json["message"] == (
        "401 Unauthorized - the token was revoked: create a new one")
    deploy = registry.create_token("deployer", ["acme/team/secret:read"], kind="deploy")
    assert env.app.get(page, headers=basic(deploy, "someone"), status=401).json[
        "message"].endswith("a deploy token signs in with its own name as the username:"
                            " 'deployer'")
    env.app.get(page, headers=basic(deploy, "deployer"), status=200)


def test_private_project_without_access_is_404(env: Env) -> None:
    response = env.app.get(
        SIMPLE.format(project="acme/team/secret"), headers=basic(env.outsider), status=404
    )
    assert response.json == {"message": "404 Project Not Found"}


def test_unknown_project_is_404_for_anyone(env: Env) -> None:
    env.app.get(SIMPLE.format(project="acme/missing"), status=404)
    env.app.get(SIMPLE.format(project="4242"), headers=basic(env.writer), status=404)


@pytest.mark.parametrize("token", ["reader", "writer", "deleter"])
def test_grants_on_project_or_ancestor_group_allow_reading(env: Env, token: str) -> None:
    env.app.get(
        SIMPLE.format(project="acme/team/secret"), headers=basic(getattr(env, token)), status=200
    )


def test_read_only_token_uploading_is_403_naming_the_access_needed(env: Env) -> None:
    response = env.upload_wheel("acme/team/secret", "pkg", "1.0", token=env.reader)
    assert response.status_int == 403
    assert response.json == {"message": "403 Forbidden - this needs write access to"
                             " acme/team/secret, which the credentials sent do not have"}


def test_anonymous_upload_is_401_even_on_public_project(env: Env) -> None:
    response = env.upload_wheel("acme/tools", "pkg", "1.0")
    assert response.status_int == 401
    assert "WWW-Authenticate" in response.headers


def test_upload_without_access_to_private_project_is_404(env: Env) -> None:
    assert env.upload_wheel("acme/team/secret", "pkg", "1.0", token=env.outsider).status_int == 404


def test_read_only_token_on_public_project_upload_is_403(env: Env) -> None:
    token = env.registry.create_token("public-reader", ["acme/tools:read"])
    assert env.upload_wheel("acme/tools", "pkg", "1.0", token=token).status_int == 403


def test_write_and_delete_grants_allow_upload(env: Env) -> None:
    env.upload_wheel("acme/team/secret", "pkg", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/team/secret", "pkg", "2.0", token=env.deleter, status=201)


def test_grant_on_group_does_not_reach_a_sibling_with_a_common_prefix(env: Env) -> None:
    env.registry.create_project("acme/team-b", "private")
    token = env.registry.create_token("team", ["acme/team:read"])
    env.app.get(SIMPLE.format(project="acme/team-b"), headers=basic(token), status=404)


def test_paths_are_case_insensitive(env: Env) -> None:
    env.app.get(SIMPLE.format(project="ACME/Team/Secret"), headers=basic(env.reader), status=200)


# -- credential forms -------------------------------------------------------------------------


def grant_private(env: Env, kind: str, name: str = "t") -> str:
    return env.registry.create_token(name, ["acme/team/secret:read"], kind)


@pytest.mark.parametrize("username", ["anything", "__token__", ""])
def test_personal_token_takes_any_basic_username(env: Env, username: str) -> None:
    token = grant_private(env, "personal")
    env.app.get(
        SIMPLE.format(project="acme/team/secret"), headers=basic(token, username), status=200
    )


def test_deploy_token_needs_its_own_name_as_username(env: Env) -> None:
    token = grant_private(env, "deploy", name="deployer")
    url = SIMPLE.format(project="acme/team/secret")
    env.app.get(url, headers=basic(token, "deployer"), status=200)
    env.app.get(url, headers=basic(token, "someone-else"), status=401)


def test_job_token_needs_gitlab_ci_token_username(env: Env) -> None:
    token = grant_private(env, "job")
    url = SIMPLE.format(project="acme/team/secret")
    env.app.get(url, headers=basic(token, "gitlab-ci-token"), status=200)
    env.app.get(url, headers=basic(token, "someone"), status=401)


@pytest.mark.parametrize(
    ("kind", "header", "ok"),
    [
        ("personal", "PRIVATE-TOKEN", True),
        ("deploy", "PRIVATE-TOKEN", True),
        ("job", "PRIVATE-TOKEN", False),
        ("job", "JOB-TOKEN", True),
        ("personal", "JOB-TOKEN", False),
    ],
)
def test_token_headers(env: Env, kind: str, header: str, ok: bool) -> None:
    token = grant_private(env, kind)
    env.app.get(
        SIMPLE.format(project="acme/team/secret"), headers={header: token},
        status=200 if ok else 401,
    )


@pytest.mark.parametrize("kind", ["personal", "deploy", "job"])
def test_bearer_takes_any_kind(env: Env, kind: str) -> None:
    token = grant_private(env, kind)
    env.app.get(
        SIMPLE.format(project="acme/team/secret"),
        headers={"Authorization": f"Bearer {token}"}, status=200,
    )


def test_tokens_are_stored_hashed(env: Env) -> None:
    token = grant_private(env, "personal", name="hashed")
    rows = env.registry.catalog.rows("SELECT * FROM tokens WHERE name = 'hashed'")
    assert len(rows) == 1
    assert token not in str(rows[0])


def test_token_creation_refuses_bad_requests(env: Env) -> None:
    with pytest.raises(pypireg.auth.InvalidGrant, match="no group or project"):
        env.registry.create_token("x", ["nowhere:read"])
    with pytest.raises(pypireg.auth.InvalidGrant, match="must look like PATH:ACCESS"):
        env.registry.create_token("x", ["acme:owner"])
    with pytest.raises(pypireg.auth.InvalidGrant, match="use '\\*:admin'"):
        env.registry.create_token("x", ["acme:admin"])
    with pytest.raises(pypireg.auth.InvalidGrant, match="kind"):
        env.registry.create_token("x", ["acme:read"], kind="robot")
    with pytest.raises(pypireg.auth.InvalidGrant, match="at least one grant"):
        env.registry.create_token("x", [])


class HeaderAuth:
    """A host's own provider: trusts an X-User header set by a front proxy."""

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        user = request.headers.get("X-User")
        return pypireg.Principal(user) if user else None

    def permits(self, principal, action, project):  # type: ignore[no-untyped-def]
        if action == "read" and project.is_public:
            return True
        return principal is not None and principal.name == "alice"


def test_a_host_auth_provider_replaces_tokens(tmp_path) -> None:
    env = Env(pypireg.create_app(auth=HeaderAuth(), staging_dir=str(tmp_path)))
    url = SIMPLE.format(project="acme/team/secret")
    env.app.get(url, headers={"X-User": "alice"}, status=200)
    env.app.get(url, headers={"X-User": "bob"}, status=404)
    env.app.get(url, status=401)
    # Tokens mean nothing to this provider.
    env.app.get(url, headers=basic(env.writer), status=401)
    assert isinstance(HeaderAuth(), pypireg.AuthProvider)


def test_access_is_decided_in_access_py_alone() -> None:
    """Only pypireg/access.py asks the auth provider what a caller may do or makes the
    refusals of access; a view or a page that did so itself could answer otherwise."""
    import re
    from pathlib import Path

    asks = re.compile(r"(?<!access)\.permits(_group)?\(|\.authenticate\(|unauthorized\(\w+\.realm"
                      r"|only an administrator|needs an administrator")
    root = Path(pypireg.__file__).parent
    offenders = [str(path.relative_to(root)) for path in sorted(root.rglob("*.py"))
                 if path.name != "access.py" and "auth" not in path.parts
                 and path.name != "protocols.py" and path.name != "testing.py"
                 and asks.search(path.read_text())]
    assert offenders == []
