"""Tokens over their life: expiry, revocation, rotation, last use; the CLI and HTTP forms."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from webtest import TestApp

import pypireg
from pypireg.auth import expiry

from .distributions import wheel_bytes, wheel_name
from .helpers import API, basic, run

PRIVATE = API.format(project="acme%2Fsecret") + "/simple/"
PUBLIC = API.format(project="acme%2Ftools") + "/simple/"


@pytest.fixture
def registry(tmp_path) -> pypireg.Registry:
    registry = pypireg.create_app(tmp_path / "data")
    registry.create_group("acme", "public")
    registry.create_project("acme/tools", "public")
    registry.create_project("acme/secret", "private")
    return registry


def past(seconds: int = 1) -> str:
    when = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expire_now(registry: pypireg.Registry, token_id: int) -> None:
    """What time passing would do: the catalog's expiry moves into the past."""
    registry.catalog.run("UPDATE tokens SET expires_at = ? WHERE id = ?",
                                [past(), token_id])


@pytest.mark.parametrize("ending", ["revoked", "expired", "rotated out"])
def test_a_dead_token_reads_as_bad_credentials(registry, ending: str) -> None:
    record, secret = registry.issue_token("ci", ["acme:read"])
    app = TestApp(registry)
    app.get(PRIVATE, headers=basic(secret), status=200)
    if ending == "revoked":
        registry.revoke_token(record.id)
    elif ending == "expired":
        expire_now(registry, record.id)
    else:
        _, new = registry.rotate_token(record.id)
        app.get(PRIVATE, headers=basic(new), status=200)
    response = app.get(PRIVATE, headers=basic(secret), status=401)
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    app.get(PUBLIC, headers=basic(secret), status=200)  # anonymous may read a public one
    assert app.get(PUBLIC, headers=basic(secret)).headers["Cache-Control"].startswith("public")


def test_last_used_at_is_written_at_most_once_a_minute(registry) -> None:
    record, secret = registry.issue_token("ci", ["acme:read"])
    assert record.last_used_at is None
    app = TestApp(registry)
    app.get(PRIVATE, headers=basic(secret))
    first = registry.list_tokens()[0].last_used_at
    assert first is not None
    writes = []
    registry.catalog.touch_token = lambda *a: writes.append(a)  # type: ignore[method-assign]
    for _ in range(5):
        app.get(PRIVATE, headers=basic(secret))
    assert writes == []  # within the minute: no write
    registry.catalog.run("UPDATE tokens SET last_used_at = ?", [past(61)])
    app.get(PRIVATE, headers=basic(secret))
    assert len(writes) == 1


def test_expiry_spellings() -> None:
    assert expiry(expires_at="2027-01-31") == "2027-01-31T00:00:00.000Z"
    assert expiry(expires_at="2027-01-31T12:30:00+01:00") == "2027-01-31T11:30:00.000Z"
    soon = datetime.fromisoformat(expiry(expires_in="30d").replace("Z", "+00:00"))
    assert timedelta(days=29, hours=23) < soon - datetime.now(timezone.utc) <= timedelta(days=30)
    for bad in ("30", "0d", "3y", "soon"):
        with pytest.raises(pypireg.auth.InvalidGrant, match="must look like 12h, 30d or 8w"):
            expiry(expires_in=bad)
    with pytest.raises(pypireg.auth.InvalidGrant, match="must be a date"):
        expiry(expires_at="next tuesday")


def test_a_token_cannot_be_made_already_expired(registry) -> None:
    with pytest.raises(pypireg.auth.InvalidGrant, match="not in the future"):
        registry.create_token("x", ["acme:read"], expires_at=past())


def test_only_active_tokens_rotate(registry) -> None:
    record, _ = registry.issue_token("ci", ["acme:read"])
    registry.revoke_token(record.id)
    with pytest.raises(pypireg.auth.InvalidGrant, match="is revoked"):
        registry.rotate_token(record.id)
    with pytest.raises(pypireg.CatalogError, match="no token with id 99"):
        registry.revoke_token(99)


def test_no_secret_is_ever_stored_or_listed(registry, tmp_path, capsys) -> None:
    data = str(tmp_path / "data")
    code, out, _ = run(capsys, "token", "create", "ci", "--grant", "acme/tools:write",
                       "--expires-in", "30d", "--data", data)
    secret = out[-1]
    assert code == 0 and secret.startswith("pypireg-")
    code, out, _ = run(capsys, "token", "rotate", "1", "--data", data)
    rotated = out[-1]
    assert code == 0 and out[0] == "token 1 is revoked; its successor is token 2 'ci'"
    for argv in (["token", "list"], ["token", "list", "--json"]):
        code, out, _ = run(capsys, *argv, "--data", data)
        text = "\n".join(out)
        for known in (secret, rotated):
            assert known not in text and known[len("pypireg-"):][:8] not in text
    catalog = (tmp_path / "data" / "catalog.db").read_bytes()
    wal = tmp_path / "data" / "catalog.db-wal"
    stored = catalog + (wal.read_bytes() if wal.exists() else b"")
    assert secret.encode() not in stored and rotated.encode() not in stored


def test_token_list_shows_every_state(registry, tmp_path, capsys) -> None:
    data = str(tmp_path / "data")
    alive = registry.issue_token("alive", ["acme/tools:read"], expires_at=expiry(
        expires_at="2099-01-01"))[0]
    gone = registry.issue_token("gone", ["acme:write"], "job")[0]
    old = registry.issue_token("old", ["acme:read"], "deploy")[0]
    registry.revoke_token(gone.id)
    expire_now(registry, old.id)
    code, out, _ = run(capsys, "token", "list", "--json", "--data", data)
    listed = {t["name"]: t for t in json.loads("\n".join(out))}
    assert listed["alive"]["active"] and listed["alive"]["expires_at"] == "2099-01-01T00:00:00.000Z"
    assert listed["gone"]["revoked"] and not listed["gone"]["active"]
    assert not listed["old"]["revoked"] and not listed["old"]["active"]
    assert listed["alive"]["grants"] == ["acme/tools:read"] and listed["gone"]["kind"] == "job"
    assert set(listed["alive"]) == {"id", "name", "kind", "grants", "created_at",
                                    "last_used_at", "expires_at", "revoked", "active",
                                    "trusted_publishing"}
    assert listed["alive"]["trusted_publishing"] is None  # a token people made
    code, out, _ = run(capsys, "token", "list", "--data", data)
    assert out[0].split() == ["ID", "KIND", "NAME", "STATE", "GRANTS", "CREATED", "LAST",
                              "USED", "EXPIRES"]
    states = {line.split()[2]: line.split()[3] for line in out[1:]}
    assert states == {"alive": "active", "gone": "revoked", "old": "expired"}
    code, out, _ = run(capsys, "token", "revoke", str(alive.id), "--data", data)
    assert code == 0 and out == [f"token {alive.id} 'alive' is revoked"]
    code, _, err = run(capsys, "token", "revoke", "99", "--data", data)
    assert code == 1 and "no token with id 99" in err


# -- HTTP -------------------------------------------------------------------------------------


@pytest.fixture
def http(registry):  # type: ignore[no-untyped-def]
    admin = registry.create_token("root", ["*:admin"])
    writer = registry.create_token("ci", ["acme/secret:write"], "job")
    reader = registry.create_token("reader", ["acme/tools:read"])
    return TestApp(registry), {"admin": {"PRIVATE-TOKEN": admin},
                               "writer": {"JOB-TOKEN": writer},
                               "reader": {"PRIVATE-TOKEN": reader}}


def test_self_shows_revokes_and_rotates_the_calling_token(http) -> None:
    app, auth = http
    me = app.get("/personal_access_tokens/self", headers=auth["writer"]).json
    assert me["name"] == "ci" and me["kind"] == "job" and me["active"] is True
    assert me["grants"] == ["acme/secret:write"] and me["scopes"] == ["api"]
    assert "token" not in me
    rotated = app.post_json("/personal_access_tokens/self/rotate",
                            {"expires_at": "2099-12-31"}, headers=auth["writer"]).json
    assert rotated["id"] != me["id"] and rotated["expires_at"] == "2099-12-31T00:00:00.000Z"
    app.get("/personal_access_tokens/self", headers=auth["writer"], status=401)
    new = {"JOB-TOKEN": rotated["token"]}
    assert app.get("/personal_access_tokens/self", headers=new).json["id"] == rotated["id"]
    app.delete("/personal_access_tokens/self", headers=new, status=204)
    app.get("/personal_access_tokens/self", headers=new, status=401)
    app.get("/personal_access_tokens/self", status=401)


def test_administrators_manage_every_token(http) -> None:
    app, auth = http
    listed = app.get("/personal_access_tokens", headers=auth["admin"]).json
    assert [t["name"] for t in listed] == ["root", "ci", "reader"]
    created = app.post("/personal_access_tokens", {"name": "bot", "grants[]": ["acme:read"],
                                                   "expires_at": "2099-01-01"},
                       headers=auth["admin"], status=201).json
    assert created["grants"] == ["acme:read"] and created["token"].startswith("pypireg-")
    app.get(PRIVATE, headers={"PRIVATE-TOKEN": created["token"]}, status=200)
    app.post(f"/personal_access_tokens/{created['id']}/rotate", headers=auth["admin"])
    app.get(PRIVATE, headers={"PRIVATE-TOKEN": created["token"]}, status=401)
    reader_id = listed[2]["id"]
    app.delete(f"/personal_access_tokens/{reader_id}", headers=auth["admin"], status=204)
    app.get(PUBLIC, headers=auth["reader"])  # reads as anonymous now
    app.get("/personal_access_tokens/self", headers=auth["reader"], status=401)
    app.delete("/personal_access_tokens/999", headers=auth["admin"], status=404)
    app.delete("/personal_access_tokens/%C2%B2", headers=auth["admin"], status=400)


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("writer", 403), ("reader", 403)])
def test_nobody_else_reaches_the_token_endpoints(http, who, status) -> None:
    app, auth = http
    headers = auth[who] if who else {}
    for method, url in (("GET", "/personal_access_tokens"),
                        ("POST", "/personal_access_tokens"),
                        ("DELETE", "/personal_access_tokens/1"),
                        ("POST", "/personal_access_tokens/1/rotate"),
                        ("GET", "/projects/acme%2Ftools/deploy_tokens"),
                        ("POST", "/groups/acme/deploy_tokens")):
        if who and method == "POST" and url.endswith("/1/rotate"):
            continue  # checked below: one's own token may be rotated
        response = app.request(url, method=method, headers=headers, status="*")
        assert response.status_int == status, (method, url)
    if who:
        app.post("/personal_access_tokens/1/rotate", headers=headers, status=403)


def test_deploy_tokens_of_a_project_leak_nothing_to_outsiders(http) -> None:
    app, auth = http
    app.get("/projects/acme%2Fsecret/deploy_tokens", status=401)
    app.get("/projects/acme%2Fsecret/deploy_tokens", headers=auth["reader"], status=404)
    app.get("/projects/acme%2Fsecret/deploy_tokens", headers=auth["writer"], status=403)
    app.get("/projects/acme%2Fnowhere/deploy_tokens", headers=auth["admin"], status=404)


def test_deploy_tokens_in_gitlabs_shape(http, registry) -> None:
    app, auth = http
    url = "/projects/acme%2Fsecret/deploy_tokens"
    app.post_json(url, {"name": "d"}, headers=auth["admin"], status=400)  # no scopes
    created = app.post_json(url, {"name": "pipeline", "scopes": ["read_package_registry",
                                                                 "write_package_registry"]},
                            headers=auth["admin"], status=201).json
    assert set(created) == {"id", "name", "username", "expires_at", "revoked", "expired",
                            "scopes", "token"}
    assert created["username"] == "pipeline"
    # A deploy token logs in with its name, as GitLab's do, and may upload.
    data = wheel_bytes("pkg", "1.0")
    app.post(API.format(project="acme%2Fsecret"), {"name": "pkg", "version": "1.0"},
             upload_files=[("content", wheel_name("pkg", "1.0"), data)],
             headers=basic(created["token"], "pipeline"), status=201)
    listed = app.get(url, headers=auth["admin"]).json
    assert [t["id"] for t in listed] == [created["id"]] and "token" not in listed[0]
    assert app.get("/groups/acme/deploy_tokens", headers=auth["admin"]).json == []
    group = app.post("/groups/acme/deploy_tokens", {"name": "g", "scopes": "read_package_registry"},
                     headers=auth["admin"], status=201).json
    assert group["scopes"] == ["read_package_registry"]
    app.delete(f"{url}/{group['id']}", headers=auth["admin"], status=404)  # not this project's
    app.delete(f"{url}/{created['id']}", headers=auth["admin"], status=204)
    app.get(API.format(project="acme%2Fsecret") + "/simple/",
            headers=basic(created["token"], "pipeline"), status=401)
    assert app.get(url, headers=auth["admin"]).json[0]["revoked"] is True


def test_an_older_catalog_is_migrated_in_place(tmp_path) -> None:
    """A catalog of schema 2 (as pypireg wrote before token lifecycles) gains the columns."""
    path = tmp_path / "catalog.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO meta VALUES ('schema_version', '2');
        CREATE TABLE tokens (id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
            secret_hash TEXT NOT NULL, grants TEXT NOT NULL, created_at TEXT NOT NULL);
    """)
    from pypireg.auth.tokens import hash_secret

    db.execute("INSERT INTO tokens VALUES (1, 'old', 'personal', ?, ?, '2026-01-01T00:00:00Z')",
               [hash_secret("pypireg-old-secret"), json.dumps([{"path": "*", "access": "read"}])])
    db.commit()
    db.close()
    registry = pypireg.create_app(tmp_path)
    (old,) = registry.list_tokens()
    assert old.active and old.expires_at is None and old.last_used_at is None
    assert registry.catalog.db.execute(
        "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            pypireg.catalog.SCHEMA_VERSION)
    registry.create_project("p", "private")
    TestApp(registry).get("/projects/p/packages/pypi/simple/",
                          headers=basic("pypireg-old-secret"), status=200)


def test_a_catalog_from_a_newer_pypireg_is_refused(tmp_path) -> None:
    pypireg.create_app(tmp_path)
    db = sqlite3.connect(tmp_path / "catalog.db")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(pypireg.CatalogError, match="schema version 99, made by a newer"):
        pypireg.create_app(tmp_path)


@pytest.mark.parametrize(("send", "grants"), [
    ("json", ["acme:read", "acme/secret:write"]),
    ("json", "acme:read,acme/secret:write"),
    ("form", ["acme:read", "acme/secret:write"]),
    ("query", "acme:read,acme/secret:write"),
])
def test_token_parameters_come_as_json_form_or_query(http, send, grants) -> None:
    app, auth = http
    url = "/personal_access_tokens"
    if send == "json":
        created = app.post_json(url, {"name": "bot", "grants": grants}, headers=auth["admin"])
    elif send == "form":
        created = app.post(url, [("name", "bot")] + [("grants[]", g) for g in grants],
                           headers=auth["admin"])
    else:
        created = app.post(f"{url}?name=bot&grants={grants}", headers=auth["admin"])
    assert created.status_int == 201
    assert created.json["grants"] == ["acme:read", "acme/secret:write"]
