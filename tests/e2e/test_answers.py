"""What real clients show of the registry's refusals: a token that expired, a read-only
token publishing, a write-only token deleting, and an upload sent to the index URL. twine,
uv publish and python-gitlab print the server's message; pip and uv show a 401 on an index
as their own words ("credentials not correct"), so for installs the test checks only that
they fail without installing anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ..helpers import missing
from .live import BIN, LiveRegistry, client_env, run

PROJECT = "acme/tools"


@pytest.fixture
def tokens(live: LiveRegistry) -> dict[str, str]:
    registry = live.registry
    registry.create_group("acme", "private")
    registry.create_project(PROJECT, "private")
    made = {
        "reader": registry.create_token("reader", [f"{PROJECT}:read"]),
        "writer": registry.create_token("writer", [f"{PROJECT}:write"]),
        "expired": registry.create_token("old", [f"{PROJECT}:delete"],
                                         expires_at="2099-01-01T00:00:00.000Z"),
    }
    with registry.catalog.write():  # as if the token had lived its life
        registry.catalog.run("UPDATE tokens SET expires_at = ? WHERE name = 'old'",
                             ["2026-01-02T00:00:00.000Z"])
    return made


EXPIRED = "the token expired at 2026-01-02T00:00:00.000Z: create a new one"
READ_ONLY = "this needs write access to acme/tools, which the credentials sent do not have"
WRITE_ONLY = "this needs delete access to acme/tools, which the credentials sent do not have"


def publish(tool: str, url: str, token: str, files: list[Path], tmp: Path) -> str:
    if tool == "twine":
        argv = [str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
                "--repository-url", url, "-u", "__token__", "-p", token]
    else:
        argv = [str(BIN / "uv"), "publish", "--publish-url", url, "-u", "__token__", "-p",
                token]
    said = run([*argv, *map(str, files)], client_env(tmp), check=False)
    assert said.returncode != 0
    return " ".join((said.stdout + said.stderr).split())  # twine wraps its lines


@pytest.mark.parametrize("tool", ["twine", "uv"])
def test_publishers_print_why_they_were_refused(live, tokens, tool, greet_dists,
                                                tmp_path) -> None:
    files = greet_dists["1.0"]
    upload = live.upload_url("acme%2Ftools")
    assert EXPIRED in publish(tool, upload, tokens["expired"], files, tmp_path)
    assert READ_ONLY in publish(tool, upload, tokens["reader"], files, tmp_path)
    shown = publish(tool, f"{upload}/simple", tokens["writer"], files, tmp_path)
    assert ("this is an index, which installers read: publish to"
            f" {live.upload_url('acme/tools')}") in shown
    assert live.registry.catalog.value("SELECT count(*) FROM package_files") == 0


def test_python_gitlab_prints_why_it_was_refused(live, tokens, greet_dists, tmp_path) -> None:
    try:
        import gitlab
    except ImportError:  # the test extra has it: CI, which installs that, must run this
        missing("python-gitlab", "pip install python-gitlab")
    run([str(BIN / "twine"), "upload", "--non-interactive", "--repository-url",
         live.upload_url("acme%2Ftools"), "-u", "__token__", "-p", tokens["writer"],
         *map(str, greet_dists["1.0"])], client_env(tmp_path))
    server = live.url.removesuffix("/api/v4")

    expired = gitlab.Gitlab(server, private_token=tokens["expired"])
    with pytest.raises(gitlab.GitlabAuthenticationError) as refused:
        expired.projects.get(PROJECT, lazy=True).packages.list(get_all=True)
    assert EXPIRED in str(refused.value)

    writer = gitlab.Gitlab(server, private_token=tokens["writer"]).projects.get(
        PROJECT, lazy=True)
    (package,) = writer.packages.list(get_all=True)
    with pytest.raises(gitlab.GitlabDeleteError) as refused:
        package.delete()
    assert refused.value.response_code == 403
    assert WRITE_ONLY in str(refused.value)


@pytest.mark.parametrize("tool", ["pip", "uv"])
def test_installers_refuse_an_expired_token(live, tokens, tool, greet_dists,
                                            tmp_path) -> None:
    run([str(BIN / "twine"), "upload", "--non-interactive", "--repository-url",
         live.upload_url("acme%2Ftools"), "-u", "__token__", "-p", tokens["writer"],
         *map(str, greet_dists["1.0"])], client_env(tmp_path))
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    index = live.index("acme%2Ftools", tokens["expired"])
    argv = ([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
             "--index-url", index, "Acme.Greet"] if tool == "pip" else
            [str(BIN / "uv"), "pip", "install", "--python", str(venv / "bin" / "python"),
             "--index-url", index, "Acme.Greet"])
    said = run(argv, client_env(tmp_path), check=False)
    assert said.returncode != 0
    assert "401" in said.stdout + said.stderr
    assert live.statuses("/simple/acme-greet/") == {401}
