"""Signing in to the web pages with a personal access token: the session cookie and its
flags, the pages it opens, what ends it (sign-out, revocation, rotation, expiry), and the
forms' defences (CSRF, login CSRF, open redirects)."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import pytest
from webtest import TestApp

import pypireg
import pypireg.ui.sessions

from .webpages import HTML, Site

SECRET_PAGE = "/acme/team/secret"


def form_of(app: TestApp, path: str = "/users/sign_in") -> dict[str, str]:
    page = app.get(path, headers=HTML)
    return {field["name"]: field.get("value", "") for field in
            page.html.select("form.sign-in input[type=hidden]")}


def sign_in(app: TestApp, token: str, *, redirect: str = "/", status: int = 303, **kw):
    fields = {**form_of(app), "token": token, "redirect": redirect}
    return app.post("/users/sign_in", fields, headers=HTML, status=status, **kw)


def cookie(response, name: str) -> SimpleCookie:
    found = SimpleCookie()
    for header in response.headers.getall("Set-Cookie"):
        if header.startswith(f"{name}="):
            found.load(header)
    return found


def sign_out(app: TestApp, *, status: int = 303, **headers: str):
    """Press the header's Sign out button."""
    form = app.get("/", headers=HTML).html.select_one("header form.account")
    fields = {field["name"]: field["value"] for field in form.select("input[type=hidden]")}
    return app.post(form["action"], fields, headers={**HTML, **headers}, status=status)


def signed_in_as(app: TestApp, path: str = "/") -> str:
    who = app.get(path, headers=HTML).html.select_one("header .who strong")
    return who.text if who else ""


@pytest.fixture
def people(site: Site) -> Site:
    site.publish("acme/team/secret", "classified", "1.0", summary="hidden widget")
    return site


def test_signing_in_opens_every_page_to_what_the_token_may_read(people: Site) -> None:
    app = people.site
    assert "classified" not in app.get("/", headers=HTML).text
    app.get(SECRET_PAGE, headers=HTML, status=401)
    signed = sign_in(app, people.reader, redirect=SECRET_PAGE)
    assert signed.headers["Location"] == SECRET_PAGE
    session = cookie(signed, "pypireg_session")["pypireg_session"]
    assert session["httponly"] and session["samesite"] == "Lax" and session["path"] == "/"
    assert session["max-age"] == str(12 * 3600) and not session["secure"]
    assert "reader" not in session.value and people.reader not in session.value
    assert signed_in_as(app) == "reader"
    assert "classified" in app.get("/", headers=HTML).text
    assert app.get(SECRET_PAGE, headers=HTML).html.select_one("ul.names a.name").text == \
        "classified"
    results = app.get("/-/search?q=hidden", headers=HTML).html.select("ul.names a.name")
    assert [a.text for a in results] == ["classified"]


def test_the_api_ignores_the_session(people: Site) -> None:
    sign_in(people.site, people.reader)
    people.site.get(f"/api/v4/projects/{people.private.id}/packages/pypi/simple/", status=401)


def test_over_https_the_cookie_is_secure(people: Site) -> None:
    app = TestApp(people.site.app, extra_environ={"wsgi.url_scheme": "https"})
    signed = sign_in(app, people.reader)
    assert cookie(signed, "pypireg_session")["pypireg_session"]["secure"]


def test_sign_out_ends_the_session(people: Site) -> None:
    app = people.site
    sign_in(app, people.reader)
    header = app.get("/", headers=HTML).html.select_one("header form.account")
    assert header["action"] == "/users/sign_out"
    out = sign_out(app, Origin="http://localhost")
    assert cookie(out, "pypireg_session")["pypireg_session"]["max-age"] == "0"
    assert signed_in_as(app) == ""
    assert "classified" not in app.get("/", headers=HTML).text


@pytest.mark.parametrize("end", ["revoke", "rotate", "expire", "tamper"])
def test_a_session_ends_at_once_when_its_token_does(people: Site, end: str,
                                                     monkeypatch) -> None:
    app = people.site
    sign_in(app, people.reader)
    assert signed_in_as(app) == "reader"
    token = people.registry.catalog.token_by_hash(
        pypireg.auth.tokens.hash_secret(people.reader))
    if end == "revoke":
        people.registry.revoke_token(token["id"])
    elif end == "rotate":
        people.registry.rotate_token(token["id"])
    elif end == "expire":  # the session's own end, after ui_session_lifetime
        later = time.time() + 12 * 3600 + 1
        monkeypatch.setattr(pypireg.ui.sessions.time, "time", lambda: later)
    else:
        value = app.cookies["pypireg_session"]
        app.cookiejar.clear()
        app.set_cookie("pypireg_session", value)  # as it was: still signed in
        assert signed_in_as(app) == "reader"
        app.cookiejar.clear()  # the tampered cookie alone
        app.set_cookie("pypireg_session", value[:-1] + ("0" if value[-1] != "0" else "1"))
    assert signed_in_as(app) == ""
    app.get(SECRET_PAGE, headers=HTML, status=401)


def test_a_wrong_token_is_refused_with_the_form_again(people: Site) -> None:
    for token in ("pypireg-not-a-token", people.registry.create_token(
            "deployer", ["acme/team/secret:read"], kind="deploy")):
        refused = sign_in(people.site, token, status=403)
        assert "does not sign you in" in refused.html.select_one(".warning").text
        assert "pypireg_session" not in refused.headers.get("Set-Cookie", "")


def test_the_form_is_refused_without_its_own_token(people: Site) -> None:
    """CSRF and login CSRF: another site can post neither a sign-in (it has no seed cookie,
    nor a token derived from this browser's) nor a sign-out."""
    app = people.site
    fields = {**form_of(app), "token": people.reader}
    for changed in ({"csrf": ""}, {"csrf": "0" * 64}):
        app.post("/users/sign_in", {**fields, **changed}, headers=HTML, status=403)
    stranger = TestApp(people.site.app)  # another browser: the form's token is not its own
    stranger.post("/users/sign_in", fields, headers=HTML, status=403)
    app.post("/users/sign_in", fields, headers={**HTML, "Origin": "https://evil.example"},
             status=403)
    sign_in(app, people.reader)
    for origin in ("https://evil.example", "null", "http://["):
        sign_out(app, Origin=origin, status=403)
    app.post("/users/sign_out", headers=HTML, status=403)  # without the button's token
    assert signed_in_as(app) == "reader"
    # Malformed headers and fields are refused, never a 500.
    fields = {**form_of(app), "token": people.reader}
    app.post("/users/sign_in", {**fields, "csrf": "\u00e9"}, headers=HTML, status=403)
    app.post("/users/sign_in", fields, headers={**HTML, "Referer": "http://[x/"}, status=403)
    form = cookie(app.get("/users/sign_in", headers=HTML), "pypireg_sign_in")
    assert form == SimpleCookie() or form["pypireg_sign_in"]["samesite"] == "Strict"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/",
                                    "/\\evil.example", "/\t/evil.example", "/\n/evil.example",
                                    "/\r\nSet-Cookie: x=1", "javascript:alert(1)"])
def test_signing_in_never_leaves_the_site(people: Site, target: str) -> None:
    assert sign_in(people.site, people.reader, redirect=target).headers["Location"] == \
        "/"


def test_a_provider_without_sessions_keeps_its_own_sign_in(tmp_path) -> None:
    class HostAuth:
        def authenticate(self, request):  # type: ignore[no-untyped-def]
            return None

        def permits(self, principal, action, project) -> bool:  # type: ignore[no-untyped-def]
            return project.is_public

    registry = pypireg.create_app(staging_dir=str(tmp_path), auth=HostAuth())
    TestApp(pypireg.site(registry)).get("/users/sign_in", headers=HTML, status=404)
    HostAuth.sign_in_url = "https://sso.example/login"  # type: ignore[attr-defined]
    registry = pypireg.create_app(staging_dir=str(tmp_path), auth=HostAuth())
    app = TestApp(pypireg.site(registry))
    assert app.get("/users/sign_in", headers=HTML, status=303).headers["Location"] == \
        "https://sso.example/login"
    assert app.get("/", headers=HTML).html.select_one("header a.account").text == "Sign in"


def test_a_cookie_that_is_not_ours_is_no_session(people: Site) -> None:
    """Whatever a cookie holds (another site's, a sibling's, garbage), the pages answer as
    for nobody signed in."""
    from werkzeug.test import Client

    client = Client(people.site.app)
    for value in ("x." + "\u00e9", "\x7f", "a.b.c", "%ff%fe", "." * 5000, "e30=.00"):
        client.set_cookie("pypireg_session", value)
        answer = client.get("/", headers=HTML)
        assert answer.status_code == 200 and b"Sign in" in answer.data, value


def test_pages_seen_in_a_session_are_the_tokens_use(people: Site) -> None:
    def last_used() -> str | None:
        return people.registry.catalog.token_by_hash(
            pypireg.auth.tokens.hash_secret(people.reader))["last_used_at"]

    assert last_used() is None
    sign_in(people.site, people.reader)
    people.site.get("/", headers=HTML)
    assert last_used() is not None
