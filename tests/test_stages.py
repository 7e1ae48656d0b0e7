"""Staged releases in-process, on both catalog engines: what a stage hides and when it stops
hiding it, the API's answers and access rules, the checks made at upload and again at
publish, two stages racing for one file name, expiry and gc, the command line and the
project's web page. tests/e2e/test_staging.py drives a live server with real clients."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from webtest import TestApp

import pypireg
from pypireg.dists import canonical_version
from pypireg.times import parse_time
from pypireg.uploads import FileConflict

from .distributions import sdist_bytes, wheel_bytes, wheel_file, wheel_metadata, wheel_name
from .helpers import Env, basic, blobs, run, sha256

API = "/projects/acme%2Ftools/packages/pypi"
PRIVATE = "/projects/acme%2Fteam%2Fsecret/packages/pypi"
V1_JSON = "application/vnd.pypi.simple.v1+json"
LINUX = "cp312-cp312-manylinux_2_17_x86_64"
MAC = "cp312-cp312-macosx_11_0_arm64"


def create(env: Env, name: str = "rc1", api: str = API, token: str | None = None,
           status: int = 201):
    return env.app.post_json(f"{api}/stages", {"name": name},
                             headers=basic(token or env.writer), status=status)


def stage_upload(env: Env, file_name: str, data: bytes, *, stage: str = "rc1",
                 api: str = API, token: str | None = None, status: int | str = 201,
                 **fields: str):
    name, version = file_name.split("-")[:2]
    if file_name.endswith(".tar.gz"):
        name, version = file_name[:-7].rsplit("-", 1)
    return env.app.post(f"{api}/stages/{stage}",
                        params=list({"name": name, "version": version, **fields}.items()),
                        upload_files=[("content", file_name, data)],
                        headers=basic(token or env.writer), status=status)


def release(version: str) -> dict[str, bytes]:
    """A version of ``app`` as a CI matrix builds it: an sdist and three wheels."""
    metadata = wheel_metadata("app", version)
    files = {f"app-{version}.tar.gz": sdist_bytes("app", version),
             wheel_name("app", version): wheel_bytes("app", version)}
    for tag in (LINUX, MAC):
        file_name = f"app-{version}-{tag}.whl"
        files[file_name] = wheel_file(file_name, metadata, tag)
    return files


def page_files(env: Env, api: str = API, token: str | None = None) -> dict[str, dict]:
    found = env.app.get(f"{api}/simple/app/", headers={"Accept": V1_JSON, **(
        basic(token) if token else {})}, status="*")
    return {f["filename"]: f for f in found.json["files"]} if found.status_int == 200 else {}


# -- what a stage hides ----------------------------------------------------------------------


def test_a_stage_shows_nothing_until_it_is_published_then_everything_at_once(env: Env) -> None:
    env.upload_wheel("acme/tools", "app", "1.0", token=env.writer, status=201)
    create(env)
    files = release("2.0")
    for file_name, data in files.items():
        stage_upload(env, file_name, data, sha256_digest=sha256(data))
        # Nothing of 2.0 on the project's page, the group's, or by its download URL.
        assert set(page_files(env)) == {wheel_name("app", "1.0")}
        group = env.app.get("/groups/acme/-/packages/pypi/simple/app/").text
        assert "2.0" not in group
        env.app.get(f"{API}/files/{sha256(data)}/{file_name}", status=404)
    published = env.app.post(f"{API}/stages/rc1/publish", headers=basic(env.writer)).json
    assert published["status"] == "published"
    assert published == {**env.app.get(f"{API}/stages/rc1").json,
                         "files": published["files"]}
    assert sorted(f["file_name"] for f in published["files"]) == sorted(files)
    shown = page_files(env)
    assert set(shown) == {wheel_name("app", "1.0"), *files}
    # One upload time for the whole release, kept to the millisecond.
    times = {shown[name]["upload-time"] for name in files}
    assert len(times) == 1
    assert times == {published["published_at"]}
    for file_name, data in files.items():
        assert env.app.get(f"{API}/files/{sha256(data)}/{file_name}").body == data
    # The core metadata staged with each wheel is served with the published file.
    wheel = wheel_name("app", "2.0")
    assert shown[wheel]["core-metadata"] == {"sha256": sha256(
        wheel_metadata("app", "2.0").encode())}
    assert env.app.get(f"{API}/files/{sha256(files[wheel])}/{wheel}.metadata").body == (
        wheel_metadata("app", "2.0").encode())
    # The versions listing the Packages API gives: 2.0 is one package with four files.
    packages = env.app.get("/projects/acme%2Ftools/packages", headers=basic(env.writer)).json
    assert sorted(p["version"] for p in packages) == ["1.0", "2.0"]


def test_the_preview_index_lists_the_stage_alone_in_both_forms(env: Env) -> None:
    env.upload_wheel("acme/tools", "app", "1.0", token=env.writer, status=201)
    create(env)
    files = release("2.0")
    for file_name, data in files.items():
        stage_upload(env, file_name, data)
    stage_upload(env, wheel_name("other", "0.1"), wheel_bytes("other", "0.1"))
    index = env.app.get(f"{API}/stages/rc1/simple/")
    assert re.findall(r">([^<]+)</a>", index.text) == ["app", "other"]
    assert "private" in index.headers["Cache-Control"]
    assert env.app.get(f"{API}/stages/rc1/simple/", headers={"Accept": V1_JSON}).json[
        "projects"] == [{"name": "app"}, {"name": "other"}]
    preview = env.app.get(f"{API}/stages/rc1/simple/app/", headers={"Accept": V1_JSON}).json
    assert sorted(f["filename"] for f in preview["files"]) == sorted(files)  # no 1.0
    assert preview["versions"] == ["2.0"]
    for entry in preview["files"]:
        body = env.app.get(entry["url"]).body
        assert sha256(body) == entry["hashes"]["sha256"]
    wheel = next(f for f in preview["files"] if f["filename"] == wheel_name("app", "2.0"))
    assert env.app.get(wheel["url"] + ".metadata").body == wheel_metadata("app", "2.0").encode()
    etag = index.headers["ETag"]
    assert env.app.get(f"{API}/stages/rc1/simple/", headers={"If-None-Match": etag},
                       status=304).body == b""
    env.app.get(f"{API}/stages/rc1/simple/nothing/", status=404)
    env.app.get(f"{API}/stages/rc1/files/{'0' * 64}/{wheel_name('app', '2.0')}", status=404)
    env.app.get(f"{API}/stages/rc1/files/xyz/{wheel_name('app', '2.0')}", status=400)
    # Once published, the files are the project's: the preview is gone.
    env.app.post(f"{API}/stages/rc1/publish", headers=basic(env.writer))
    env.app.get(f"{API}/stages/rc1/simple/", status=404)
    env.app.get(wheel["url"], status=404)


# -- the API ---------------------------------------------------------------------------------


def test_create_list_show_and_discard(env: Env) -> None:
    made = create(env, "1.2.0").json
    assert made["name"] == "1.2.0" and made["status"] == "open"
    assert made["upload_url"].endswith("/projects/acme/tools/packages/pypi/stages/1.2.0/")
    assert made["index_url"].endswith("/stages/1.2.0/simple/")
    assert (made["file_count"], made["size"], made["published_at"]) == (0, 0, None)
    assert made["created_by"] == "writer"
    created = parse_time(made["created_at"])
    assert parse_time(made["expires_at"]) - created == timedelta(days=7)
    assert create(env, "1.2.0", status=409).json["message"].startswith("409 Conflict")
    for bad in ("", "a b", "-x", "x" * 65, "a/b"):
        create(env, bad, status=400)
    env.app.post_json(f"{API}/stages", {}, headers=basic(env.writer), status=400)
    data = wheel_bytes("app", "1.0")
    stage_upload(env, wheel_name("app", "1.0"), data, stage="1.2.0")
    stage_upload(env, wheel_name("app", "1.1"), wheel_bytes("app", "1.1"), stage="1.2.0/")
    env.app.delete(f"{API}/stages/1.2.0", headers=basic(env.writer), status=204)
    create(env, "1.2.0")
    stage_upload(env, wheel_name("app", "1.0"), data, stage="1.2.0")
    listed = env.app.get(f"{API}/stages").json
    assert [(s["name"], s["file_count"], s["size"]) for s in listed] == [
        ("1.2.0", 1, len(data))]
    shown = env.app.get(f"{API}/stages/1.2.0").json
    assert [(f["file_name"], f["sha256"], f["version"]) for f in shown["files"]] == [
        (wheel_name("app", "1.0"), sha256(data), "1.0")]
    env.app.get(f"{API}/stages/nope", status=404)
    env.app.delete(f"{API}/stages/1.2.0", headers=basic(env.writer), status=204)
    env.app.get(f"{API}/stages/1.2.0", status=404)
    assert env.app.get(f"{API}/stages").json == []
    assert blobs(env) == []  # nothing else held the staged bytes
    env.app.delete(f"{API}/stages/1.2.0", headers=basic(env.writer), status=404)
    events = [e.event_name for e in env.registry.audit_events()[0]]
    assert {"stage_created", "stage_file_uploaded", "stage_discarded"} <= set(events)


def test_who_may_do_what(env: Env) -> None:
    create(env, api=PRIVATE)
    stage_upload(env, wheel_name("app", "1.0"), wheel_bytes("app", "1.0"), api=PRIVATE)
    # Anonymous: challenged on a private project, and never allowed to change a stage.
    for path in ("/stages", "/stages/rc1", "/stages/rc1/simple/"):
        assert env.app.get(PRIVATE + path, status=401).headers["WWW-Authenticate"]
    env.app.post_json(f"{API}/stages", {"name": "x"}, status=401)
    # A reader reads (and previews), but cannot create, upload, publish or discard.
    reader = basic(env.reader)
    assert env.app.get(f"{PRIVATE}/stages", headers=reader).json[0]["name"] == "rc1"
    assert "app" in env.app.get(f"{PRIVATE}/stages/rc1/simple/", headers=reader).text
    create(env, "x", api=PRIVATE, token=env.reader, status=403)
    stage_upload(env, wheel_name("app", "1.1"), wheel_bytes("app", "1.1"), api=PRIVATE,
                 token=env.reader, status=403)
    env.app.post(f"{PRIVATE}/stages/rc1/publish", headers=reader, status=403)
    env.app.delete(f"{PRIVATE}/stages/rc1", headers=reader, status=403)
    # A token of another project does not learn the project exists.
    outsider = basic(env.outsider)
    env.app.get(f"{PRIVATE}/stages", headers=outsider, status=404)
    env.app.post(f"{PRIVATE}/stages/rc1/publish", headers=outsider, status=404)
    assert env.app.get(f"{PRIVATE}/stages/rc1", headers=reader).json["status"] == "open"


# -- checks at upload and at publish -----------------------------------------------------------


def test_uploads_into_a_stage_follow_the_rules_of_uploads(env: Env) -> None:
    env.upload_wheel("acme/tools", "app", "1.0", token=env.writer, status=201)
    create(env)
    data = wheel_bytes("app", "2.0")
    stage_upload(env, wheel_name("app", "2.0"), data)
    # The same file again: nothing changes (twine --skip-existing, a retried job).
    assert stage_upload(env, wheel_name("app", "2.0"), data, status=200).json["message"] == (
        "200 OK - the identical file is already stored")
    other = stage_upload(env, wheel_name("app", "2.0"), wheel_bytes("app", "2.0", payload="x"),
                         status=400).json["message"]
    assert "File already exists" in other
    # A file the project holds already: identical is a no-op, different is a conflict.
    live = wheel_bytes("app", "1.0")
    stage_upload(env, wheel_name("app", "1.0"), live, status=200)
    assert "File already exists" in stage_upload(
        env, wheel_name("app", "1.0"), wheel_bytes("app", "1.0", payload="y"),
        status=400).json["message"]
    stage_upload(env, wheel_name("app", "3.0"), wheel_bytes("app", "3.0"),
                 sha256_digest="0" * 64, status=400)
    assert [f["file_name"] for f in env.app.get(f"{API}/stages/rc1").json["files"]] == [
        wheel_name("app", "2.0")]
    # A closed name takes no files, staged or not.
    env.registry.set_name_status(env.public, "app", "archived")
    assert "archived" in stage_upload(env, wheel_name("app", "4.0"), wheel_bytes("app", "4.0"),
                                      status=400).json["message"]
    stage_upload(env, wheel_name("app", "2.0"), data, stage="nope", status=404)


def test_a_published_or_expired_stage_takes_no_more_files(env: Env) -> None:
    create(env)
    stage_upload(env, wheel_name("app", "1.0"), wheel_bytes("app", "1.0"))
    env.app.post(f"{API}/stages/rc1/publish", headers=basic(env.writer))
    late = stage_upload(env, wheel_name("app", "1.1"), wheel_bytes("app", "1.1"), status=409)
    assert "was published" in late.json["message"]
    assert env.app.post(f"{API}/stages/rc1/publish", headers=basic(env.writer),
                        status=409).json["message"].count("published")
    assert "delete them as packages" in env.app.delete(
        f"{API}/stages/rc1", headers=basic(env.writer), status=409).json["message"]
    shown = env.app.get(f"{API}/stages/rc1").json  # its files are the project's now
    assert (shown["upload_url"], shown["index_url"], shown["files"][0]["url"]) == (
        None, None, None)
    # A published stage's name may be taken again.
    create(env)
    env.registry.stage_lifetime = timedelta(seconds=-1)  # born expired
    create(env, "old")
    assert env.app.get(f"{API}/stages/old").json["status"] == "expired"
    assert "expired" in stage_upload(env, wheel_name("app", "1.2"), wheel_bytes("app", "1.2"),
                                     stage="old", status=409).json["message"]
    env.app.post(f"{API}/stages/old/publish", headers=basic(env.writer), status=409)
    create(env, "old")  # an expired stage's name may be taken again too


def test_a_project_holds_a_bounded_number_of_open_stages_listed_by_pages(env: Env) -> None:
    from pypireg.stages import MAX_OPEN_STAGES

    for number in range(MAX_OPEN_STAGES):
        env.registry.create_stage(env.public, f"s{number}")
    assert "100 open stages" in create(env, "one-more", status=400).json["message"]
    env.app.delete(f"{API}/stages/s0", headers=basic(env.writer), status=204)
    create(env, "one-more")
    page = env.app.get(f"{API}/stages?per_page=30&page=2")
    assert page.headers["X-Total"] == str(MAX_OPEN_STAGES)
    assert [s["name"] for s in page.json] == [f"s{n}" for n in range(70, 40, -1)]
    with pytest.raises(ValueError, match="stage_lifetime"):
        pypireg.create_app(stage_lifetime="0s")


def test_publish_checks_everything_again_and_publishes_all_or_nothing(env: Env) -> None:
    create(env)
    files = release("2.0")
    for file_name, data in files.items():
        stage_upload(env, file_name, data)
    env.app.post(f"{API}/stages/empty/publish", headers=basic(env.writer), status=404)
    create(env, "empty")
    assert "no files" in env.app.post(f"{API}/stages/empty/publish", headers=basic(env.writer),
                                      status=400).json["message"]
    # Meanwhile another job uploads other bytes under one of the staged names.
    taken = f"app-2.0-{MAC}.whl"
    env.upload(env.public.path, taken, wheel_file(taken, wheel_metadata("app", "2.0") + "X: 1\n",
                                                  MAC), token=env.writer, status=201,
               name="app", version="2.0")
    refused = env.app.post(f"{API}/stages/rc1/publish", headers=basic(env.writer), status=409)
    assert taken in refused.json["message"]
    assert set(page_files(env)) == {taken}  # nothing of the stage
    assert env.app.get(f"{API}/stages/rc1").json["status"] == "open"
    env.registry.delete_package(env.registry.catalog.live_package(
        env.public.id, "app", canonical_version("2.0")))
    # A protection rule now asks for more than the publisher has.
    env.registry.add_protection_rule(env.public, package_name_pattern="app",
                                     package_type="pypi",
                                     minimum_access_level_for_push="maintainer")
    assert env.app.post(f"{API}/stages/rc1/publish", headers=basic(env.writer),
                        status=403).json["message"]
    assert page_files(env) == {}
    rule = env.registry.protection_rules(env.public)[0]
    env.registry.remove_protection_rule(env.public, rule.id)
    # A status that closes the name.
    env.registry.set_name_status(env.public, "app", "archived")
    assert "archived" in env.app.post(f"{API}/stages/rc1/publish", headers=basic(env.writer),
                                      status=400).json["message"]
    env.registry.set_name_status(env.public, "app", "active")
    published = env.app.post(f"{API}/stages/rc1/publish", headers=basic(env.writer)).json
    assert len(published["files"]) == len(files)
    assert set(page_files(env)) == set(files)


def test_two_stages_publishing_one_file_name_give_one_winner(env: Env) -> None:
    """Both engines serialize writes: whichever publishes first wins, the other is told
    which file blocked it, and publishes nothing."""
    registry = env.registry
    file_name = wheel_name("app", "1.0")
    for stage, payload in (("a", "a"), ("b", "b")):
        create(env, stage)
        stage_upload(env, file_name, wheel_bytes("app", "1.0", payload=payload), stage=stage)
        stage_upload(env, wheel_name(f"only-{stage}", "1.0"), wheel_bytes(f"only-{stage}", "1.0"),
                     stage=stage)
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def publish(stage: str) -> None:
        start.wait()
        try:
            outcomes[stage] = registry.publish_stage(env.public, stage)[0].status
        except FileConflict as exc:
            outcomes[stage] = exc

    threads = [threading.Thread(target=publish, args=(s,)) for s in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [s for s, outcome in outcomes.items() if outcome == "published"]
    assert len(winners) == 1, outcomes
    loser = "b" if winners == ["a"] else "a"
    assert file_name in str(outcomes[loser])
    winner_bytes = wheel_bytes("app", "1.0", payload=winners[0])
    assert page_files(env)[file_name]["hashes"]["sha256"] == sha256(winner_bytes)
    # The loser's other file was not published either.
    env.app.get(f"{API}/simple/only-{loser}/", status=404)
    env.app.get(f"{API}/simple/only-{winners[0]}/")
    assert registry.stage(env.public, loser).status == "open"


# -- expiry and gc ---------------------------------------------------------------------------


def test_gc_forgets_expired_stages_and_frees_what_only_they_held(env: Env) -> None:
    kept = wheel_bytes("app", "1.0")
    env.upload("acme/tools", wheel_name("app", "1.0"), kept, token=env.writer, status=201,
               name="app", version="1.0")
    before = set(blobs(env))
    create(env, "stale")
    stage_upload(env, wheel_name("app", "1.1"), wheel_bytes("app", "1.1"), stage="stale")
    assert len(set(blobs(env)) - before) == 2  # the wheel and its metadata
    env.registry.catalog.run(
        "UPDATE stages SET expires_at = '2000-01-01T00:00:00.000Z' WHERE name = 'stale'")
    create(env, "fresh")
    stage_upload(env, wheel_name("app", "1.2"), wheel_bytes("app", "1.2"), stage="fresh")
    report = env.registry.collect_garbage(staging_max_age=0)
    assert report.stages == 1
    assert "forgot 1 expired stage" in str(report)
    assert [s["name"] for s in env.app.get(f"{API}/stages").json] == ["fresh"]
    assert set(blobs(env)) - before == {
        key for f in env.registry.staged_files(env.registry.stage(env.public, "fresh"))
        for key in (f.storage_key, f.metadata_key)}
    assert env.app.get(f"{API}/files/{sha256(kept)}/{wheel_name('app', '1.0')}").body == kept
    events = env.registry.audit_events()[0]
    assert [e.target_details for e in events if e.event_name == "stage_expired"] == ["stale"]
    # A published stage is forgotten after its time as well; its files stay.
    env.app.post(f"{API}/stages/fresh/publish", headers=basic(env.writer))
    env.registry.catalog.run("UPDATE stages SET expires_at = '2000-01-01T00:00:00.000Z'")
    assert env.registry.collect_garbage(staging_max_age=0).stages == 1
    assert env.app.get(f"{API}/stages").json == []
    assert wheel_name("app", "1.2") in page_files(env)


# -- the command line and the web page -----------------------------------------------------------


def test_the_stage_commands(tmp_path, capsys) -> None:
    data = str(tmp_path / "data")
    registry = pypireg.create_app(data)
    registry.create_group("acme", "public")
    project = registry.create_project("acme/tools", "public")
    code, out, _ = run(capsys, "stage", "create", "acme/tools", "rc1", "--data", data)
    assert (code, out[-1]) == (0, "rc1")
    wheel = wheel_bytes("app", "1.0")
    app = TestApp(registry)
    token = registry.create_token("ci", ["acme/tools:write"])
    stage_upload_app = app.post(f"{API}/stages/rc1", params=[("name", "app"), ("version", "1.0")],
                                upload_files=[("content", wheel_name("app", "1.0"), wheel)],
                                headers=basic(token), status=201)
    assert stage_upload_app.json["message"] == "201 Created"
    code, out, _ = run(capsys, "stage", "list", "acme/tools", "--data", data)
    assert out[0].split() == ["NAME", "STATUS", "FILES", "BYTES", "CREATED", "EXPIRES"]
    assert out[1].split()[:3] == ["rc1", "open", "1"]
    code, out, _ = run(capsys, "stage", "show", "acme/tools", "rc1", "--json", "--data", data)
    shown = json.loads("\n".join(out))
    assert [f["sha256"] for f in shown["files"]] == [sha256(wheel)]
    code, out, err = run(capsys, "stage", "create", "acme/tools", "rc1", "--data", data)
    assert code == 1 and "open stage named 'rc1'" in err
    code, out, _ = run(capsys, "stage", "publish", "acme/tools", "rc1", "--data", data)
    assert code == 0 and out[-1].strip() == wheel_name("app", "1.0")
    assert registry.catalog.file_links([project.id], "app")[0].sha256 == sha256(wheel)
    code, _, err = run(capsys, "stage", "publish", "acme/tools", "rc1", "--data", data)
    assert code == 1 and "was published" in err
    code, _, err = run(capsys, "stage", "discard", "acme/tools", "nope", "--data", data)
    assert code == 1 and "no stage 'nope'" in err
    run(capsys, "stage", "create", "acme/tools", "rc2", "--data", data)
    code, out, _ = run(capsys, "stage", "discard", "acme/tools", "rc2", "--data", data)
    assert code == 0 and out == ["discarded stage rc2 of acme/tools"]
    events = [e.event_name for e in registry.audit_events()[0]]
    assert events.count("stage_created") == 2 and "stage_published" in events


def test_the_project_page_shows_open_stages_to_those_who_may_read_them(tmp_path) -> None:
    registry = pypireg.create_app(tmp_path / "data")
    env = Env(registry)
    site = TestApp(pypireg.site(registry))
    html = {"Accept": "text/html"}
    create(env, api=PRIVATE)
    stage_upload(env, wheel_name("app", "1.0"), wheel_bytes("app", "1.0"), api=PRIVATE)
    page = site.get("/acme/team/secret", headers={**html, **basic(env.reader)})
    rows = [[td.text for td in tr.select("td")] for tr in page.html.select(".stages tbody tr")]
    assert [row[:2] for row in rows] == [["rc1", "1"]]
    assert rows[0][3].endswith("/stages/rc1/simple/")
    site.get("/acme/team/secret", headers=html, status=401)
    env.app.post(f"{PRIVATE}/stages/rc1/publish", headers=basic(env.writer))
    page = site.get("/acme/team/secret", headers={**html, **basic(env.reader)})
    assert not page.html.select(".stages")
    assert "app" in page.text


def test_a_staged_name_is_never_taken_from_upstream(tmp_path) -> None:
    """While ``internal`` waits in a stage, the project's page for it must not redirect to
    a public index's ``internal`` (dependency confusion)."""
    registry = pypireg.create_app(upstream="https://pypi.example/simple/")
    env = Env(registry)
    env.app.get(f"{API}/simple/internal/", status=302)
    create(env)
    stage_upload(env, wheel_name("internal", "1.0"), wheel_bytes("internal", "1.0"))
    env.app.get(f"{API}/simple/internal/", status=404)
