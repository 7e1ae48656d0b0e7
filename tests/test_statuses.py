"""PEP 792 statuses of package names: what each does to pages, uploads and downloads, the
HTTP endpoint and its access rules, the CLI, and pypi-simple reading both page forms."""

from __future__ import annotations

import pytest
from pypi_simple import ProjectPage, ProjectStatus

from pypireg import create_app
from pypireg.cli import main

from .distributions import wheel_bytes, wheel_name
from .helpers import Env, basic, sha256

V1_JSON = "application/vnd.pypi.simple.v1+json"
PROJECT_PAGE = "/projects/acme%2Fteam%2Fsecret/packages/pypi/simple/app/"
GROUP_PAGE = "/groups/acme/-/packages/pypi/simple/app/"
STATUS = "/projects/acme%2Fteam%2Fsecret/packages/names/{name}/status"


@pytest.fixture
def held(env: Env) -> Env:
    """``app`` 1.0 in acme/team/secret, and in acme/tools too (a group page merges both)."""
    for project in ("acme/team/secret", "acme/tools"):
        env.upload_wheel(project, "app", "1.0", token=env.writer, status=201)
    return env


def json_page(env: Env, path: str = PROJECT_PAGE, token: str | None = None) -> dict:
    return env.app.get(path, headers={"Accept": V1_JSON, **basic(token or env.deleter)}).json


def html_page(env: Env, path: str = PROJECT_PAGE, token: str | None = None) -> str:
    return env.app.get(path, headers=basic(token or env.deleter)).text


def put_status(env: Env, status: str, reason: str = "", *, name: str = "app",
               token: str | None = None, expect: int = 200):
    return env.app.put_json(STATUS.format(name=name), {"status": status, "reason": reason},
                            headers=basic(token or env.deleter), status=expect)


@pytest.mark.parametrize("status", ["archived", "quarantined", "deprecated"])
def test_each_status_is_on_both_page_forms(held: Env, status: str) -> None:
    put_status(held, status, "see <https://example.com/why> & \"more\"")
    reason = "see <https://example.com/why> & \"more\""
    body = json_page(held)
    assert body["meta"]["api-version"] == "1.4"
    assert body["project-status"] == {"status": status, "reason": reason}
    html = html_page(held)
    assert f'<meta name="pypi:project-status" content="{status}">' in html
    assert ('<meta name="pypi:project-status-reason"'
            ' content="see &lt;https://example.com/why&gt; &amp; &#34;more&#34;">') in html
    # pypi-simple reads the same status and reason from both forms.
    base = "http://localhost" + PROJECT_PAGE
    for page in (ProjectPage.from_json_data(body, base), ProjectPage.from_html("app", html, base)):
        assert page.status == ProjectStatus(status)
        assert page.status_reason == reason
        assert page.repository_version == "1.4"
        # Quarantined names offer no file (PEP 792); the others offer every one.
        assert len(page.packages) == (0 if status == "quarantined" else 1)


def test_uploads_to_archived_and_quarantined_names_are_refused(held: Env) -> None:
    for status in ("archived", "quarantined"):
        put_status(held, status, "moved to app2")
        response = held.upload_wheel("acme/team/secret", "app", "2.0", token=held.writer)
        assert response.status_int == 400
        assert response.status == (
            f"400 Bad request - app is {status} (moved to app2): it takes no new files"
            " (PEP 792 status, set by the project's maintainers)")
        assert "2.0" not in json_page(held)["versions"]
    # A deprecated name, and one made active again, take uploads.
    for version, status in (("2.0", "deprecated"), ("3.0", "active")):
        put_status(held, status)
        held.upload_wheel("acme/team/secret", "app", version, token=held.writer, status=201)
    assert json_page(held)["versions"] == ["1.0", "2.0", "3.0"]
    assert json_page(held)["project-status"] == {"status": "active"}
    # Other names of the project, and app in other projects, are not affected.
    put_status(held, "archived")
    held.upload_wheel("acme/team/secret", "other", "1.0", token=held.writer, status=201)
    held.upload_wheel("acme/tools", "app", "2.0", token=held.writer, status=201)


def test_quarantined_files_are_not_downloadable(held: Env) -> None:
    data = wheel_bytes("app", "1.0")
    file_url = (f"/projects/acme%2Fteam%2Fsecret/packages/pypi/files/{sha256(data)}/"
                f"{wheel_name('app', '1.0')}")
    headers = basic(held.reader)
    held.app.get(file_url, headers=headers, status=200)
    held.app.get(file_url + ".metadata", headers=headers, status=200)
    put_status(held, "archived")
    held.app.get(file_url, headers=headers, status=200)  # archived files are still served
    put_status(held, "quarantined")
    refused = held.app.get(file_url, headers=headers, status=403)
    assert "quarantined" in refused.json["message"]
    held.app.get(file_url + ".metadata", headers=headers, status=403)
    held.app.get(file_url, status=401)  # anonymous callers learn nothing new
    held.app.get(file_url, headers=basic(held.outsider), status=404)
    put_status(held, "active")
    held.app.get(file_url, headers=headers, status=200)


def test_group_pages_say_the_most_restrictive_status(held: Env) -> None:
    def group_status() -> dict:
        return json_page(held, GROUP_PAGE, held.writer)["project-status"]

    assert group_status() == {"status": "active"}
    held.registry.set_name_status(held.registry.catalog.project("acme/tools"), "app",
                                  "deprecated", reason="old")
    assert group_status() == {"status": "deprecated", "reason": "old"}
    put_status(held, "archived", "frozen")
    assert group_status() == {"status": "archived", "reason": "frozen"}
    put_status(held, "quarantined")
    assert group_status() == {"status": "quarantined"}
    assert json_page(held, GROUP_PAGE, held.writer)["files"] == []
    # A caller who cannot read the quarantining project sees acme/tools' own status.
    anonymous = held.app.get(GROUP_PAGE, headers={"Accept": V1_JSON}).json
    assert anonymous["project-status"] == {"status": "deprecated", "reason": "old"}
    assert len(anonymous["files"]) == 1


def test_a_status_change_renews_the_pages_etag(held: Env) -> None:
    first = held.app.get(PROJECT_PAGE, headers=basic(held.reader))
    put_status(held, "deprecated")
    again = held.app.get(PROJECT_PAGE, headers={**basic(held.reader),
                                                "If-None-Match": first.headers["ETag"]})
    assert again.status_int == 200 and "deprecated" in again.text


def test_the_endpoint_reads_and_sets(held: Env) -> None:
    url = STATUS.format(name="App")  # any spelling of the name
    read = held.app.get(url, headers=basic(held.reader)).json
    assert read == {"name": "app", "status": "active", "reason": "", "updated_at": None}
    answer = put_status(held, "archived", "done", name="App").json
    assert answer["status"] == "archived" and answer["reason"] == "done"
    assert answer["updated_at"].endswith("Z")
    assert held.app.get(url, headers=basic(held.reader)).json == answer
    # A form body and the query string work as well (GitLab's API takes all three).
    held.app.put(url, {"status": "deprecated"}, headers=basic(held.deleter), status=200)
    assert held.app.get(url, headers=basic(held.reader)).json["status"] == "deprecated"
    held.app.put(url + "?status=active", headers=basic(held.deleter), status=200)
    assert held.app.get(url, headers=basic(held.reader)).json["reason"] == ""


def test_the_endpoint_refuses_bad_input(held: Env) -> None:
    for body, wrong in (({"status": "retired"}, "status"), ({}, "status"),
                        ({"status": 3}, "status"),
                        ({"status": "archived", "reason": "x" * 1001}, "reason"),
                        ({"status": "archived", "reason": ["x"]}, "reason")):
        refused = held.app.put_json(STATUS.format(name="app"), body,
                                    headers=basic(held.deleter), status=400)
        assert refused.json["message"].startswith(f"400 Bad request - {wrong} is")
    assert held.app.get(STATUS.format(name="app"), headers=basic(held.reader)).json[
        "status"] == "active"
    # A name the project never held.
    put_status(held, "archived", name="nothing-here", expect=404)
    held.app.get(STATUS.format(name="nothing-here"), headers=basic(held.reader), status=404)


def test_the_endpoint_follows_the_access_rules(held: Env) -> None:
    url = STATUS.format(name="app")
    held.app.get(url, status=401)  # a private project, anonymously
    assert "WWW-Authenticate" in held.app.put_json(url, {"status": "archived"},
                                                   status=401).headers
    held.app.get(url, headers=basic(held.outsider), status=404)
    held.app.put_json(url, {"status": "archived"}, headers=basic(held.outsider), status=404)
    for token in (held.reader, held.writer):  # may read, may not change it
        held.app.put_json(url, {"status": "archived"}, headers=basic(token), status=403)
    assert held.app.get(url, headers=basic(held.writer)).json["status"] == "active"
    public = "/projects/acme%2Ftools/packages/names/app/status"
    assert held.app.get(public).json["status"] == "active"  # anyone may read a public one
    held.app.put_json(public, {"status": "archived"}, headers=basic(held.writer), status=403)


def test_changes_are_audited_once(held: Env) -> None:
    put_status(held, "archived", "done")
    put_status(held, "archived", "done")  # the same again changes nothing
    events, total = held.registry.audit_events(path="acme/team/secret")
    changes = [e for e in events if e.event_name == "name_status_changed"]
    assert len(changes) == 1
    assert changes[0].details == {"name": "app", "from": "active", "to": "archived",
                                  "reason": "done"}


def test_a_status_outlives_the_names_packages(held: Env) -> None:
    put_status(held, "quarantined", "malware")
    project = held.registry.catalog.project("acme/team/secret")
    for package in held.registry.catalog.versions_named(project.id, "app"):
        held.registry.delete_package(package)
    # Nothing to show, and still nothing may be uploaded under the name.
    held.app.get(PROJECT_PAGE, headers=basic(held.reader), status=404)
    assert held.upload_wheel("acme/team/secret", "app", "9.9", token=held.writer).status_int == 400
    assert held.app.get(STATUS.format(name="app"), headers=basic(held.reader)).json[
        "reason"] == "malware"


def test_the_cli_sets_shows_and_lists(tmp_path, capsys) -> None:
    data = ["--data", str(tmp_path)]
    env = Env(create_app(tmp_path))  # the same registry the commands open
    assert main(["status", "acme/tools", "app", "archived", *data]) == 1
    assert "no package named 'app' in acme/tools" in capsys.readouterr().err
    env.upload_wheel("acme/tools", "app", "1.0", token=env.writer, status=201)
    assert main(["status", "acme/tools", "app", "archived", "--reason", "use app2", *data]) == 0
    assert capsys.readouterr().out == "app in acme/tools is archived\n"
    assert main(["status", "acme/tools", "APP", *data]) == 0
    assert capsys.readouterr().out == "archived: use app2\n"
    assert main(["status", "acme/tools", *data]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["NAME", "STATUS", "SINCE", "REASON"]
    assert listed[1].split()[:2] == ["app", "archived"] and listed[1].endswith("use app2")
    assert env.upload_wheel("acme/tools", "app", "2.0", token=env.writer).status_int == 400
    assert main(["status", "acme/tools", "app", "active", *data]) == 0
    capsys.readouterr()
    assert main(["status", "acme/tools", *data]) == 0
    assert capsys.readouterr().out == "every package name in acme/tools is active\n"
    events, _ = env.registry.audit_events(path="acme/tools")
    assert [(e.author_name, e.details["to"]) for e in events
            if e.event_name == "name_status_changed"] == [("cli", "active"), ("cli", "archived")]
