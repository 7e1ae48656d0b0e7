"""The command line: scriptable output, --data anywhere, clear errors."""

from __future__ import annotations

import json

import pytest

import pypireg
from pypireg.cli import main

from .helpers import run


def test_create_group_project_and_token_print_id_and_secret_last(tmp_path, capsys) -> None:
    data = str(tmp_path / "d")
    assert run(capsys, "init", "--data", data)[0] == 0
    code, out, _ = run(capsys, "group", "create", "acme", "--public", "--data", data)
    assert code == 0 and out[-1] == "1"
    code, out, _ = run(capsys, "project", "create", "acme/tools", "--data", data)
    assert code == 0
    project_id = int(out[-1])
    code, out, _ = run(capsys, "token", "create", "ci", "--grant", "acme/tools:write",
                       "--grant", "acme:read", "--kind", "deploy", "--data", data)
    assert code == 0
    secret = out[-1]
    registry = pypireg.create_app(data)
    project = registry.catalog.project(project_id)
    assert project.path == "acme/tools" and project.visibility == "private"
    assert registry.catalog.group_by_path("acme").visibility == "public"
    principal = registry.auth._lookup(secret)  # type: ignore[attr-defined]
    assert principal.kind == "deploy" and principal.name == "ci"
    assert registry.auth.permits(principal, "write", project)


def test_data_defaults_to_env_var(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PYPIREG_DATA", str(tmp_path / "env-data"))
    assert run(capsys, "init")[0] == 0
    code, out, _ = run(capsys, "project", "create", "solo", "--public")
    assert code == 0
    assert pypireg.create_app(tmp_path / "env-data").catalog.project("solo") is not None


def test_data_defaults_to_current_directory(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("PYPIREG_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "init")
    assert code == 0 and out == [f"created an empty registry in {tmp_path / 'pypireg-data'}"]
    assert run(capsys, "group", "create", "here")[0] == 0
    assert (tmp_path / "pypireg-data" / "catalog.db").exists()
    code, out, _ = run(capsys, "init")
    assert code == 0 and "already exists" in out[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["project", "create", "missing/lib"], "parent group 'missing' of 'missing/lib'"),
        (["group", "create", "taken"], "'taken' already exists"),
        (["project", "create", "bad path"], "not a valid path"),
        (["token", "create", "t", "--grant", "nowhere:read"], "no group or project"),
    ],
)
def test_errors_are_clear_and_exit_non_zero(tmp_path, capsys, argv, message) -> None:
    data = ["--data", str(tmp_path)]
    run(capsys, "init", *data)
    run(capsys, "group", "create", "taken", *data)
    code, out, err = run(capsys, *argv, *data)
    assert code == 1
    assert message in err
    assert out == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token", "create", "t", "--grant", "taken:owner"], "must look like PATH:ACCESS"),
        (["token", "create", "t", "--grant", "taken:admin"], "use '*:admin'"),
        (["token", "create", "t", "--grant", "taken"], "must look like PATH:ACCESS"),
        (["token", "create", "t"], "--grant"),
        (["token", "create", "t", "--grant", "taken:read", "--kind", "robot"], "invalid choice"),
        (["group", "create", "g", "--public", "--private"], "not allowed with"),
        (["serve", "--port", "eighty"], "'eighty' is not a port: give a number from 0 to"),
        (["serve", "--port", "80808"], "'80808' is not a port: give a number from 0 to"),
    ],
)
def test_malformed_arguments_exit_2_with_usage(tmp_path, capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--data", str(tmp_path)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["group", "create", "acme"], ["project", "create", "tools"], ["token", "list"],
    ["token", "create", "t", "--grant", "a:read"], ["gc"], ["yank", "p", "n", "1", "--reason", "r"],
    ["project", "set-visibility", "p", "public"],
])
def test_a_mistyped_data_directory_is_refused_and_nothing_is_created(tmp_path, capsys,
                                                                      argv) -> None:
    typo = tmp_path / "pypireg-dta"
    code, out, err = run(capsys, *argv, "--data", str(typo))
    assert code == 1 and out == []
    assert f"no registry at {typo}" in err and f"pypireg init --data {typo}" in err
    assert not typo.exists()



def test_help_reads_as_plain_text(capsys) -> None:
    from pypireg.cli import _parser

    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    texts = [parser.format_help()]
    for command in commands.choices.values():  # type: ignore[union-attr]
        texts.append(command.format_help())
        actions = [a for a in command._actions if a.dest == "action"]
        for action in actions:
            texts += [sub.format_help() for sub in action.choices.values()]  # type: ignore
    assert len(texts) > 15
    for text in texts:
        assert "``" not in text and ":func:" not in text and ":class:" not in text, text


def test_group_and_project_lists_show_what_each_holds(tmp_path, capsys) -> None:
    import json

    from webtest import TestApp

    from .distributions import wheel_bytes, wheel_name
    from .helpers import basic

    data = tmp_path / "d"
    registry = pypireg.create_app(data)
    registry.create_group("acme", "public")
    registry.create_group("acme/team", "private")
    registry.create_project("acme/tools", "public")
    registry.create_project("acme/team/lib", "private")
    registry.create_project("solo", "private")
    token = registry.create_token("w", ["acme:write"])
    app = TestApp(registry)
    sizes = {}
    for project, name, version in (("acme/tools", "a", "1.0"), ("acme/tools", "a", "2.0"),
                                   ("acme/team/lib", "b", "1.0")):
        body = wheel_bytes(name, version)
        sizes.setdefault(project, 0)
        sizes[project] += len(body)
        app.post(f"/projects/{project.replace('/', '%2F')}/packages/pypi",
                 {"name": name, "version": version},
                 upload_files=[("content", wheel_name(name, version), body)],
                 headers=basic(token), status=201)
    code, out, _ = run(capsys, "project", "list", "--json", "--data", str(data))
    projects = {p["path"]: p for p in json.loads("\n".join(out))}
    assert projects["acme/tools"] == {**projects["acme/tools"], "packages": 2, "files": 2,
                                      "bytes": sizes["acme/tools"], "visibility": "public"}
    assert projects["solo"]["packages"] == 0 and projects["solo"]["bytes"] == 0
    assert set(projects["solo"]) == {"id", "path", "visibility", "created_at", "packages",
                                     "files", "bytes"}
    code, out, _ = run(capsys, "group", "list", "--json", "--data", str(data))
    groups = {g["path"]: g for g in json.loads("\n".join(out))}
    assert (groups["acme"]["projects"], groups["acme"]["packages"], groups["acme"]["bytes"]) == (
        2, 3, sizes["acme/tools"] + sizes["acme/team/lib"])
    assert (groups["acme/team"]["projects"], groups["acme/team"]["packages"]) == (1, 1)
    code, out, _ = run(capsys, "project", "list", "--data", str(data))
    assert out[0].split() == ["ID", "PATH", "VISIBILITY", "PACKAGES", "FILES", "BYTES"]
    assert [line.split()[1] for line in out[1:]] == ["acme/team/lib", "acme/tools", "solo"]
    code, out, _ = run(capsys, "project", "show", "acme/tools", "--data", str(data))
    assert out[0].endswith(f"2 packages, 2 files, {sizes['acme/tools']} bytes")
    assert [line.split()[1:3] for line in out[2:]] == [["a", "1.0"], ["a", "2.0"]]
    code, out, _ = run(capsys, "project", "show", "solo", "--json", "--data", str(data))
    assert json.loads("\n".join(out))["packages"] == []
    code, _, err = run(capsys, "project", "show", "nope", "--data", str(data))
    assert code == 1 and "no project 'nope'" in err


@pytest.mark.parametrize(("text", "size"), [
    ("5368709120", 5 * 1024**3), ("5G", 5 * 1024**3), ("5GiB", 5 * 1024**3),
    ("512m", 512 * 1024**2), ("1 K", 1024), ("2T", 2 * 1024**4)])
def test_sizes_read_as_binary_units(text, size) -> None:
    from pypireg.limits import parse_size

    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0", "-1", "5X", "lots", "9" * 30])
def test_a_bad_upload_size_is_refused_before_serving(tmp_path, capsys, text) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--max-upload-size", text, "--data", str(tmp_path / "d")])
    assert stopped.value.code == 2
    assert "is not a size" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_every_command_takes_a_catalog_url(postgres_server, tmp_path, capsys,
                                           monkeypatch) -> None:
    with postgres_server.database() as url:  # an empty database: no registry in it yet
        data = str(tmp_path / "staging-only")
        code, _, err = run(capsys, "token", "list", "--catalog", url, "--data", data)
        assert code == 1 and "no registry in the catalog" in err
        assert "pypireg init --catalog URL" in err
        code, out, _ = run(capsys, "init", "--catalog", url, "--data", data)
        assert code == 0 and out == [f"created an empty registry in {url}"]
        code, out, _ = run(capsys, "init", "--catalog", url, "--data", data)
        assert out == [f"a registry already exists in {url}; nothing changed"]
        monkeypatch.setenv("PYPIREG_CATALOG", url)
        code, out, _ = run(capsys, "project", "create", "tools", "--public", "--data", data)
        assert code == 0 and out[-1] == "1"
        code, out, _ = run(capsys, "project", "list", "--json", "--data", data)
        assert [p["path"] for p in json.loads("\n".join(out))] == ["tools"]
        assert not (tmp_path / "staging-only" / "catalog.db").exists()


def test_a_catalog_url_is_shown_without_its_password(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "init", "--catalog", "mysql://app:s3cret@db/x", "--data",
                       str(tmp_path))
    assert code == 1 and "s3cret" not in err


def test_cache_show_and_purge(tmp_path, capsys) -> None:
    data = str(tmp_path / "data")
    registry = pypireg.create_app(data)
    catalog = registry.catalog
    from pypireg.models import UpstreamFile

    page = [UpstreamFile("demo-1.0.tar.gz", "https://x.example/demo-1.0.tar.gz", "a" * 64,
                         "1.0")]
    catalog.save_upstream_page("https://x.example/simple/", "demo", found=True, name="demo",
                               files=page)
    catalog.save_upstream_page("https://x.example/simple/", "other", found=False)
    assert catalog.upstream_file("a" * 64, "demo-1.0.tar.gz") is not None  # asked for once
    assert run(capsys, "cache", "show", "--data", data) == (
        0, ["2 pages, 0 files, 0 bytes; 0 downloads in the last 30 days"], "")
    assert run(capsys, "cache", "show", "Demo", "--data", data)[1] == [
        "1 pages, 0 files, 0 bytes; 0 downloads in the last 30 days"]
    code, out, _ = run(capsys, "cache", "purge", "DEMO", "--data", data)
    assert code == 0
    assert out == ["purged 1 cached pages and 1 files of DEMO; deleted 0 stored blobs", "2"]
    assert catalog.upstream_cache_usage() == (1, 0, 0)


@pytest.mark.parametrize(("argv", "message"), [
    (["--upstream", "ftp://x/simple/"], "is not an http"),
    (["--upstream", "https://x/simple/", "--upstream-ttl", "soon"], "must be a number"),
])
def test_bad_upstream_settings_are_refused_before_serving(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as refused:  # by argparse, as any flag it cannot read
        main(["serve", *argv, "--port", "0", "--data", str(tmp_path / "d")])
    assert refused.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_commands_load_only_what_they_use(tmp_path) -> None:
    """Start-up is timed in bench/cli_startup.py; this keeps what makes it fast: --version
    loads neither the catalog nor the registry, token list not the registry."""
    import subprocess
    import sys

    pypireg.create_app(tmp_path / "data")
    probe = ("import sys; from pypireg.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(' '.join(m for m in ('pypireg.catalog', 'pypireg.app', 'werkzeug',"
             " 'waitress', 'sqlite_utils') if m in sys.modules))")
    loaded = {argv: subprocess.run([sys.executable, "-c", probe, *argv.split()],
                                   capture_output=True, text=True, check=True
                                   ).stdout.splitlines()[-1]
              for argv in ("--version", f"token list --data {tmp_path / 'data'}")}
    assert loaded["--version"] == ""
    assert loaded[f"token list --data {tmp_path / 'data'}"] == "pypireg.catalog"
