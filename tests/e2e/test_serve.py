"""``pypireg serve`` as a user runs it: a subprocess on its own data directory."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..distributions import wheel_bytes, wheel_name
from ..doc_blocks import fenced
from ..helpers import basic
from .clients import build, dist_dir
from .live import BIN, Clients, pip_shim, run, serve_command


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, Path, list[str]]]:
    """Start ``pypireg serve --port 0`` and read the URL it prints; stop it afterwards."""
    data = tmp_path / "data"
    with serve_command("--data", str(data)) as (url, banner):
        yield url, data, banner


def test_serve_answers_health_checks_and_the_exchange_at_the_root(served) -> None:
    url, _, _ = served
    root = url.removesuffix("/api/v4")
    with urllib.request.urlopen(f"{root}/-/health") as answer:
        assert answer.read() == b"pypireg OK\n"
    with urllib.request.urlopen(f"{root}/-/readiness") as answer:
        checks = json.load(answer)
    assert checks["status"] == "ok"
    assert checks["catalog_check"] == checks["storage_check"] == [{"status": "ok"}]
    # Trusted publishing's exchange is at the root too, where clients look for it.
    with pytest.raises(urllib.error.HTTPError) as off:
        urllib.request.urlopen(f"{root}/_/oidc/audience")
    assert off.value.code == 403
    assert json.load(off.value) == {"message": "Trusted publishing functionality not enabled"}


def test_serve_has_the_web_pages_at_the_root(served, tmp_path) -> None:
    url, _, banner = served
    root = url.removesuffix("/api/v4")
    assert f"  web pages:    {root}/" in banner
    request = urllib.request.Request(f"{root}/", headers={"Accept": "text/html"})
    with urllib.request.urlopen(request) as answer:
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<h1>pypireg</h1>" in answer.read().decode()
    with serve_command("--no-ui", "--data", str(tmp_path / "bare")) as (bare, lines):
        assert not any("web pages" in line for line in lines)
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(bare.removesuffix("/api/v4") + "/")
        assert json.load(missing.value) == {"message": "404 Not Found"}


def cli(data: Path, *argv: str) -> str:
    """Run a CLI command on ``data`` and return its last line of output."""
    result = run([sys.executable, "-m", "pypireg", *argv, "--data", str(data)])
    return result.stdout.splitlines()[-1]


def test_serve_creates_the_catalog_and_prints_where_to_go(served) -> None:
    url, data, banner = served
    assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v4")
    assert any("created an empty registry" in line for line in banner)
    assert any(f"{url}/projects/<id or path>/packages/pypi/simple" in line for line in banner)
    assert (data / "catalog.db").exists()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{url}/projects/1/packages/pypi/simple")
    assert missing.value.code == 404
    assert json.load(missing.value) == {"message": "404 Project Not Found"}
    outside = url.removesuffix("/api/v4") + "/elsewhere"
    with pytest.raises(urllib.error.HTTPError) as elsewhere:
        urllib.request.urlopen(outside)
    assert elsewhere.value.code == 404


def test_the_readme_recipe_against_a_served_registry(served, clients: Clients, greet_dists
                                                     ) -> None:
    url, data, _ = served
    cli(data, "group", "create", "acme")
    project_id = cli(data, "project", "create", "acme/tools")
    token = cli(data, "token", "create", "ci", "--grant", "acme/tools:write")
    clients.twine_upload(f"{url}/projects/acme%2Ftools/packages/pypi", token,
                         *greet_dists["2.0"])
    python = clients.new_venv("env")
    index = f"{url}/projects/{project_id}/packages/pypi/simple".replace(
        "http://", f"http://__token__:{token}@")
    clients.pip_install(python, index, "acme-greet")
    assert clients.greet(python) == "hello from acme.greet 2.0"


def test_the_readme_blocks_run_as_written(tmp_path, clients: Clients) -> None:
    """README.md's shell blocks in one bash, from a directory holding the registry and a
    built my-package, with pip and uv each installing into a new environment; then its
    Python block. Only the port and the paths of the tools change."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = fenced(readme.split("## Publish and install", 1)[1])
    assert len(blocks) == 3
    dist_dir(tmp_path, build(tmp_path / "build", "0.1.0"))
    python, with_uv = clients.new_venv("app"), clients.new_venv("app-uv")
    shims = pip_shim(tmp_path / "shims", python)
    env = {**clients.env, "PATH": f"{shims}:{BIN}:{os.environ['PATH']}",
           "VIRTUAL_ENV": str(with_uv.parent.parent)}  # where `uv pip install` installs
    with serve_command("--data", str(tmp_path / "pypireg-data")) as (url, _):
        port = urlsplit(url).port
        script = "\n".join(blocks).replace(".venv/bin/", f"{BIN}/").replace(
            "127.0.0.1:8080", f"127.0.0.1:{port}")
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    for installed in (python, with_uv):  # by pip, and by uv
        said = run([str(installed), "-c", "import my_package; print(my_package.hello())"])
        assert said.stdout.strip() == "hello from my-package 0.1.0"

    (code,) = fenced(readme, "python")
    namespace: dict = {}
    exec(code.replace("/var/lib/", f"{tmp_path}/"), namespace)  # noqa: S102
    assert namespace["secret"].startswith("pypireg-")
    assert namespace["registry"].catalog.project("tools").is_public


def raw_request(url: str, request: bytes) -> bytes:
    """Send raw bytes to the server and read its whole answer (it closes the connection)."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=30) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("target", [
    "/projects/99999999999999999999/packages",
    "/projects/1/packages?page=%C2%B2",
    "/projects/1/packages?page=%D9%A3&x=%E2%98%83",
    "/projects/1/packages/%C2%B2",
    "/projects/1/packages?package_name=" + "+a" * 400,
    "/groups/%D9%A3/-/packages/pypi/simple/",
])
def test_hostile_requests_to_a_live_server_are_answered(served, target: str) -> None:
    url, data, _ = served
    cli(data, "project", "create", "tools", "--public")
    prefix = "/api/v4"
    answer = raw_request(url, f"GET {prefix}{target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
                         .encode())
    status = answer.split(b" ", 2)[1]
    assert status.startswith(b"4") and len(status) == 3, answer[:200]
    assert b"X-Content-Type-Options: nosniff" in answer


def test_a_port_in_use_is_one_line_naming_its_holder_and_creates_nothing(served,
                                                                          tmp_path) -> None:
    # The quickstart's situation: a registry already serves on the port.
    port = urlsplit(served[0]).port
    data = tmp_path / "new-data"
    said = subprocess.run([sys.executable, "-m", "pypireg", "serve", "--port", str(port),
                           "--data", str(data)], capture_output=True, text=True, timeout=60)
    assert said.returncode == 2
    assert said.stdout == ""
    (line,) = said.stderr.splitlines()
    # The holder by its id and name, never its whole command line (it may hold a secret).
    assert re.match(rf"pypireg: error: 127\.0\.0\.1:{port} is already in use by process"
                    r" \d+ \(python[\d.]*\): ", line), line
    assert "choose another --port" in line
    assert not data.exists()

    for port_text, words in (("80808", "'80808' is not a port"), ("-1", "'-1' is not a port")):
        said = subprocess.run([sys.executable, "-m", "pypireg", "serve", "--port", port_text,
                               "--data", str(data)], capture_output=True, text=True,
                              timeout=60)
        assert said.returncode == 2 and words in said.stderr
        assert "Traceback" not in said.stderr
    assert not data.exists()


def test_serve_with_trusted_hosts(tmp_path) -> None:
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "pypireg", "serve", "--port", "0", "--data", str(data),
         "--trusted-host", "127.0.0.1", "--trusted-host", ".example.com"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            if " serving " in line:
                url = line.rstrip().split(" at ")[1]
                break
        cli(data, "project", "create", "tools", "--public")
        page = "/api/v4/projects/tools/packages/pypi/simple/"
        for host, status in (("127.0.0.1", b"200"), ("pypi.example.com", b"200"),
                             ("attacker.test", b"400")):
            answer = raw_request(url, f"GET {page} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            assert answer.split(b" ", 2)[1] == status, (host, answer[:200])
        assert b"is not trusted" in answer
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_ci_job_rotates_its_own_token_between_uploads(served, clients: Clients,
                                                        greet_dists) -> None:
    """What a pipeline does: upload, rotate its token over HTTP (as curl would), upload again
    with the new secret; the old one is refused from then on."""
    url, data, _ = served
    cli(data, "group", "create", "acme")
    cli(data, "project", "create", "acme/tools")
    old = cli(data, "token", "create", "pipeline", "--grant", "acme/tools:write", "--kind",
              "job", "--expires-in", "1d")
    upload = f"{url}/projects/acme%2Ftools/packages/pypi"
    clients.twine_upload(upload, old, *greet_dists["1.0"], user="gitlab-ci-token")
    request = urllib.request.Request(f"{url}/personal_access_tokens/self/rotate",
                                     method="POST", headers={"JOB-TOKEN": old})
    with urllib.request.urlopen(request) as answer:
        rotated = json.load(answer)
    new = rotated["token"]
    assert new != old and rotated["kind"] == "job" and rotated["expires_at"]
    refused = clients.twine_upload(upload, old, *greet_dists["2.0"], user="gitlab-ci-token",
                                   check=False)
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr
    clients.twine_upload(upload, new, *greet_dists["2.0"], user="gitlab-ci-token")
    listing = urllib.request.Request(f"{url}/projects/acme%2Ftools/packages",
                                     headers={"JOB-TOKEN": new})
    with urllib.request.urlopen(listing) as answer:
        assert sorted(p["version"] for p in json.load(answer)) == ["1.0", "2.0"]


def test_serve_logs_plain_text_and_stops_on_sigterm(tmp_path) -> None:
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "pypireg", "serve", "--port", "0", "--data", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            if " serving " in line:
                url = line.rstrip().split(" at ")[1]
            if line.startswith("press Ctrl+C"):
                break
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{url}/projects/nope/packages/pypi/simple/")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert out.splitlines()[-1] == "pypireg stopped (SIGTERM)"
    assert '"GET /api/v4/projects/nope/packages/pypi/simple/ HTTP/1.1" 404' in err
    assert "\x1b[" not in err  # no colour codes in a log that is not a terminal


def _http(url: str, method: str = "GET", headers: dict[str, str] | None = None,
          body: dict | None = None) -> dict | list | None:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, method=method, data=data, headers={
        **(headers or {}), **({"Content-Type": "application/json"} if data else {})})
    with urllib.request.urlopen(request) as answer:
        text = answer.read()
    return json.loads(text) if text else None


def test_the_audit_log_holds_one_row_per_action_of_a_session(served, clients: Clients,
                                                             greet_dists) -> None:
    """An administrator's CLI, a pipeline's twine and a maintainer's API calls, as the audit
    log then tells them: each change once, by whom and from where; reads leave no row."""
    url, data, _ = served
    cli(data, "group", "create", "acme")
    cli(data, "project", "create", "acme/tools")
    ci = cli(data, "token", "create", "pipeline", "--grant", "acme/tools:write", "--kind", "job")
    keeper = cli(data, "token", "create", "keeper", "--grant", "acme:delete")
    clients.twine_upload(f"{url}/projects/acme%2Ftools/packages/pypi", ci, *greet_dists["1.0"],
                         user="gitlab-ci-token")
    python = clients.new_venv("install")
    clients.pip_install(python, f"{url.replace('http://', f'http://x:{keeper}@')}"
                        "/projects/acme%2Ftools/packages/pypi/simple", "acme.greet")
    api = f"{url}/projects/acme%2Ftools"
    auth = {"PRIVATE-TOKEN": keeper}
    (package,) = _http(f"{api}/packages", headers=auth)  # type: ignore[misc]
    _http(f"{api}/packages/{package['id']}/yank", "PUT", auth, {"reason": "broken"})
    wheel = next(f for f in _http(f"{api}/packages/{package['id']}/package_files",
                                  headers=auth) if f["file_name"].endswith(".whl"))
    _http(f"{api}/packages/{package['id']}/package_files/{wheel['id']}", "DELETE", auth)
    _http(f"{url}/personal_access_tokens/self/rotate", "POST", {"JOB-TOKEN": ci})

    events = json.loads(run([sys.executable, "-m", "pypireg", "audit", "--json", "--data",
                             str(data)]).stdout)
    rows = [(e["event_name"], e["details"]["author_name"], e["details"]["ip_address"],
             e["details"]["target_details"]) for e in reversed(events)]
    uploaded = [("package_published", "pipeline", "127.0.0.1", p.name)
                for p in greet_dists["1.0"]]
    assert rows == [
        ("group_created", "cli", None, "acme"),
        ("project_created", "cli", None, "acme/tools"),
        ("token_created", "cli", None, "pipeline"),
        ("token_created", "cli", None, "keeper"),
        *uploaded,
        ("package_yanked", "keeper", "127.0.0.1", "Acme.Greet 1.0"),
        ("package_file_deleted", "keeper", "127.0.0.1", wheel["file_name"]),
        ("token_rotated", "pipeline", "127.0.0.1", "pipeline"),
    ]
    assert {e["details"]["author_class"] for e in events} == {
        "Cli", "CiJobToken", "PersonalAccessToken"}
    published = [e for e in events if e["event_name"] == "package_published"]
    rotated_out = _token_id(data, "pipeline", revoked=True)
    assert [e["author_id"] for e in published] == [rotated_out] * len(uploaded)
    # The same rows over HTTP, for those who may delete in the project, newest first.
    over_http = _http(f"{api}/audit_events?per_page=100", headers=auth)
    assert [e["id"] for e in over_http] == [  # type: ignore[union-attr]
        e["id"] for e in events if e["entity_type"] == "Project"]


def _token_id(data: Path, name: str, *, revoked: bool) -> int:
    listed = json.loads(run([sys.executable, "-m", "pypireg", "token", "list", "--json",
                             "--data", str(data)]).stdout)
    return next(t["id"] for t in listed if t["name"] == name and t["revoked"] == revoked)


def test_serve_takes_the_largest_upload_it_accepts(tmp_path, clients: Clients,
                                                   greet_dists) -> None:
    data = tmp_path / "data"
    cli_init = run([sys.executable, "-m", "pypireg", "init", "--data", str(data)])
    assert cli_init.returncode == 0
    cli(data, "project", "create", "tools")
    token = cli(data, "token", "create", "ci", "--grant", "tools:write")
    wheel = next(p for p in greet_dists["1.0"] if p.name.endswith(".whl"))
    limit = wheel.stat().st_size - 1
    process = subprocess.Popen(
        [sys.executable, "-m", "pypireg", "serve", "--port", "0", "--data", str(data),
         "--max-upload-size", str(limit)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    try:
        url = next(line.rstrip().split(" at ")[1] for line in process.stdout  # type: ignore[union-attr]
                   if " serving " in line)
        refused = clients.twine_upload(f"{url}/projects/tools/packages/pypi", token, wheel,
                                       check=False)
        assert refused.returncode != 0 and "413" in refused.stdout + refused.stderr
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def serving_cli(data: Path, *options: str, log: Path | None = None) -> Iterator[str]:
    """``pypireg serve --port 0`` on ``data`` for the block, its request log (stderr) in
    ``log``; yields the URL it prints."""
    with open(log or os.devnull, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "pypireg", "serve", "--port", "0", "--data", str(data),
             *options], stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            url = next(line.rstrip().split(" at ")[1] for line in process.stdout  # type: ignore[union-attr]
                       if " serving " in line)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_a_download_through_serve_arrives_whole_and_in_ranges(tmp_path) -> None:
    """A file of several MiB (more than the server buffers in memory), whole, as HEAD and as
    a Range; each in the request log with its status and size."""
    data = tmp_path / "data"
    cli(data, "init")
    cli(data, "project", "create", "tools", "--public")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    body = wheel_bytes("bulky", "1.0", payload="# " + os.urandom(3 * 2**20).hex())
    (wheels / wheel_name("bulky", "1.0")).write_bytes(body)
    run([sys.executable, "-m", "pypireg", "import", str(wheels), "--project", "tools",
         "--data", str(data)])
    log = tmp_path / "serve.log"
    with serving_cli(data, log=log) as url:
        with urllib.request.urlopen(f"{url}/projects/tools/packages/pypi/simple/bulky/") as page:
            href = re.search(r'href="([^"#]+)', page.read().decode())[1]  # type: ignore[index]
        with urllib.request.urlopen(href) as answer:
            assert answer.headers["Content-Length"] == str(len(body))
            assert answer.read() == body
        head = urllib.request.Request(href, method="HEAD")
        with urllib.request.urlopen(head) as answer:
            assert answer.headers["Content-Length"] == str(len(body))
            assert answer.read() == b""
        ranged = urllib.request.Request(href, headers={"Range": "bytes=1000000-1999999"})
        with urllib.request.urlopen(ranged) as answer:
            assert answer.status == 206
            assert answer.headers["Content-Range"] == f"bytes 1000000-1999999/{len(body)}"
            assert answer.read() == body[1000000:2000000]
    path = urlsplit(href).path
    lines = log.read_text()
    for method, status, size in (("GET", 200, len(body)), ("HEAD", 200, len(body)),
                                 ("GET", 206, 1000000)):
        assert re.search(rf'^127\.0\.0\.1 - - \[\d\d/\w{{3}}/\d{{4}} \d\d:\d\d:\d\d\] '
                         rf'"{method} {re.escape(path)} HTTP/1\.1" {status} {size}$', lines,
                         re.M), lines


def _announce(url: str, size: int) -> bytes:
    """Send the headers of a ``size``-byte upload, and no body: return what the server
    answers before it closes the connection or goes a second without a word (nothing when
    it waits for a body it would read)."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=1) as conn:
        conn.sendall(f"POST {where.path}/projects/tools/packages/pypi HTTP/1.1\r\n"
                     f"Host: {where.netloc}\r\nContent-Type: multipart/form-data; boundary=b"
                     f"\r\nContent-Length: {size}\r\n\r\n".encode())
        answer = b""
        with contextlib.suppress(TimeoutError):
            while chunk := conn.recv(65536):
                answer += chunk
    return answer


def test_serve_reads_upload_bodies_up_to_its_limit(tmp_path, greet_dists) -> None:
    """The server reads a request body whole before the registry sees it: it takes one the
    size of the largest upload allowed, and refuses one far past that from its
    Content-Length alone. Past the limit but within the margin, the registry answers with
    its own 413."""
    data = tmp_path / "data"
    cli(data, "init")
    cli(data, "project", "create", "tools")
    gib, mib = 2**30, 2**20
    with serving_cli(data, "--max-upload-size", "6G") as url:
        # A 5 GiB file, and the most the registry reads: a 6 GiB file, 8 MiB of other
        # fields and 1 MiB of multipart framing.
        for size in (5 * gib, 6 * gib + 9 * mib):
            assert _announce(url, size) == b""
        assert _announce(url, 7 * gib).startswith(b"HTTP/1.1 413 ")
    token = cli(data, "token", "create", "ci", "--grant", "tools:write")
    wheel = next(p for p in greet_dists["1.0"] if p.name.endswith(".whl"))
    content = wheel.read_bytes() + b"\0" * (mib - wheel.stat().st_size + 1)  # 1 MiB + 1
    boundary = "pypireg-boundary"
    form = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        .encode() for name, value in (("name", "Acme.Greet"), ("version", "1.0"))
    ) + (f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename='
         f'"{wheel.name}"\r\n\r\n').encode() + content + f"\r\n--{boundary}--\r\n".encode()
    with serving_cli(data, "--max-upload-size", "1M") as url:
        upload = urllib.request.Request(
            f"{url}/projects/tools/packages/pypi", data=form, method="POST", headers={
                **basic(token), "Content-Type": f"multipart/form-data; boundary={boundary}"})
        with pytest.raises(urllib.error.HTTPError) as too_large:
            urllib.request.urlopen(upload)
        assert too_large.value.code == 413
        assert json.load(too_large.value) == {
            "message": "413 Request Entity Too Large - File is too large: the limit is 1 MiB"}
        assert _announce(url, 20 * mib).startswith(b"HTTP/1.1 413 ")


def test_serve_takes_each_setting_as_a_flag_or_its_variable(tmp_path) -> None:
    """The same settings as create_app and pypireg.wsgi (tests/test_settings.py): here a
    flag and, for one not given as a flag, its PYPIREG_ variable, seen in the answers."""
    data = tmp_path / "data"
    env = {**os.environ, "PYPIREG_REALM": "acme-registry", "PYPIREG_PAGE_MAX_AGE": "5"}
    with serve_command("--data", str(data), "--page-max-age", "30", "--staging-dir",
                       str(tmp_path / "staged"), env=env) as (url, _):
        run([sys.executable, "-m", "pypireg", "project", "create", "tools", "--public",
             "--data", str(data)])
        with urllib.request.urlopen(f"{url}/projects/tools/packages/pypi/simple/") as page:
            assert "max-age=30" in page.headers["Cache-Control"]  # the flag, not the variable
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/personal_access_tokens/self")
        assert refused.value.code == 401
        assert 'realm="acme-registry"' in refused.value.headers["WWW-Authenticate"]
    assert (tmp_path / "staged").is_dir()


def test_downloads_noted_before_a_stop_are_counted(tmp_path) -> None:
    """pypireg serve writes the downloads it noted when it stops (SIGTERM), however long
    its flush interval: a restart loses none."""
    from .live import writer_token

    data = tmp_path / "data"
    token = writer_token(data, init=True)
    data_bytes = wheel_bytes("lib", "1.0")
    started: list[subprocess.Popen[str]] = []
    env = {**os.environ, "PYPIREG_DOWNLOAD_FLUSH_INTERVAL": "3600"}
    with serve_command("--data", str(data), env=env, started=started) as (url, _):
        api = f"{url}/projects/acme%2Ftools/packages/pypi"
        upload = urllib.request.Request(api + "/", method="POST", headers={
            **basic(token), "Content-Type": "multipart/form-data; boundary=b"}, data=(
                b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nlib\r\n"
                b"--b\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n1.0\r\n"
                b"--b\r\nContent-Disposition: form-data; name=\"content\"; filename=\""
                + wheel_name("lib", "1.0").encode() + b"\"\r\n\r\n" + data_bytes
                + b"\r\n--b--\r\n"))
        with urllib.request.urlopen(upload) as answer:
            assert answer.status == 201
        page = urllib.request.urlopen(urllib.request.Request(
            api + "/simple/lib/", headers=basic(token))).read().decode()
        href = re.search(r'href="([^"#]+)', page)[1]
        for _ in range(3):
            urllib.request.urlopen(urllib.request.Request(href, headers=basic(token))).read()
    assert started[0].returncode == 0  # stopped by SIGTERM, cleanly
    out = run([sys.executable, "-m", "pypireg", "downloads", "acme/tools", "--json",
               "--data", str(data)]).stdout
    assert json.loads(out) == [{"name": "lib", "version": "1.0", "downloads": 3}]


def test_serve_logs_json_when_told(tmp_path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pypireg", "serve", "--port", "0", "--data",
         str(tmp_path / "data"), "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in process.stdout:  # type: ignore[union-attr]
            if " serving " in line:
                url = line.rstrip().split(" at ")[1]
            if line.startswith("press Ctrl+C"):
                break
        assert url
        request = urllib.request.Request(url + "/", headers={"X-Request-Id": "json-check"})
        with urllib.request.urlopen(request) as answer:
            assert answer.headers["X-Request-Id"] == "json-check"
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    mine = next(line for line in lines if line.get("request_id") == "json-check")
    assert mine == {**mine, "method": "GET", "endpoint": "root", "path": "/api/v4/",
                    "status": 200, "token_id": None}
