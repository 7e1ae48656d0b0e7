"""Webhooks against ``pypireg serve`` with real clients (docs/webhooks.md): one signed
delivery per change, verified with the ``standardwebhooks`` package; a receiver that is
down for a while gets every event, in order, once it is up; a registry process killed
after a change committed, before its delivery: the event still arrives, once."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from ..helpers import basic
from ..receivers import receiver, until
from ..upstreams import free_port
from .live import Clients, serve_command, upload_form


def call(url: str, token: str, *, method: str = "GET", body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, object]:
    sent = urllib.request.Request(url, data=body, method=method,
                                  headers={**basic(token), "Content-Type": content_type})
    try:
        with urllib.request.urlopen(sent, timeout=60) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def setup(data: Path) -> tuple[str, str]:
    """A registry in ``data`` with a public acme/tools, a token that may delete in acme
    (its hooks' owner), and one that may upload; made with the command line."""
    def cli(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "pypireg", *argv, "--data", str(data)],
                              capture_output=True, text=True, check=True)
        return done.stdout.splitlines()[-1]

    cli("init")
    cli("group", "create", "acme", "--public")
    cli("project", "create", "acme/tools", "--public")
    return (cli("token", "create", "owner", "--grant", "acme:delete"),
            cli("token", "create", "ci", "--grant", "acme/tools:write"))


def upload(api: str, token: str, version: str) -> None:
    form, content_type = upload_form("app", version)
    status, answer = call(f"{api}/projects/acme%2Ftools/packages/pypi", token, method="POST",
                          body=form, content_type=content_type)
    assert status == 201, answer


def test_each_change_sends_one_signed_delivery(tmp_path: Path, clients: Clients,
                                               greet_dists) -> None:
    owner, ci = setup(tmp_path / "data")
    with receiver() as inbox, serve_command("--data", str(tmp_path / "data"),
                                            "--hooks-allow-local") as (api, _):
        status, hook = call(f"{api}/groups/acme/hooks", owner, method="POST",
                            body=json.dumps({"url": inbox.url + "/in"}).encode())
        assert status == 201, hook
        secret = hook["secret"]  # type: ignore[index]
        clients.twine_upload(f"{api}/projects/acme%2Ftools/packages/pypi", ci,
                             *greet_dists["1.0"])
        published = [inbox.next().verified(secret) for _ in greet_dists["1.0"]]
        assert {e["type"] for e in published} == {"package.published"}
        files = sorted(f["file_name"] for e in published for f in e["data"]["files"])
        assert files == sorted(p.name for p in greet_dists["1.0"])
        for event in published:  # each file's URL downloads it
            url = event["data"]["files"][0]["url"]
            with urllib.request.urlopen(url, timeout=60) as answer:
                assert answer.status == 200
        status, packages = call(f"{api}/projects/acme%2Ftools/packages", ci)
        package_id = packages[0]["id"]  # type: ignore[index]
        assert call(f"{api}/projects/acme%2Ftools/packages/{package_id}/yank", owner,
                    method="PUT", body=b'{"reason": "broken"}')[0] == 200
        yanked = inbox.next().verified(secret)
        assert (yanked["type"], yanked["data"]["reason"]) == ("package.yanked", "broken")
        assert call(f"{api}/projects/acme%2Ftools/packages/{package_id}", owner,
                    method="DELETE")[0] == 204
        assert inbox.next().verified(secret)["type"] == "package.deleted"
        deliveries = f"{api}/groups/acme/hooks/{hook['id']}/deliveries"  # type: ignore[index]
        until(lambda: all(d["status"] == "delivered" for d in call(deliveries, owner)[1]),
              "every delivery recorded as delivered")
        listed = call(deliveries, owner)[1]
        assert len(listed) == len(greet_dists["1.0"]) + 2  # type: ignore[arg-type]
        assert inbox.nothing_more()  # exactly one delivery per change


def test_a_receiver_down_for_a_while_gets_every_event_in_order(tmp_path: Path) -> None:
    owner, ci = setup(tmp_path / "data")
    port = free_port()  # the receiver's, before it listens
    with serve_command("--data", str(tmp_path / "data"), "--hooks-allow-local") as (api, _):
        status, hook = call(f"{api}/projects/acme%2Ftools/hooks", owner, method="POST",
                            body=json.dumps({"url": f"http://127.0.0.1:{port}/in",
                                             "events": ["package.published"]}).encode())
        assert status == 201
        for version in ("1.0", "1.1", "1.2"):
            upload(api, ci, version)
        deliveries = f"{api}/projects/acme%2Ftools/hooks/{hook['id']}/deliveries"  # type: ignore[index]

        def first_failed() -> bool:
            listed = call(deliveries, owner)[1]
            return any(d["attempts"] >= 1 for d in listed)  # type: ignore[union-attr]

        until(first_failed, "a first attempt, refused")
        with receiver(port) as inbox:
            versions = [inbox.next().verified(hook["secret"])["data"]["version"]  # type: ignore[index]
                        for _ in range(3)]
            assert versions == ["1.0", "1.1", "1.2"]
            until(lambda: all(d["status"] == "delivered" for d in call(deliveries, owner)[1]),
                  "every delivery recorded as delivered")
            assert inbox.nothing_more()
        listed = call(deliveries, owner)[1]
        oldest = listed[-1]  # type: ignore[index]
        assert oldest["attempts"] >= 2
        assert oldest["attempt_log"][0]["status_code"] is None  # refused: nobody listened
        assert oldest["attempt_log"][-1]["status_code"] == 200


def test_a_process_killed_before_delivering_leaves_its_event_to_the_next(tmp_path: Path
                                                                         ) -> None:
    owner, ci = setup(tmp_path / "data")
    port = free_port()
    started: list[subprocess.Popen[str]] = []
    with serve_command("--data", str(tmp_path / "data"), "--hooks-allow-local",
                       started=started) as (api, _):
        status, hook = call(f"{api}/projects/acme%2Ftools/hooks", owner, method="POST",
                            body=json.dumps({"url": f"http://127.0.0.1:{port}/in"}).encode())
        assert status == 201
        upload(api, ci, "1.0")
        deliveries = f"/projects/acme%2Ftools/hooks/{hook['id']}/deliveries"  # type: ignore[index]
        until(lambda: call(api + deliveries, owner)[1][0]["attempts"] >= 1,  # type: ignore[index]
              "a first attempt, refused")
        started[0].kill()  # no chance to send it again
        started[0].wait(timeout=30)
    with receiver(port) as inbox, serve_command("--data", str(tmp_path / "data"),
                                                "--hooks-allow-local") as (api, _):
        event = inbox.next().verified(hook["secret"])  # type: ignore[index]
        assert (event["type"], event["data"]["version"]) == ("package.published", "1.0")
        until(lambda: call(api + deliveries, owner)[1][0]["status"] == "delivered",  # type: ignore[index]
              "the delivery recorded as delivered")
        assert inbox.nothing_more()
