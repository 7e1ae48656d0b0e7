"""Every command's expected failures are one line that says what is wrong (and what to do),
with a non-zero exit: never a traceback, never a Python name in place of an option."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from pypireg.cli import _parser, main

# Each: the command (run with --data of a registry holding the private group acme, its
# project acme/tools and a token named ci), and words its one line of error must hold.
CASES = [
    (["group", "create", "acme"], "'acme' already exists"),
    (["group", "create", "a b"], "not a valid path"),
    (["group", "create", "x/y"], "parent group 'x' of 'x/y' does not exist"),
    (["group", "delete", "nosuch"], "no group 'nosuch'"),
    (["group", "delete", "99"], "no group '99'"),
    (["project", "create", "acme/tools"], "'acme/tools' already exists"),
    (["project", "show", "nosuch"], "no project 'nosuch'"),
    (["project", "delete", "99"], "no project '99'"),
    (["project", "set-visibility", "acme/tools", "public"], "cannot be public inside private"),
    (["project", "cleanup-policy", "acme/tools", "--keep-n-latest-versions", "0"],
     "--keep-n-latest-versions is invalid: a whole number from 1 to"),
    (["project", "cleanup-policy", "acme/tools", "--older-than", "forever"],
     "--older-than is invalid"),
    (["token", "create", "ci", "--grant", "acme/tools:read"],
     "an active personal token is already named 'ci'"),
    (["token", "create", "new", "--grant", "nowhere:read"], "no group or project at"),
    (["token", "create", "new", "--grant", "acme:read", "--expires-in", "3"],
     "must look like 12h, 30d or 8w"),
    (["token", "revoke", "999"], "no token with id 999"),
    (["token", "rotate", "999"], "no token with id 999"),
    (["audit", "--since", "yesterday"], "--since 'yesterday' must be"),
    (["audit", "--project", "nosuch"], "no project 'nosuch'"),
    (["status", "acme/tools", "never-held"], "no package named 'never-held' in acme/tools"),
    (["status", "acme/tools", "never-held", "archived"], "no package named 'never-held'"),
    (["status", "nosuch"], "no project 'nosuch'"),
    (["protect", "add", "acme/tools", "pkg*"], "a rule needs --push LEVEL, --delete LEVEL"),
    (["protect", "remove", "acme/tools", "999"], "no protection rule 999 in acme/tools"),
    (["import", "nosuchdir", "--project", "acme/tools"], "'nosuchdir' is not a directory"),
    (["yank", "acme/tools", "nosuch", "1.0"], "no version 1.0 of 'nosuch' in acme/tools"),
    (["unyank", "acme/tools", "nosuch", "1.0"], "no version 1.0 of 'nosuch' in acme/tools"),
    (["cleanup", "--project", "nosuch"], "no project 'nosuch'"),
    (["migrate", "--from-data", "{tmp}/nothere"], "no registry at"),
    (["migrate", "--from-catalog", "sqlite:///{tmp}/junk.db", "--from-storage",
      "file:///{tmp}"], "cannot open the catalog {tmp}/junk.db: file is not a database"),
    (["migrate", "--from-catalog", "sqlite:///{tmp}/none/x.db", "--from-storage",
      "file:///{tmp}"], "cannot open the catalog"),
    (["project", "list", "--catalog", "sqlite:///{tmp}/junk.db"], "file is not a database"),
    (["project", "list", "--catalog", "mysql://x"], "the engines are sqlite:// and"),
    (["project", "list", "--storage", "s3://"], "such as file:///PATH or s3://BUCKET/PREFIX"),
    (["project", "list", "--storage", "nope://x"], "give a URL of an installed storage (file://, s3://)"),
    (["gc", "--data", "{tmp}/nothere"], "no registry at"),
    (["init", "--data", "{tmp}/junk.db"], "is a file: give a directory"),
    (["serve", "--port", "0", "--data", "{tmp}/junk.db"], "is a file: give a directory"),
    (["serve", "--port", "0", "--host", "nosuch.invalid"], "no address this machine can"),
    (["serve", "--port", "0", "--layout", "flat"], "--layout flat needs --project PATH"),
]
PYTHON_SPELLING = re.compile(r"\w+=(True|False|None)|keep_n_|older_than|minimum_access_level")


@pytest.fixture
def data(tmp_path, capsys) -> str:
    data = str(tmp_path / "data")
    for argv in (["init"], ["group", "create", "acme"], ["project", "create", "acme/tools"],
                 ["token", "create", "ci", "--grant", "acme/tools:read"]):
        assert main([*argv, "--data", data]) == 0
    (tmp_path / "junk.db").write_text("not a database\n")
    capsys.readouterr()
    return data


@pytest.mark.parametrize(("argv", "words"), CASES, ids=lambda v: " ".join(v)[:60]
                         if isinstance(v, list) else None)
def test_an_expected_failure_is_one_line(tmp_path, data, capsys, argv, words) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--data" not in argv:
        argv += ["--data", data]
    code = main(argv)  # anything but a return here would be a traceback
    out, err = capsys.readouterr()
    assert code in (1, 2)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pypireg: error: ")
    assert words.replace("{tmp}", str(tmp_path)) in lines[0]
    assert not PYTHON_SPELLING.search(lines[0]), lines[0]
    assert out == ""
    assert not (tmp_path / "nothere").exists()


def test_delete_and_set_visibility_take_ids(data, capsys) -> None:
    assert main(["project", "create", "acme/empty", "--data", data]) == 0
    project_id = capsys.readouterr().out.splitlines()[-1]
    assert main(["project", "delete", project_id, "--data", data]) == 0
    assert capsys.readouterr().out.strip() == "deleted project acme/empty"
    assert main(["group", "create", "spare", "--data", data]) == 0
    group_id = capsys.readouterr().out.splitlines()[-1]
    assert main(["group", "set-visibility", group_id, "public", "--data", data]) == 0
    assert capsys.readouterr().out.strip() == "group spare is now public"
    assert main(["group", "delete", group_id, "--data", data]) == 0
    assert capsys.readouterr().out.strip() == "deleted group spare"


def test_a_token_name_is_free_again_once_its_token_is_revoked(data, capsys) -> None:
    assert main(["token", "create", "ci", "--grant", "acme/tools:read", "--kind", "deploy",
                 "--data", data]) == 0  # another kind: another name space
    capsys.readouterr()
    assert main(["token", "list", "--json", "--data", data]) == 0
    first = next(t for t in json.loads(capsys.readouterr().out) if t["kind"] == "personal")
    assert main(["token", "revoke", str(first["id"]), "--data", data]) == 0
    assert main(["token", "create", "ci", "--grant", "acme/tools:read", "--data", data]) == 0


def test_the_synopsis_in_docs_lists_every_command() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    synopsis = doc[doc.index("```text\n") + 8:doc.index("```", doc.index("```text\n") + 8)]
    listed = {" ".join(line.split()[1:3]) for line in synopsis.splitlines()}
    listed |= {line.split()[1] for line in synopsis.splitlines()}

    def commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found += commands(sub, f"{prefix} {name}".strip()) or [
                        f"{prefix} {name}".strip()]
        return found

    every = commands(_parser())
    assert len(every) > 20
    assert [c for c in every if c not in listed] == []


def test_a_path_of_digits_is_a_path_before_it_is_an_id(data, capsys) -> None:
    assert main(["group", "create", "spare", "--data", data]) == 0  # id 2
    assert main(["group", "create", "2", "--data", data]) == 0  # a group named "2"
    capsys.readouterr()
    assert main(["group", "delete", "2", "--data", data]) == 0
    assert capsys.readouterr().out.strip() == "deleted group 2"
    assert main(["group", "set-visibility", "2", "public", "--data", data]) == 0
    assert capsys.readouterr().out.strip() == "group spare is now public"  # now the id


@pytest.mark.parametrize("argv", [
    ["--host", "nosuch.invalid"], ["--host", "192.0.2.1"],  # TEST-NET-1: no machine's own
])
def test_serve_refuses_an_address_before_creating_anything(tmp_path, capsys, argv) -> None:
    fresh = tmp_path / "fresh"
    code = main(["serve", "--port", "0", *argv, "--data", str(fresh), "--catalog",
                 f"sqlite:///{tmp_path}/catalog.db"])
    assert code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert not fresh.exists() and not (tmp_path / "catalog.db").exists()


def test_serve_refuses_a_data_file_before_creating_a_catalog(tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("")
    code = main(["serve", "--port", "0", "--data", str(tmp_path / "file"), "--catalog",
                 f"sqlite:///{tmp_path}/catalog.db"])
    assert code == 1 and "is a file" in capsys.readouterr().err
    assert not (tmp_path / "catalog.db").exists()
