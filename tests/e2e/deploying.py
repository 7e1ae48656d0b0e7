"""What tests/e2e/test_deploying.py drives: the files under docs/deploy, read as the tests
need them, and gunicorn and nginx started on free ports of 127.0.0.1."""

from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..helpers import missing
from .live import BIN, PREFIX, Clients, stop

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploying.md"
DEPLOY = ROOT / "docs" / "deploy"
UNIT = DEPLOY / "pypireg.service"
DEADLINE = 60.0  # seconds a server may take to come up
MiB = 1024 * 1024
LANGUAGES = {"gunicorn.conf.py": "python", "nginx.conf": "nginx", "pypireg.service": "ini",
             "backup.sh": "sh"}


# -- the files under docs/deploy -----------------------------------------------------------

def unit_entries() -> list[tuple[str, str]]:
    """``(key, value)`` for each setting in pypireg.service, repeated keys kept."""
    lines = [line.strip() for line in UNIT.read_text().splitlines()]
    return [tuple(line.split("=", 1)) for line in lines  # type: ignore[misc]
            if line and not line.startswith(("#", ";", "["))]


def unit_value(key: str) -> str:
    (value,) = [value for k, value in unit_entries() if k == key]
    return value


def unit_environment() -> dict[str, str]:
    return dict(item.split("=", 1) for key, value in unit_entries() if key == "Environment"
                for item in shlex.split(value))


def nginx_directive(name: str) -> str:
    """The value of the one ``name`` directive in nginx.conf (not a block such as server {})."""
    pattern = r"^[ \t]*" + name + r"[ \t]+([^;{\n]+);"
    (value,) = re.findall(pattern, (DEPLOY / "nginx.conf").read_text(), re.M)
    return value


def nginx_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** " kmg".index(unit or " ")


def as_here(block: str, root: Path) -> str:
    """The page's shell commands as a test runs them: under ``root`` instead of /var, with no
    sudo, and without systemctl and chown (the test stops and starts gunicorn itself)."""
    kept = [re.sub(r"\bsudo (-u \S+ )?", "", line) for line in block.splitlines()
            if not re.match(r"(sudo )?(systemctl|chown) ", line)]
    return ("\n".join(kept).replace("/etc/pypireg/backup.sh", f"sh {DEPLOY / 'backup.sh'}")
            .replace("/var/", f"{root}/var/"))


# -- servers ---------------------------------------------------------------------------------

def wait_for(ready: Callable[[], object], process: subprocess.Popen, log: Path) -> object:
    """Poll ``ready`` until it returns something true; fail if ``process`` exits first."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if result := ready():
            return result
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"not ready after {DEADLINE}s:\n{log.read_text()}")


STOPPED = 180.0  # seconds gunicorn or nginx may take to stop


def gunicorn_argv() -> list[str]:
    """The unit's ExecStart with this checkout's gunicorn and config, bound to any free port."""
    argv = shlex.split(unit_value("ExecStart"))
    config = argv.index("-c") + 1
    assert Path(argv[0]).name == "gunicorn" and Path(argv[config]).name == "gunicorn.conf.py"
    return [str(BIN / "gunicorn"), *argv[1:config], str(DEPLOY / "gunicorn.conf.py"),
            *argv[config + 1:-1], "-b", "127.0.0.1:0", argv[-1]]


def gunicorn_env(data: Path) -> dict[str, str]:
    """The unit's environment, on ``data``, also trusting the Host 127.0.0.1 clients send."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYPIREG_", "GUNICORN_", "FORWARDED_ALLOW_IPS", "WEB_CONC"))}
    env.update(unit_environment())
    env["PYPIREG_DATA"] = str(data)
    env["PYPIREG_TRUSTED_HOSTS"] += ",127.0.0.1"
    return env


def answers(port: int, path: str = f"{PREFIX}/projects/0") -> bool:
    """Whether a request to the port gets an HTTP answer, not just a connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": "127.0.0.1"})
        return connection.getresponse().status in (301, 404)
    except OSError:
        return False
    finally:
        connection.close()


def launch(argv: list[str], log: Path, **options: object) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, **options)  # type: ignore[call-overload]


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[str]:
    """Run the unit's command in the data directory, as the unit does; yields its URL."""
    process = launch(gunicorn_argv(), log, env=env, cwd=env["PYPIREG_DATA"])
    try:
        listening = r"Listening at: http://127\.0\.0\.1:(\d+)"
        port = int(wait_for(lambda: re.findall(listening, log.read_text()), process, log)[0])
        wait_for(lambda: answers(port), process, log)
        yield f"http://127.0.0.1:{port}{PREFIX}"
    finally:
        stop(process, STOPPED)


def index(url: str, token: str) -> str:
    with_token = url.replace("://", f"://__token__:{token}@")
    return f"{with_token}/projects/acme%2Ftools/packages/pypi/simple"


def upload_url(url: str) -> str:
    return f"{url}/projects/acme%2Ftools/packages/pypi"


# -- the page shows what is tested ------------------------------------------------------------


NGINX_MAIN = """\
daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/logs/error.log; {user}
events {{ worker_connections 64; }}
http {{ access_log {tmp}/logs/access.log; {temp} include {tmp}/pypireg.conf; }}
"""
TEMP_PATHS = " ".join(f"{kind}_temp_path {{tmp}}/temp/{kind};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


def need(program: str, package: str) -> str:
    """The program's path; else skip, or fail under CI, which must have it (.ci/run)."""
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin:/sbin")
    if found:
        return found
    missing(program, f"apt-get install {package}")


@dataclass
class TLSClients(Clients):
    """pip and twine trusting the test's own certificate authority."""

    ca: Path = Path()

    @property
    def env(self) -> dict[str, str]:
        # requests prefers REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE, where set, to twine's --cert.
        names = ("PIP_CERT", "TWINE_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
        return {**super().env, **dict.fromkeys(names, str(self.ca))}


@dataclass
class Stack:
    http_port: int
    https_port: int
    token: str
    logs: Path
    clients: TLSClients

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}{PREFIX}"

    def request(self, method: str, path: str, headers: dict[str, str], *, body_size: int = 0,
                ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One HTTPS request; ``body_size`` is announced in Content-Length, never sent."""
        context = ssl.create_default_context(cafile=str(self.clients.ca))
        connection = http.client.HTTPSConnection("127.0.0.1", self.https_port, timeout=60,
                                                 context=context)
        try:
            connection.putrequest(method, path, skip_host="Host" in headers)
            for name, value in {**headers, "Content-Length": str(body_size)}.items():
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()
