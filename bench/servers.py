"""The servers bench/pages.py compares, each given the same packages and run as its own
process on 127.0.0.1: pypireg (under gunicorn and under ``pypireg serve``), pypiserver,
devpi-server and a hello-world WSGI app, the ceiling of the gunicorn they share; and the
load generators that measure them (wrk, or a Python stand-in).

Every catalog holds ``count`` names, ``pkg0`` to ``pkg{count-1}``: ``pkg0`` with 2,000
files, every other name with one, plus one real 10 MiB wheel (``bigpkg``) to download.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urljoin

from werkzeug.test import Client

import pypireg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.seeding import seed  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from upload_memory import free_port, wait_for_port  # noqa: E402

BIG = 2000  # files of pkg0
BIN = Path(sys.executable).parent
STAMP = "Tue, 01 Dec 2026 00:00:00 GMT"
TINY = b"tiny sdist"  # the bytes of every listed file: pages never read them

HELLO = '''\
import os

FILE = os.environ["BENCH_FILE"]


def application(environ, start_response):
    if environ["PATH_INFO"] == "/file":  # the same wheel, by the server's file wrapper
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(os.path.getsize(FILE)))])
        return environ["wsgi.file_wrapper"](open(FILE, "rb"), 1 << 16)
    body = b"Hello, world!\\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''
PYPISERVER = '''\
import os

import pypiserver
from pypiserver import cache

# watchdog 2.3 and later also report files opened and closed without writing; pypiserver's
# cache takes each for a change, so its own reads (digests, downloads) would empty it and
# every page would list and hash the directory again. Only changes clear it here.
_dispatch = cache._EventHandler.dispatch
cache._EventHandler.dispatch = lambda self, event: (
    None if event.event_type in ("opened", "closed_no_write") else _dispatch(self, event))

# cached-dir: listings and digests kept in memory, cleared by watchdog on a change; it
# refuses to start without watchdog rather than scanning the directory on every request.
application = pypiserver.app(roots=[os.environ["BENCH_ROOT"]], backend_arg="cached-dir",
                             disable_fallback=True)
'''


@dataclass
class Server:
    """One running server: its paths for each page, and the process to measure."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    paths: dict[str, str]
    gunicorn: bool = False

    @property
    def worker(self) -> int:
        """The process that serves requests: gunicorn's one worker, else the server."""
        if not self.gunicorn:
            return self.process.pid
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(children[0])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, argv: list[str], paths: dict[str, str], port: int, *,
          env: dict[str, str] | None = None, gunicorn: bool = False) -> Server:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})})
    server = Server(name, process, port, paths, gunicorn)
    try:
        wait_for_port(process, port)  # type: ignore[arg-type]
        if gunicorn:
            wait_for_worker(server)
            wait_for_answer(process, port)  # type: ignore[arg-type]
    except BaseException:
        server.stop()
        raise
    return server


def wait_for_worker(server: Server) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            server.worker  # noqa: B018
            return
        except (IndexError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"{server.name}: gunicorn started no worker")


def wait_for_answer(process: subprocess.Popen[str], port: int) -> None:
    """Until the server answers a request, whatever it says: gunicorn opens the port before
    its worker has loaded the app, and a first request would wait for that (pypireg's
    worker takes about a second, proxpi's half), so what it measures would include the
    server's start."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/-/started")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
        finally:
            connection.close()
    raise RuntimeError("server did not answer")


def cpu_seconds(pid: int) -> float:
    """User and system time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(running: list[Server], limit: float = 600) -> float:
    """Until no server uses more than 2% of a CPU over a second (devpi-server goes on
    working for a while after it starts); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = [cpu_seconds(server.worker) for server in running]
        time.sleep(1)
        if all(cpu_seconds(server.worker) - used < 0.02
               for server, used in zip(running, before, strict=True)):
            break
    return time.monotonic() - started


def gunicorn(name: str, app: str, paths: dict[str, str], *, env: dict[str, str],
             pythonpath: Path | None = None, threads: int = 1) -> Server:
    """``app`` under gunicorn with one worker: sync, or with ``threads`` the threaded one."""
    port = free_port()
    argv = [str(BIN / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "--timeout", "300"]
    if threads > 1:
        argv += ["-k", "gthread", "--threads", str(threads)]
    if pythonpath:
        argv += ["--pythonpath", str(pythonpath)]
    if "--no-control-socket" in _gunicorn_help():  # one shared path for every gunicorn
        argv.append("--no-control-socket")
    return start(name, [*argv, app], paths, port, env=env, gunicorn=True)


@functools.cache
def _gunicorn_help() -> str:
    return subprocess.run([str(BIN / "gunicorn"), "--help"], capture_output=True,
                          text=True).stdout


# -- pypireg -----------------------------------------------------------------------------------

PYPIREG_API = "/api/v4/projects/acme%2Fbench/packages/pypi"


def seed_pypireg(data: Path, count: int, wheel: Path) -> dict[str, str]:
    """Catalog rows written straight into SQLite, then the wheel uploaded as twine would.

    Returns the page paths as served under ``/api/v4``."""
    registry = pypireg.create_app(data)
    registry.create_group("acme", "public")
    project = registry.create_project("acme/bench", "public")
    seed(registry, [project], count, files_per_package=1, big=BIG, deleted_every=0)
    token = registry.create_token("bench", ["acme/bench:write"])
    auth = base64.b64encode(f"__token__:{token}".encode()).decode()
    with wheel.open("rb") as content:
        response = Client(registry).post(
            PYPIREG_API.removeprefix("/api/v4"), headers={"Authorization": f"Basic {auth}"},
            data={":action": "file_upload", "name": "bigpkg", "version": "1.0",
                  "content": (content, wheel.name)})
    if response.status_code != 201:
        raise RuntimeError(f"pypireg upload: {response.status} {response.get_data(True)}")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return {"one": f"{PYPIREG_API}/simple/pkg1/", "big": f"{PYPIREG_API}/simple/pkg0/",
            "index": f"{PYPIREG_API}/simple/",
            "group": "/api/v4/groups/acme/-/packages/pypi/simple/",
            "download": f"{PYPIREG_API}/files/{digest}/{wheel.name}"}


def start_pypireg(data: Path, paths: dict[str, str]) -> Server:
    return gunicorn("pypireg", "pypireg.wsgi:application", paths,
                    env={"PYPIREG_DATA": str(data)})


def start_pypireg_serve(data: Path, paths: dict[str, str]) -> Server:
    port = free_port()
    return start("pypireg serve", [str(BIN / "pypireg"), "serve", "--host", "127.0.0.1",
                                   "--port", str(port), "--data", str(data)], paths, port)


# -- the ceiling and pypiserver ------------------------------------------------------------------


def write_modules(directory: Path) -> None:
    """The hello-world and pypiserver WSGI modules gunicorn loads, outside the repository."""
    directory.mkdir()
    (directory / "bench_hello.py").write_text(HELLO)
    (directory / "bench_pypiserver.py").write_text(PYPISERVER)


def start_ceiling(modules: Path, wheel: Path) -> Server:
    return gunicorn("ceiling", "bench_hello:application", {"hello": "/", "download": "/file"},
                    env={"BENCH_FILE": str(wheel)}, pythonpath=modules)


def names(count: int) -> list[tuple[str, str]]:
    """``(name, file name)`` of every listed file, as the pypireg seed names them."""
    files = [("pkg0", f"pkg0-1.0.{j}.tar.gz") for j in range(BIG)]
    return files + [(f"pkg{n}", f"pkg{n}-1.0.tar.gz") for n in range(1, count)]


def seed_pypiserver(directory: Path, count: int, wheel: Path) -> None:
    directory.mkdir()
    for _, file_name in names(count):
        (directory / file_name).write_bytes(TINY)
    shutil.copy(wheel, directory / wheel.name)


def start_pypiserver(modules: Path, directory: Path, wheel: Path) -> Server:
    paths = {"one": "/simple/pkg1/", "big": "/simple/pkg0/", "index": "/simple/",
             "download": f"/packages/{wheel.name}"}
    return gunicorn("pypiserver", "bench_pypiserver:application", paths,
                    env={"BENCH_ROOT": str(directory)}, pythonpath=modules)


# -- devpi -------------------------------------------------------------------------------------


def devpi_export(directory: Path, count: int, wheel: Path) -> None:
    """What ``devpi-export`` would have written for one index holding the same files."""
    projects: dict[str, dict[str, dict[str, str]]] = {}
    files = []
    tiny = hashlib.sha256(TINY).hexdigest()
    for name, file_name, digest, source in [
        *((n, f, tiny, None) for n, f in names(count)),
        ("bigpkg", wheel.name, hashlib.sha256(wheel.read_bytes()).hexdigest(), wheel),
    ]:
        projects.setdefault(name, {})["1.0"] = {"name": name, "version": "1.0"}
        relpath = f"root/bench/{name}/1.0/{file_name}"
        path = directory / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if source:
            os.link(source, path)
        else:
            path.write_bytes(TINY)
        files.append({
            "type": "releasefile", "projectname": name, "version": "1.0", "relpath": relpath,
            "log": [], "entrymapping": {"last_modified": STAMP, "hash_spec": f"sha256={digest}",
                                        "hashes": {"sha256": digest}, "project": name,
                                        "version": "1.0"}})
    index = {"type": "stage", "bases": [], "volatile": False, "acl_upload": ["root"],
             "acl_toxresult_upload": [":ANONYMOUS:"], "mirror_whitelist": [],
             "mirror_whitelist_inheritance": "intersection"}
    dump = {"dumpversion": "2", "pythonversion": list(sys.version_info),
            "devpi_server": devpi_version(),
            "users": {"root": {"username": "root", "pwhash": "",
                               "created": "2026-12-01T00:00:00Z"}},
            "indexes": {"root/bench": {"indexconfig": index, "projects": projects,
                                       "files": files}}}
    (directory / "dataindex.json").write_text(json.dumps(dump))


def devpi_import(export: Path, serverdir: Path) -> subprocess.Popen[bytes]:
    """``devpi-import``, in the background: it is the slow part of devpi's setup."""
    return subprocess.Popen([str(BIN / "devpi-import"), "--serverdir", str(serverdir),
                             "--no-root-pypi", str(export)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_devpi(serverdir: Path, wheel: Path) -> Server:
    port = free_port()
    base = "/root/bench/+simple"
    paths = {"one": f"{base}/pkg1/", "big": f"{base}/pkg0/", "index": f"{base}/"}
    server = start("devpi", [str(BIN / "devpi-server"), "--serverdir", str(serverdir),
                             "--host", "127.0.0.1", "--port", str(port), "--offline-mode"],
                   paths, port)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", f"{base}/bigpkg/")
    page = connection.getresponse().read().decode()
    connection.close()
    href = re.search(r'href="([^"#]+)', page)
    if href is None:
        server.stop()
        raise RuntimeError("devpi lists no bigpkg file")
    paths["download"] = urljoin(f"{base}/bigpkg/", href.group(1))
    return server


def available(program: str) -> bool:
    return (BIN / program).exists()


def devpi_version() -> str:
    return version("devpi-server")


def stop_all(running: list[Server]) -> None:
    for server in running:
        server.stop()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


# -- load generators ---------------------------------------------------------------------------


def wrk(url: str, headers: dict[str, str], seconds: float) -> tuple[float, int]:
    """Requests per second and requests completed, by wrk: 2 threads, 4 connections."""
    argv = ["wrk", "-t2", "-c4", f"-d{seconds:g}s", "--timeout", "60s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    if bad := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        print(f"  {url}: {bad.group(1)} answers not 2xx or 3xx", file=sys.stderr)
    done = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    return float(rate.group(1)) if rate else 0.0, int(done.group(1)) if done else 0


def python_load(url: str, headers: dict[str, str], seconds: float) -> tuple[float, int]:
    """Four keep-alive connections in threads, each finishing the request it started: for
    pages too slow for wrk's count, and in place of wrk where it is missing."""
    host, _, rest = url.removeprefix("http://").partition("/")
    port, counts = int(host.rsplit(":", 1)[1]), []
    deadline = time.perf_counter() + seconds

    def run() -> None:
        connection, done = http.client.HTTPConnection("127.0.0.1", port, timeout=60), 0
        while time.perf_counter() < deadline:
            connection.request("GET", f"/{rest}", headers=headers)
            response = connection.getresponse()
            while response.read(1 << 20):
                pass
            done += 1
        connection.close()
        counts.append(done)

    threads = [threading.Thread(target=run) for _ in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started), sum(counts)


def wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).split(" Copyright")[0].strip()


def fetch(server: Server, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """One GET on a new connection: the status and the headers (lowercased names)."""
    if server.process.poll() is not None:
        raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def machine(wrk: str | None) -> str:
    """The versions compared, the load generator and the machine, for the table's head."""
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    devpi = f"devpi-server {devpi_version()}" if available("devpi-server") else (
        "devpi-server: not installed")
    return (f"pypireg {version('pypireg')}, pypiserver {version('pypiserver')}, {devpi},"
            f" gunicorn {version('gunicorn')}, Python {platform.python_version()}\n"
            f"{wrk or 'a Python load generator (no wrk: apt-get install wrk)'};"
            f" {len(os.sched_getaffinity(0))} CPUs (nproc),"
            f" {cpu.group(1) if cpu else platform.machine()}\n")
