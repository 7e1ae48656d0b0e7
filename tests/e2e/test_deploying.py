"""docs/deploying.md, run: gunicorn as pypireg.service starts it, nginx in front with
docs/deploy/nginx.conf, and the page's backup and restore commands on a serving registry."""

from __future__ import annotations

import http.client
import os
import re
import runpy
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pypireg import Limits
from pypireg.forms import _FRAMING_LIMIT

from ..doc_blocks import block
from ..helpers import basic, links
from ..upstreams import free_port
from .deploying import (
    DEADLINE,
    DEPLOY,
    DOC,
    LANGUAGES,
    NGINX_MAIN,
    ROOT,
    STOPPED,
    TEMP_PATHS,
    UNIT,
    MiB,
    Stack,
    TLSClients,
    answers,
    as_here,
    gunicorn,
    gunicorn_argv,
    gunicorn_env,
    index,
    launch,
    need,
    nginx_bytes,
    nginx_directive,
    unit_environment,
    unit_value,
    upload_url,
    wait_for,
)
from .live import BIN, PREFIX, Clients, run, stop, writer_token


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_the_page_shows_each_file_as_it_is(name: str) -> None:
    text = (DEPLOY / name).read_text()
    assert f"```{LANGUAGES[name]}\n{text}```\n" in DOC.read_text()


def test_the_page_has_a_row_for_every_variable() -> None:
    """Those pypireg.wsgi names itself, and every setting's (pypireg/settings.py)."""
    from dataclasses import fields

    from pypireg.settings import Settings, variable

    variables = set(re.findall(r"PYPIREG_[A-Z_]+", (ROOT / "pypireg" / "wsgi.py").read_text()))
    variables |= {variable(each) for each in fields(Settings)}
    rows = set(re.findall(r"^\| `(PYPIREG_[A-Z_]+)` \|", DOC.read_text(), re.M))
    assert variables == rows
    assert set(unit_environment()) <= rows


# -- gunicorn, as the unit runs it -----------------------------------------------------------

def test_gunicorn_serves_uploads_and_installs(tmp_path, clients: Clients, greet_dists) -> None:
    data = tmp_path / "pypireg"
    token = writer_token(data, init=True)
    log = tmp_path / "gunicorn.log"
    with gunicorn(gunicorn_env(data), log) as url:
        clients.twine_upload(upload_url(url), token, *greet_dists["2.0"])
        python = clients.new_venv("env")
        clients.pip_install(python, index(url, token), "acme-greet")
        assert clients.greet(python) == "hello from acme.greet 2.0"
    text = log.read_text()
    settings = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert f"Using worker: {settings['worker_class']}" in text
    assert text.count("Booting worker") == settings["workers"]
    assert '"POST /api/v4/projects/acme%2Ftools/packages/pypi HTTP/1.1" 201' in text


def test_gunicorn_refuses_a_data_directory_without_a_registry(tmp_path) -> None:
    missing = tmp_path / "nothing-here"
    log = tmp_path / "gunicorn.log"
    process = launch(gunicorn_argv(), log, env=gunicorn_env(missing), cwd=tmp_path)
    try:
        returncode = process.wait(timeout=DEADLINE)
    finally:
        stop(process, STOPPED)
    text = log.read_text()
    assert returncode != 0, text
    assert f"no registry at {missing}: check PYPIREG_DATA" in text
    assert f"pypireg init --data {missing}" in text
    assert not missing.exists()


# -- the systemd unit ---------------------------------------------------------------------------

def test_the_unit_passes_systemd_analyze_verify(tmp_path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("needs systemd-analyze: apt-get install systemd")
    unit = tmp_path / "pypireg.service"  # its gunicorn must exist to be verified
    unit.write_text(UNIT.read_text().replace("/opt/pypireg/bin/gunicorn", str(BIN / "gunicorn")))
    result = run([analyze, "verify", str(unit)], check=False)
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert "pypireg.service" not in said  # every warning about the unit names its file


def test_the_unit_runs_gunicorn_on_the_data_directory_it_may_write() -> None:
    argv = shlex.split(unit_value("ExecStart"))
    assert Path(argv[0]).name == "gunicorn" and argv[-1] == "pypireg.wsgi:application"
    data = unit_environment()["PYPIREG_DATA"]
    assert unit_value("ReadWritePaths") == data == unit_value("WorkingDirectory")
    assert unit_value("User") not in ("", "root")
    assert unit_value("Restart") == "on-failure"
    assert (unit_value("NoNewPrivileges"), unit_value("ProtectSystem")) == ("true", "strict")
    settings = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert int(unit_value("TimeoutStopSec")) > settings["graceful_timeout"]
    assert nginx_directive("server") == settings["bind"] == "127.0.0.1:8000"
    assert int(nginx_directive("proxy_read_timeout").removesuffix("s")) >= settings["timeout"]


def test_nginx_lets_through_every_body_the_registry_accepts() -> None:
    upload = int(unit_environment()["PYPIREG_MAX_UPLOAD_SIZE"])
    body = nginx_bytes(nginx_directive("client_max_body_size"))
    assert upload + Limits().max_form_fields_size + _FRAMING_LIMIT <= body <= upload + 64 * MiB


# -- nginx in front ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory, greet_dists) -> Iterator[Stack]:
    """gunicorn as the unit runs it, nginx with the page's site in front, over TLS with a
    certificate for pypi.example.com and 127.0.0.1; acme-greet 2.0 uploaded through it."""
    nginx = need("nginx", "nginx")
    openssl = need("openssl", "openssl")
    tmp = tmp_path_factory.mktemp("nginx")
    for directory in ("logs", "temp", "tls"):
        (tmp / directory).mkdir()
    run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=pypi.example.com",
         "-addext", "subjectAltName=DNS:pypi.example.com,IP:127.0.0.1",
         "-keyout", str(tmp / "tls" / "privkey.pem"), "-out", str(tmp / "tls" / "fullchain.pem")])
    token = writer_token(tmp / "pypireg", init=True)
    with gunicorn(gunicorn_env(tmp / "pypireg"), tmp / "gunicorn.log") as backend:
        http_port, https_port = free_port(), free_port()
        site = (DEPLOY / "nginx.conf").read_text()
        for old, new in [("listen 80;", f"listen 127.0.0.1:{http_port};"),
                         ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
                         ("server 127.0.0.1:8000;", f"server {backend.split('/')[2]};"),
                         ("/etc/letsencrypt/live/pypi.example.com/", f"{tmp}/tls/"),
                         ("/var/log/nginx/", f"{tmp}/logs/")]:
            assert old in site, f"docs/deploy/nginx.conf no longer has {old!r}"
            site = site.replace(old, new)
        (tmp / "pypireg.conf").write_text(site)
        user = "user root;" if os.geteuid() == 0 else ""  # its workers read the test's dirs
        temp = TEMP_PATHS.format(tmp=tmp)
        (tmp / "nginx.conf").write_text(NGINX_MAIN.format(tmp=tmp, user=user, temp=temp))
        log = tmp / "logs" / "error.log"
        process = launch([nginx, "-p", f"{tmp}/", "-c", str(tmp / "nginx.conf"), "-e", str(log)],
                         log)
        try:
            wait_for(lambda: answers(http_port, "/"), process, log)
            clients = TLSClients(tmp, ca=tmp / "tls" / "fullchain.pem")
            stack = Stack(http_port, https_port, token, tmp / "logs", clients)
            clients.twine_upload(upload_url(stack.url), token, *greet_dists["2.0"])
            yield stack
        finally:
            stop(process, STOPPED)


FILES = "/api/v4/projects/acme/tools/packages/pypi/files/"


def test_uploads_and_installs_go_through_nginx(behind_nginx: Stack) -> None:
    stack = behind_nginx
    python = stack.clients.new_venv("through-nginx")
    stack.clients.pip_install(python, index(stack.url, stack.token), "acme-greet")
    assert stack.clients.greet(python) == "hello from acme.greet 2.0"
    access = (stack.logs / "pypireg.access.log").read_text()
    assert '"POST /api/v4/projects/acme%2Ftools/packages/pypi HTTP/1.1" 201' in access
    assert re.search(r'"GET /api/v4/projects/\S+/files/\S+\.whl HTTP/1.1" 200', access)


def test_simple_pages_link_to_the_public_host_and_scheme(behind_nginx: Stack) -> None:
    stack = behind_nginx
    spoofed = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http",
               "X-Forwarded-Port": "1", "X-Forwarded-Prefix": "/evil"}
    status, _, body = stack.request(
        "GET", "/api/v4/projects/acme/tools/packages/pypi/simple/acme-greet/",
        {"Host": "pypi.example.com", **basic(stack.token), **spoofed})
    assert status == 200, body
    hrefs = [href for href, _, _ in links(body.decode())]
    assert len(hrefs) == 2  # the wheel and the sdist
    public = f"https://pypi.example.com:{stack.https_port}{FILES}"
    assert all(href.startswith(public) for href in hrefs), hrefs
    # Hosts outside PYPIREG_TRUSTED_HOSTS are refused.
    status, _, body = stack.request("GET", FILES, {"Host": "evil.example"})
    assert (status, b"not trusted" in body) == (400, True)


def test_plain_http_is_sent_to_https(behind_nginx: Stack) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", behind_nginx.http_port, timeout=30)
    connection.request("GET", "/api/v4/projects/1", headers={"Host": "pypi.example.com"})
    response = connection.getresponse()
    connection.close()
    assert response.status == 301
    assert response.headers["Location"] == "https://pypi.example.com/api/v4/projects/1"


def test_upload_limits_through_nginx(behind_nginx: Stack) -> None:
    """A body over client_max_body_size is refused by nginx; one under it but over the
    registry's own limit reaches the registry, whose answer names the limit. (The uploads
    of the other tests went through.) Both look at Content-Length, so no body is sent."""
    headers = {"Content-Type": "multipart/form-data; boundary=xyz", **basic(behind_nginx.token)}
    nginx_limit = nginx_bytes(nginx_directive("client_max_body_size"))
    status, answer, body = behind_nginx.request("POST", upload_url(PREFIX), headers,
                                                body_size=nginx_limit + 1)
    assert (status, answer["Server"].startswith("nginx")) == (413, True)
    assert b"413 Request Entity Too Large" in body
    upload = int(unit_environment()["PYPIREG_MAX_UPLOAD_SIZE"])
    size = upload + Limits().max_form_fields_size + _FRAMING_LIMIT + 1
    assert size <= nginx_limit
    status, answer, body = behind_nginx.request("POST", upload_url(PREFIX), headers,
                                                body_size=size)
    assert (status, answer["Content-Type"]) == (413, "application/json")
    assert b"File is too large: the limit is 1 GiB" in body


# -- backup and restore -------------------------------------------------------------------------

def test_backup_while_serving_then_restore(tmp_path, clients: Clients, greet_dists) -> None:
    data = tmp_path / "var" / "lib" / "pypireg"
    (tmp_path / "var" / "backups" / "pypireg").mkdir(parents=True)
    token = writer_token(data, init=True)
    with gunicorn(gunicorn_env(data), tmp_path / "before.log") as url:
        clients.twine_upload(upload_url(url), token, *greet_dists["1.0"])
        backup = block(DOC, "sh", "sudo -u pypireg /etc/pypireg/backup.sh")
        assert "backed up" in run(["sh", "-euc", as_here(backup, tmp_path)]).stdout
        clients.twine_upload(upload_url(url), token, *greet_dists["2.0"])  # after the backup
    (made,) = (tmp_path / "var" / "backups" / "pypireg").iterdir()
    restore = re.sub(r"^backup=\S+", f"backup=/var/backups/pypireg/{made.name}",
                     block(DOC, "sh", "systemctl stop pypireg"), flags=re.M)
    run(["sh", "-euc", as_here(restore, tmp_path)])
    with gunicorn(gunicorn_env(data), tmp_path / "after.log") as url:
        python = clients.new_venv("restored")
        clients.pip_install(python, index(url, token), "acme-greet")
        assert clients.greet(python) == "hello from acme.greet 1.0"
        newer = clients.pip_install(python, index(url, token), "acme-greet==2.0", check=False)
        assert newer.returncode != 0  # uploaded after the backup: not in the restored copy
