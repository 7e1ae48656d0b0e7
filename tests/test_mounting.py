"""URLs follow the mount point, and X-Forwarded-* only when the host opts in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from webtest import TestApp
from werkzeug.middleware.proxy_fix import ProxyFix

import pypireg
from pypireg.cli import main

from .distributions import wheel_bytes, wheel_name
from .doc_blocks import block, blocks
from .helpers import Env, links, load_example

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pypi.example.com",
             "X-Forwarded-Prefix": "/registry", "X-Forwarded-For": "203.0.113.9"}


def registry_with_package(tmp_path) -> pypireg.Registry:
    env = Env(pypireg.create_app(staging_dir=str(tmp_path)))
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    return env.registry


def test_forwarded_headers_are_ignored_by_default(tmp_path) -> None:
    app = TestApp(pypireg.mount(registry_with_package(tmp_path), "/api/v4"))
    page = app.get("/api/v4/projects/acme/tools/packages/pypi/simple/", headers=FORWARDED)
    assert links(page.text)[0][0] == (
        "http://localhost/api/v4/projects/acme/tools/packages/pypi/simple/pkg/")


def test_proxy_fix_opt_in_uses_them(tmp_path) -> None:
    mounted = pypireg.mount(registry_with_package(tmp_path), "/api/v4")
    app = TestApp(ProxyFix(mounted, x_for=1, x_proto=1, x_host=1, x_prefix=1))
    page = app.get("/api/v4/projects/acme/tools/packages/pypi/simple/pkg/", headers=FORWARDED)
    href = links(page.text)[0][0]
    assert href.startswith(
        "https://pypi.example.com/registry/api/v4/projects/acme/tools/packages/pypi/files/")
    listing = app.get("/api/v4/projects/acme/tools/packages", headers=FORWARDED)
    assert listing.headers["Link"].startswith(
        "<https://pypi.example.com/registry/api/v4/projects/acme/tools/packages?page=1>")


def test_prefix_from_a_framework_host(tmp_path) -> None:
    app = load_example("flask_host").create(str(tmp_path / "data"))
    registry = app.extensions["pypireg"]
    registry.create_project("tools", "public")
    token = registry.create_token("ci", ["tools:delete"])
    client = TestApp(app)
    client.post("/pypi/projects/tools/packages/pypi", params=[("name", "pkg"), ("version", "1.0")],
                upload_files=[("content", wheel_name("pkg", "1.0"), wheel_bytes("pkg", "1.0"))],
                headers={"Authorization": f"Bearer {token}"}, status=201)
    (package,) = client.get("/pypi/projects/tools/packages", headers={
        "PRIVATE-TOKEN": token}).json
    assert package["_links"] == {
        "web_path": f"/tools/-/packages/{package['id']}",
        "delete_api_path": f"http://localhost/pypi/projects/1/packages/{package['id']}",
    }
    assert client.get("/").status_int == 200  # the host's own page
    client.get("/pypi/nothing", status=404)


# -- docs/mounting.md's blocks, as written -------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "mounting.md"
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(("section", "wsgi"), [("Flask", "app"), ("Pyramid", "app")])
def test_the_framework_sections_serve_what_the_admin_block_creates(tmp_path, section: str,
                                                                   wsgi: str) -> None:
    namespace: dict = {"__name__": __name__}  # Flask finds its root from the module name
    host = block(DOC, "python", "create_app", section).replace("/var/lib/", f"{tmp_path}/")
    exec(host, namespace)  # noqa: S102
    exec(block(DOC, "python", "create_token", "Projects and tokens"), namespace)  # noqa: S102
    client = TestApp(namespace[wsgi])
    data = wheel_bytes("pkg", "1.0")
    auth = {"Authorization": f"Bearer {namespace['token']}"}
    client.post("/pypi/projects/acme%2Ftools/packages/pypi",
                params=[("name", "pkg"), ("version", "1.0")],
                upload_files=[("content", wheel_name("pkg", "1.0"), data)], headers=auth,
                status=201)
    page = client.get("/pypi/projects/acme%2Ftools/packages/pypi/simple/pkg/", headers=auth)
    assert links(page.text)[0][0].startswith(
        "http://localhost/pypi/projects/acme/tools/packages/pypi/files/")
    client.get("/pypi/projects/acme%2Ftools/packages/pypi/simple/pkg/", status=401)


def test_the_admin_commands_work_on_the_hosts_data_directory(tmp_path) -> None:
    script = re.sub(r"(^|\$\()pypireg ", rf"\g<1>{BIN}/pypireg ", block(
        DOC, "sh", "token create", "Projects and tokens").replace("/var/lib/", f"{tmp_path}/"),
        flags=re.M)
    assert main(["init", "--data", str(tmp_path / "pypireg")]) == 0
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script + 'printf "%s" "$TOKEN"'],
                          capture_output=True, text=True, timeout=120, check=True)
    registry = pypireg.create_app(tmp_path / "pypireg")  # as the host opens it
    project = registry.catalog.project("acme/tools")
    assert project is not None and project.visibility == "private"
    principal = registry.auth._lookup(done.stdout.splitlines()[-1])  # type: ignore[attr-defined]
    assert registry.auth.permits(principal, "write", project)


def test_every_python_block_runs_and_serves(tmp_path) -> None:
    """Every Python block of the page, in order in one session (as a reader tries them):
    each runs, and each WSGI app it makes answers at the mount point it names."""
    namespace: dict = {"__name__": __name__}
    python_blocks = blocks(DOC, "python")
    served = 0
    for number, code in enumerate(python_blocks):
        before = dict(namespace)
        exec(code.replace("/var/lib/", f"{tmp_path}/{number}/"), namespace)  # noqa: S102
        for name in ("application", "app"):
            if name in namespace and namespace[name] is not before.get(name):
                api = "/pypi" if '"/pypi' in code else (
                    "/api/v4" if '"/api/v4"' in code else "")
                if "site(" in code:
                    api += "/api/v4"
                answer = TestApp(namespace[name]).get(
                    f"{api}/projects/nowhere/packages", headers={"Host": "pypi.example.com"},
                    status="*")
                # The registry itself answered, at the path the block gives it.
                assert answer.content_type == "application/json", (number, code, answer)
                assert answer.json == {"message": "404 Project Not Found"}, (number, code)
                served += 1
    assert len(python_blocks) >= 10 and served >= 7


@pytest.mark.parametrize("path", ["/api/v4", "/api/v4/", "/api/v4/projects/a%2Fb/x",
                                  "/api/v4//x", "/api/v4x", "/api", "/", "", "/other/api/v4"])
def test_a_mount_moves_its_prefix_as_werkzeugs_dispatcher_does(path: str) -> None:
    """pypireg.mount's prefix takes the paths DispatcherMiddleware would give the mount,
    with the same SCRIPT_NAME and PATH_INFO, and leaves the rest to ``beside``."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from pypireg.website import mount

    def seen(name: str):  # type: ignore[no-untyped-def]
        def app(environ, start_response):  # type: ignore[no-untyped-def]
            start_response("200 OK", [])
            return [f"{name} {environ['SCRIPT_NAME']!r} {environ['PATH_INFO']!r}".encode()]
        return app

    def answer(app) -> bytes:  # type: ignore[no-untyped-def]
        environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/root", "PATH_INFO": path}
        return b"".join(app(environ, lambda status, headers: None))

    ours = mount(seen("mounted"), "api/v4/", beside=seen("beside"))
    theirs = DispatcherMiddleware(seen("beside"), {"/api/v4": seen("mounted")})
    assert answer(ours) == answer(theirs)
