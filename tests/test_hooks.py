"""Webhooks in-process, on both catalog engines, against a live receiver on 127.0.0.1: the
events each change sends and their bodies, signatures a Standard Webhooks receiver
verifies, delivery after the commit and never inside the request, retries in order,
giving up and disabling, one delivery per event among several senders, the guard against
internal addresses, the API and its access rules, the command line and gc.
tests/e2e/test_webhooks.py drives ``pypireg serve`` with real clients."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from webtest import TestApp

import pypireg
from pypireg.hooks.deliverer import Deliverer
from pypireg.times import ago

from .distributions import wheel_bytes, wheel_name
from .helpers import Env, basic, run, sha256
from .receivers import Receiver, receiver, until

HOOKS = "/projects/acme%2Ftools/hooks"
GROUP_HOOKS = "/groups/acme/hooks"
PRIVATE = "/projects/acme%2Fteam%2Fsecret/hooks"
ALL = ["package.published", "package.deleted", "file.deleted", "package.yanked",
       "package.unyanked", "status.changed", "protection.changed"]


class Local(Env):
    """A registry whose hooks may post to 127.0.0.1, where the tests' receivers are, with
    a token that may delete in the whole acme group: its hooks' owner."""

    def __init__(self, registry: pypireg.Registry) -> None:
        super().__init__(registry)
        self.owner = registry.create_token("owner", ["acme:delete"])


@pytest.fixture
def local(tmp_path, catalog) -> Iterator[Local]:
    made = Local(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path / "staging"),
                                    hooks_allow_local=True))
    yield made
    made.registry.deliverer.stop()  # before the catalog closes


@pytest.fixture
def inbox() -> Receiver:
    with receiver() as got:
        yield got


def add(env: Env, url: str, path: str = HOOKS, token: str | None = None, **fields):
    """POST a hook (by ``env``'s owner, else the deleter of acme/team)."""
    return env.app.post_json(path, {"url": url, **fields},
                             headers=basic(token or getattr(env, "owner", env.deleter)),
                             status="*")


# -- what each change sends ---------------------------------------------------------------------


def test_each_change_sends_its_event_signed_to_project_and_group_hooks(local: Local,
                                                                       inbox: Receiver) -> None:
    made = add(local, inbox.url + "/project").json
    assert made["events"] == ALL and made["secret"].startswith("whsec_")
    group = add(local, inbox.url + "/group", GROUP_HOOKS, events=["package.published"]).json
    secrets = {"/project": made["secret"], "/group": group["secret"]}
    registry = local.registry
    data = wheel_bytes("app", "1.0")
    local.upload("acme/tools", wheel_name("app", "1.0"), data, token=local.writer, status=201,
                 name="app", version="1.0")
    got = {d.path: d for d in (inbox.next(), inbox.next())}
    assert set(got) == {"/project", "/group"}
    for path, delivery in got.items():
        body = delivery.verified(secrets[path])
        assert body["type"] == "package.published"
        assert body["data"]["project"] == {"id": local.public.id, "path": "acme/tools"}
        assert body["data"]["actor"] == {"name": "writer", "kind": "personal"}
        assert (body["data"]["package"], body["data"]["version"]) == ("app", "1.0")
        [file] = body["data"]["files"]
        assert (file["file_name"], file["sha256"], file["size"]) == (
            wheel_name("app", "1.0"), sha256(data), len(data))
        assert local.app.get(file["url"]).body == data  # the URL downloads the file
    assert got["/project"].headers["webhook-id"] != got["/group"].headers["webhook-id"]
    # The others reach the project's hook only (the group's asked for publishing alone).
    registry.yank("acme/tools", "app", "1.0", reason="broken")
    registry.unyank("acme/tools", "app", "1.0")
    registry.set_name_status(local.public, "app", "deprecated", reason="use app2")
    rule = registry.add_protection_rule(local.public, package_name_pattern="app*",
                                        package_type="pypi",
                                        minimum_access_level_for_push="maintainer")
    package = registry.catalog.live_package(local.public.id, "app", "1")
    files = registry.catalog.package_files(package.id, limit=10, offset=0)[0]
    registry.delete_package_file(package, files[0])
    registry.delete_package(package)
    events = [inbox.next().verified(made["secret"]) for _ in range(6)]
    assert [e["type"] for e in events] == ["package.yanked", "package.unyanked",
                                           "status.changed", "protection.changed",
                                           "file.deleted", "package.deleted"]
    assert events[0]["data"]["reason"] == "broken"
    assert events[2]["data"]["status"] == "deprecated"
    assert events[2]["data"]["previous_status"] == "active"
    assert events[3]["data"]["change"] == "created"
    assert events[3]["data"]["rule"]["id"] == rule.id
    assert events[4]["data"]["files"] == [{"file_name": wheel_name("app", "1.0"),
                                           "sha256": sha256(data)}]
    assert events[5]["data"]["actor"] == {"name": "host", "kind": "host"}
    assert inbox.nothing_more()


def test_a_stage_published_is_one_event_per_version(local: Local, inbox: Receiver) -> None:
    made = add(local, inbox.url, events=["package.published"]).json
    registry = local.registry
    registry.create_stage(local.public, "rc")
    api = "/projects/acme%2Ftools/packages/pypi/stages/rc"
    for name, version in (("app", "2.0"), ("lib", "1.0")):
        local.app.post(api, params=[("name", name), ("version", version)],
                       upload_files=[("content", wheel_name(name, version),
                                      wheel_bytes(name, version))],
                       headers=basic(local.writer), status=201)
    assert inbox.nothing_more()  # staged files are not published
    local.app.post(f"{api}/publish", headers=basic(local.writer))
    events = sorted((inbox.next().verified(made["secret"]) for _ in range(2)),
                    key=lambda e: e["data"]["package"])
    assert [(e["data"]["package"], e["data"]["version"], e["data"]["stage"]) for e in events] == [
        ("app", "2.0", "rc"), ("lib", "1.0", "rc")]
    assert [f["file_name"] for f in events[0]["data"]["files"]] == [wheel_name("app", "2.0")]


def test_delivery_comes_after_the_commit_never_inside_the_request(local: Local,
                                                                  inbox: Receiver) -> None:
    add(local, inbox.url)
    inbox.hold = threading.Event()  # the receiver answers nothing until let go
    local.upload_wheel("acme/tools", "app", "1.0", token=local.writer, status=201)
    inbox.hold.set()  # the upload was answered while its delivery waited
    assert inbox.next().event["type"] == "package.published"


def test_a_refused_change_sends_nothing(local: Local, inbox: Receiver) -> None:
    add(local, inbox.url)
    local.upload_wheel("acme/tools", "app", "1.0", token=local.writer, status=201)
    inbox.next()
    other = wheel_bytes("app", "1.0", payload="other")
    local.upload("acme/tools", wheel_name("app", "1.0"), other, token=local.writer, status=400,
                 name="app", version="1.0")
    local.registry.test_hook(local.public, 1)  # a delivery that does arrive, after it
    assert inbox.next().event["type"] == "hook.test"


# -- retries, order, giving up ----------------------------------------------------------------


def test_failed_deliveries_are_retried_in_order(local: Local, inbox: Receiver) -> None:
    made = add(local, inbox.url).json
    local.registry.deliverer.delays = (0.2,)
    inbox.statuses = [503, 500]
    for version in ("1.0", "1.1", "1.2"):
        local.upload_wheel("acme/tools", "app", version, token=local.writer, status=201)
    arrived = [inbox.next() for _ in range(5)]  # two refused, then the three in order
    versions = [d.event["data"]["version"] for d in arrived]
    assert versions == ["1.0", "1.0", "1.0", "1.1", "1.2"]
    assert len({d.headers["webhook-id"] for d in arrived[:3]}) == 1  # one message, retried
    listed = local.app.get(f"{HOOKS}/{made['id']}/deliveries",
                           headers=basic(local.owner)).json
    first = next(d for d in listed if d["attempts"] == 3)
    assert [a["status_code"] for a in first["attempt_log"]] == [503, 500, 200]
    assert first["status"] == "delivered" and first["last_status"] == 200
    assert local.registry.hook(local.public, made["id"]).failing_since is None


def test_a_redirect_is_not_followed(local: Local, inbox: Receiver) -> None:
    add(local, inbox.url + "/in")
    local.registry.deliverer.delays = (3600,)
    inbox.statuses = [302]
    local.upload_wheel("acme/tools", "app", "1.0", token=local.writer, status=201)
    assert inbox.next().path == "/in"
    [delivery], _ = local.registry.hook_deliveries(local.public, 1)
    until(lambda: local.registry.hook_deliveries(local.public, 1)[0][0].attempts == 1,
          "the sender's record")
    [delivery], _ = local.registry.hook_deliveries(local.public, 1)
    assert (delivery.status, delivery.last_status) == ("pending", 302)
    assert all(d.path == "/in" for d in inbox.got)  # never /in/elsewhere


def test_a_day_of_failures_gives_up_and_disables_the_hook(local: Local, inbox: Receiver) -> None:
    made = add(local, inbox.url).json
    registry = local.registry
    inbox.statuses = [500] * 10
    registry.deliverer.delays = (3600,)
    local.upload_wheel("acme/tools", "app", "1.0", token=local.writer, status=201)
    inbox.next()
    until(lambda: registry.hook(local.public, made["id"]).failing_since is not None,
          "the sender's record")
    local.upload_wheel("acme/tools", "app", "1.1", token=local.writer, status=201)
    # A day later, the first delivery's next attempt fails too.
    registry.catalog.run("UPDATE hooks SET failing_since = ?", [ago(timedelta(days=1, hours=1))])
    registry.catalog.run("UPDATE hook_deliveries SET next_attempt_at = created_at")
    registry.deliverer.wake()
    inbox.next()
    until(lambda: not registry.hook(local.public, made["id"]).enabled,
          "the sender's record")
    shown = local.app.get(f"{HOOKS}/{made['id']}", headers=basic(local.owner)).json
    assert shown["enabled"] is False
    assert "every delivery has failed since" in shown["disabled_reason"]
    deliveries, _ = registry.hook_deliveries(local.public, made["id"])
    assert {d.status for d in deliveries} == {"failed"}
    local.upload_wheel("acme/tools", "app", "1.2", token=local.writer, status=201)
    assert registry.hook_deliveries(local.public, made["id"])[1] == 2  # none queued
    # Enabled again, it starts afresh.
    local.app.put_json(f"{HOOKS}/{made['id']}", {"enabled": True},
                       headers=basic(local.owner))
    assert registry.hook(local.public, made["id"]).disabled_reason is None


def test_a_delivery_failing_for_a_day_is_given_up(local: Local, inbox: Receiver) -> None:
    add(local, inbox.url)
    registry = local.registry
    inbox.statuses = [500, 500]
    registry.deliverer.delays = (3600,)
    local.upload_wheel("acme/tools", "app", "1.0", token=local.writer, status=201)
    inbox.next()
    until(lambda: registry.hook_deliveries(local.public, 1)[0][0].attempts == 1,
          "the sender's record")
    registry.catalog.run("UPDATE hook_deliveries SET created_at = ?, next_attempt_at = ?",
                         [ago(timedelta(days=1, minutes=1)), ago(timedelta(minutes=1))])
    registry.deliverer.wake()
    inbox.next()
    until(lambda: registry.hook_deliveries(local.public, 1)[0][0].status == "failed",
          "the sender's record")
    assert registry.hook(local.public, 1).enabled  # the hook itself failed for minutes


def test_several_senders_deliver_each_event_once(local: Local, inbox: Receiver) -> None:
    """Deliverers of several processes share the queue: each claims what it sends."""
    add(local, inbox.url)
    registry = local.registry
    registry.deliverer.stop()  # this registry's own sender stays out of it
    for version in ("1.0", "1.1", "1.2", "1.3"):
        local.upload_wheel("acme/tools", "app", version, token=local.writer, status=201)
    senders = [Deliverer(registry.catalog, allow_local=True) for _ in range(3)]
    start = threading.Barrier(len(senders))

    def drain(sender: Deliverer) -> None:
        start.wait()
        while sender.deliver_due():
            pass

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    versions = [inbox.next().event["data"]["version"] for _ in range(4)]
    assert versions == ["1.0", "1.1", "1.2", "1.3"]
    assert inbox.nothing_more()


# -- the guard against internal addresses ------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://localhost:8080/x",
                                 "http://10.1.2.3/x", "http://169.254.169.254/latest",
                                 "http://[::1]/x", "http://127.1/x", "http://2130706433/x",
                                 "http://192.168.0.1/x"])
def test_internal_addresses_are_refused(env: Env, url: str) -> None:
    refused = add(env, url, PRIVATE)
    assert refused.status_int == 400
    assert "hooks_allow_local" in refused.json["message"]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http:///x",
                                 "https://user:pw@example.com/x", "http://x.example:99999/",
                                 "https://example.com/" + "a" * 3000])
def test_urls_a_hook_cannot_have(env: Env, url: str) -> None:
    assert add(env, url, PRIVATE).status_int == 400


def test_a_name_that_resolves_inside_is_refused_at_delivery(env: Env, inbox: Receiver,
                                                            monkeypatch) -> None:
    """DNS cannot run here: the lookup of one name is made to answer 127.0.0.1."""
    import socket

    from pypireg.hooks import sender

    real = socket.getaddrinfo

    def lookup(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        return real("127.0.0.1" if host == "inside.example" else host, port, *args, **kwargs)

    monkeypatch.setattr(sender.socket, "getaddrinfo", lookup)
    port = inbox.url.rsplit(":", 1)[1]
    made = add(env, f"http://inside.example:{port}/x", PRIVATE).json
    delivery = env.registry.test_hook(env.private, made["id"])
    assert delivery.status == "failed"
    assert "resolves inside this host's networks" in delivery.last_error
    assert inbox.got == []


# -- the API, the command line, gc --------------------------------------------------------------


def test_who_may_manage_hooks(env: Env) -> None:
    url = "https://hooks.example/in"
    assert env.app.get(HOOKS, status=401).headers["WWW-Authenticate"]
    env.app.get(HOOKS, headers=basic(env.writer), status=403)
    private = PRIVATE
    env.app.get(private, headers=basic(env.outsider), status=404)
    made = env.app.post_json(private, {"url": url}, headers=basic(env.deleter), status=201).json
    listed = env.app.get(private, headers=basic(env.deleter)).json
    assert [h["id"] for h in listed] == [made["id"]] and "secret" not in listed[0]
    assert "secret" not in env.app.get(f"{private}/{made['id']}",
                                       headers=basic(env.deleter)).json
    # A group's hooks need delete on the whole group; a project's hook is not the group's.
    env.app.get("/groups/acme/team/hooks", headers=basic(env.deleter))
    env.app.get("/groups/acme/hooks", headers=basic(env.deleter), status=403)
    env.app.get(f"/groups/acme%2Fteam/hooks/{made['id']}", headers=basic(env.deleter),
                status=404)
    for bad in ({"url": 5}, {}, {"url": url, "events": "package.published"},
                {"url": url, "events": []}, {"url": url, "events": ["push"]}):
        env.app.post_json(private, bad, headers=basic(env.deleter), status=400)
    edited = env.app.put_json(f"{private}/{made['id']}", {"events": ["package.deleted"]},
                              headers=basic(env.deleter)).json
    assert edited["events"] == ["package.deleted"]
    env.app.put_json(f"{private}/{made['id']}", {"enabled": "no"}, headers=basic(env.deleter),
                     status=400)
    env.app.get(f"{private}/nope", headers=basic(env.deleter), status=404)
    env.app.get(f"{private}/99999999999999999999999", headers=basic(env.deleter), status=404)
    env.app.delete(f"{private}/{made['id']}", headers=basic(env.deleter), status=204)
    env.app.delete(f"{private}/{made['id']}", headers=basic(env.deleter), status=404)
    events = [e.event_name for e in env.registry.audit_events()[0]]
    assert {"hook_created", "hook_updated", "hook_deleted"} <= set(events)


def test_the_hook_commands(tmp_path, capsys) -> None:
    data = str(tmp_path / "data")
    registry = pypireg.create_app(data)
    registry.create_group("acme", "public")
    registry.create_project("acme/tools", "public")
    with receiver() as got:
        code, out, err = run(capsys, "hook", "add", "acme", got.url, "--data", data)
        assert code == 1 and "hooks_allow_local" in err
        code, out, _ = run(capsys, "hook", "add", "acme", got.url, "--event",
                           "package.deleted", "--hooks-allow-local", "--data", data)
        hook_id, secret = out[-2], out[-1]
        assert code == 0 and secret.startswith("whsec_")
        code, out, _ = run(capsys, "hook", "list", "acme", "--data", data)
        assert out[1].split()[:4] == [hook_id, got.url, "package.deleted", "yes"]
        code, out, _ = run(capsys, "hook", "test", "acme", hook_id, "--hooks-allow-local",
                           "--data", data)
        assert code == 0 and out[0].startswith("delivered")
        assert got.next().verified(secret)["type"] == "hook.test"
        code, out, _ = run(capsys, "hook", "deliveries", "acme", hook_id, "--data", data)
        assert out[1].split()[1:4] == ["hook.test", "delivered", "1"]
        code, out, _ = run(capsys, "hook", "remove", "acme", hook_id, "--data", data)
        assert code == 0
        code, _, err = run(capsys, "hook", "remove", "acme", hook_id, "--data", data)
        assert code == 1 and f"no hook {hook_id}" in err


def test_gc_forgets_old_deliveries_and_the_hooks_of_deleted_projects(local: Local,
                                                                     inbox: Receiver) -> None:
    registry = local.registry
    add(local, inbox.url)
    local.upload_wheel("acme/tools", "app", "1.0", token=local.writer, status=201)
    inbox.next()
    until(lambda: registry.hook_deliveries(local.public, 1)[0][0].status == "delivered",
          "the sender's record")
    assert registry.collect_garbage().hook_deliveries == 0
    registry.catalog.run("UPDATE hook_deliveries SET created_at = ?",
                         [ago(timedelta(days=31))])
    assert registry.collect_garbage().hook_deliveries == 1
    registry.delete_namespace("acme/tools", force=True)
    registry.collect_garbage()
    assert registry.catalog.value("SELECT count(*) FROM hooks") == 0


# -- what the review of a sender's edges found -----------------------------------------------


def test_a_receiver_that_answers_a_byte_at_a_time_is_cut_off(monkeypatch) -> None:
    """The whole exchange has a deadline, not each read: a receiver that trickles its
    answer cannot hold a sender (and every delivery queued behind it) for long."""
    import socket

    from pypireg.hooks import sender

    monkeypatch.setattr(sender, "DEADLINE", 1.0)
    server = socket.create_server(("127.0.0.1", 0))
    release = threading.Event()

    def trickle() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        while not release.wait(0.2):  # a header byte now and then, never the end
            try:
                connection.sendall(b"X")
            except OSError:
                break
        connection.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        sent = sender.post(f"http://127.0.0.1:{server.getsockname()[1]}/", {}, b"{}",
                           allow_local=True)
    finally:
        release.set()
        server.close()
        thread.join(timeout=10)
    assert sent.status is None and sent.error == "no answer within 1 s"
    assert sent.duration_ms < 5000


@pytest.mark.parametrize("url", ["https://a..example.com/x", "https://" + "a" * 64 + ".com/",
                                 "http://100.100.100.200/latest", "http://[2002:a00:5::1]/x",
                                 "http://[::ffff:10.0.0.1]/x", "http://0.0.0.0/x"])
def test_hosts_a_sender_cannot_reach_are_refused_when_added(env: Env, url: str) -> None:
    assert add(env, url, PRIVATE).status_int == 400


def test_a_send_never_raises(env: Env) -> None:
    from pypireg.hooks.sender import post

    for url in ("https://a..example.com/", "http://[::1/", "http://256.1.1.1:0/"):
        sent = post(url, {}, b"{}", allow_local=False)
        assert sent.status is None and sent.error


def test_the_owner_of_an_empty_group_manages_its_hooks(env: Env) -> None:
    registry = env.registry
    registry.create_group("empty", "private")
    owner = registry.create_token("owner", ["empty:delete"])
    made = env.app.post_json("/groups/empty/hooks", {"url": "https://hooks.example/in"},
                             headers=basic(owner), status=201).json
    assert env.app.get("/groups/empty/hooks", headers=basic(owner)).json[0]["id"] == made["id"]
    env.app.get("/groups/empty/hooks", headers=basic(env.reader), status=404)
    env.app.get("/groups/empty/hooks", status=401)


def test_only_the_holder_of_a_claim_records_its_attempt(local: Local, inbox: Receiver) -> None:
    made = add(local, inbox.url).json
    registry = local.registry
    registry.deliverer.stop()
    local.upload_wheel("acme/tools", "app", "1.0", token=local.writer, status=201)
    catalog = registry.catalog
    [(delivery, _)] = catalog.claim_deliveries(ago(timedelta(0)), ago(timedelta(seconds=-60)),
                                               "one", 1)
    assert not catalog.record_attempt(delivery, now=ago(timedelta(0)), status_code=200,
                                      error=None, duration_ms=1, outcome="delivered",
                                      next_attempt_at=None, claimant="another")
    assert catalog.delivery(delivery.id).status == "pending"
    assert catalog.attempts([delivery.id]) == {delivery.id: []}
    # A hook removed while its delivery was in flight: nothing to record, nothing raised.
    local.app.delete(f"{HOOKS}/{made['id']}", headers=basic(local.owner), status=204)
    Deliverer(catalog, allow_local=True).attempt(delivery, registry.catalog.hook(made["id"])
                                                 or _removed(made), retry=True)


def _removed(made: dict) -> object:  # type: ignore[type-arg]
    from pypireg.records import Hook

    return Hook(made["id"], made["project_id"], None, made["url"], made["secret"],
                tuple(made["events"]), True, made["created_at"])


def test_the_command_line_leaves_deliveries_to_the_servers(tmp_path, capsys) -> None:
    data = str(tmp_path / "data")
    registry = pypireg.create_app(data, hooks_allow_local=True)
    registry.create_group("acme", "public")
    project = registry.create_project("acme/tools", "public")
    registry.deliverer.stop()
    with receiver() as got:
        hook = registry.add_hook(project, got.url)
        TestApp(registry).post(
            "/projects/acme%2Ftools/packages/pypi", params=[("name", "app"), ("version", "1.0")],
            upload_files=[("content", wheel_name("app", "1.0"), wheel_bytes("app", "1.0"))],
            headers=basic(registry.create_token("ci", ["acme/tools:write"])), status=201)
        code, _, _ = run(capsys, "yank", "acme/tools", "app", "1.0", "--data", data)
        assert code == 0
        deliveries, total = registry.hook_deliveries(project, hook.id)
        assert total == 2 and {d.attempts for d in deliveries} == {0}
        assert got.got == []  # nothing was sent by the command
        server = Deliverer(registry.catalog, allow_local=True)
        server.serve()  # as pypireg serve starts: what is pending goes
        try:
            assert [got.next().event["type"] for _ in range(2)] == ["package.published",
                                                                     "package.yanked"]
        finally:
            server.stop()
