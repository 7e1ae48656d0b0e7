"""pip and twine against the flat layout, the way they are pointed at pypiserver."""

from __future__ import annotations

import sys

import pypireg

from .live import Clients, run, serve_command, serving


def test_pip_and_twine_as_with_pypiserver(tmp_path, clients: Clients, greet_dists) -> None:
    registry = pypireg.create_app(tmp_path / "data", layout="flat", project="solo")
    registry.create_project("solo", "public")
    token = registry.create_token("ci", ["solo:write"])
    with serving(registry) as root:
        clients.twine_upload(f"{root}/", token, *greet_dists["1.0"])
        python = clients.new_venv("env")
        clients.pip_install(python, f"{root}/simple/", "acme-greet")
        assert clients.greet(python) == "hello from acme.greet 1.0"


def test_serve_flat_layout_from_the_command_line(tmp_path, clients: Clients,
                                                 greet_dists) -> None:
    data = tmp_path / "data"
    run([sys.executable, "-m", "pypireg", "init", "--data", str(data)])
    run([sys.executable, "-m", "pypireg", "project", "create", "solo", "--public",
         "--data", str(data)])
    token = run([sys.executable, "-m", "pypireg", "token", "create", "ci", "--grant",
                 "solo:write", "--data", str(data)]).stdout.splitlines()[-1]
    with serve_command("--layout", "flat", "--project", "solo",
                       "--data", str(data)) as (root, banner):
        assert any(f"pip/uv index: {root}/simple/" in line for line in banner)
        clients.twine_upload(f"{root}/", token, *greet_dists["2.0"])
        python = clients.new_venv("env")
        clients.uv_install(python, f"{root}/simple/", "acme-greet")
        assert clients.greet(python) == "hello from acme.greet 2.0"


def test_serve_flat_layout_without_project_is_an_error(tmp_path) -> None:
    result = run([sys.executable, "-m", "pypireg", "serve", "--layout", "flat",
                  "--data", str(tmp_path)], check=False)
    assert result.returncode == 2
    assert "--layout flat needs --project" in result.stderr
