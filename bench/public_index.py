"""``bench/proxy.py --public``: a real dependency set installed through each caching proxy of
the public index this machine's pip is configured with, beside the same straight from it.

The index is read at run time (``PIP_INDEX_URL``, else ``pip config get global.index-url``,
else PyPI's); the set is ``public-requirements.txt``, pinned. pypireg (``pypireg.wsgi`` in
cache mode) and proxpi run under the same gunicorn (one worker, eight threads),
devpi-server as its own server with a mirror index of the same upstream. Three figures:

- **Installs**: ``uv pip install -r`` of the set into a new virtual environment, uv's cache
  off, through each proxy with an empty cache (cold) and then again (warm), and straight
  from the index; the median of ``--rounds`` rounds, each with new, empty caches, the
  proxies taking turns at going first. Beside the whole install, the part uv spent
  resolving (its "Resolved ... in"): the pages and metadata, where a proxy's answers
  count; the rest is fetching and unpacking wheels. The virtual environments and uv's
  cache for each run are on a tmpfs where there is one (``/dev/shm``), and each install
  starts after a ``sync``: on disk, the disk's mood dominated the unpacking.
- **Bytes**: what each proxy fetches from the index for ``uv pip compile`` of the set with
  an empty cache, beside what uv fetches straight from it, counted in a ``CONNECT`` tunnel
  every one of them is given as ``HTTPS_PROXY`` (TLS included, both ways).
- **Latency**: once warm, each page and file of the set asked again and again on one
  keep-alive connection: p50 and p99 of a page's whole answer, and of a file's first byte
  (its whole answer is mostly the copy of its bytes, printed too).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from packaging.tags import sys_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion

import pypireg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import BIN, Server, free_port, gunicorn, start  # noqa: E402

from tests.upstreams import relay, running  # noqa: E402  (servers.py puts the root on the path)

REQUIREMENTS = Path(__file__).with_name("public-requirements.txt")
UV_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2,"
             " text/html;q=0.01")  # what uv asks a page for
PYPIREG_PAGES = "/api/v4/projects/pub%2Fmirror/packages/pypi/simple/"


def configured_index() -> str:
    """The index this machine's pip installs from (its extra indexes aside)."""
    found = os.environ.get("PIP_INDEX_URL", "")
    if not found:
        answer = subprocess.run([sys.executable, "-m", "pip", "config", "get",
                                 "global.index-url"], capture_output=True, text=True)
        found = answer.stdout.strip() if answer.returncode == 0 else ""
    found = found or "https://pypi.org/simple/"
    return found if found.endswith("/") else found + "/"


def pinned() -> list[tuple[str, str]]:
    return [(name, pin) for name, _, pin in (
        line.partition("==") for line in REQUIREMENTS.read_text().splitlines()
        if line and not line.startswith("#"))]


# -- the proxies ------------------------------------------------------------------------------


class Proxy:
    """One proxy of ``upstream``: how to start it with an empty cache, and its URLs."""

    def __init__(self, name: str, starter: Callable[[Path, str, dict[str, str]], Server],
                 pages: str) -> None:
        self.name, self.starter, self.pages = name, starter, pages

    def start(self, work: Path, upstream: str, env: dict[str, str]) -> Server:
        return self.starter(work, upstream, env)


def start_pypireg(data: Path, upstream: str, env: dict[str, str]) -> Server:
    registry = pypireg.create_app(data)
    registry.create_group("pub", "public")
    registry.create_project("pub/mirror", "public")
    registry.catalog.close()
    return gunicorn("pypireg", "pypireg.wsgi:application", {}, threads=8, env={
        **env, "PYPIREG_DATA": str(data), "PYPIREG_UPSTREAM": upstream,
        "PYPIREG_UPSTREAM_MODE": "cache"})


def start_proxpi(cache: Path, upstream: str, env: dict[str, str]) -> Server:
    cache.mkdir()
    return gunicorn("proxpi", "proxpi.server:app", {}, threads=8, env={
        **env, "PROXPI_INDEX_URL": upstream, "PROXPI_CACHE_DIR": str(cache),
        "PROXPI_LOGGING_LEVEL": "WARNING"})


def start_devpi(serverdir: Path, upstream: str, env: dict[str, str]) -> Server:
    """devpi-server with ``root/pypi`` a mirror of ``upstream``, made through its API."""
    subprocess.run([str(BIN / "devpi-init"), "--serverdir", str(serverdir), "--no-root-pypi"],
                   check=True, capture_output=True)
    port = free_port()
    # Its search indexer off (on, it indexes the index's million names for minutes, on
    # the CPUs the installs need), and 30 s for the index's answers, not 5: with its
    # defaults, cold installs here failed on pages not fetched in time.
    server = start("devpi", [str(BIN / "devpi-server"), "--serverdir", str(serverdir),
                             "--host", "127.0.0.1", "--port", str(port),
                             "--indexer-backend", "null", "--request-timeout", "30"],
                   {}, port, env=env)
    try:
        login = _json(port, "POST", "/+login", {"user": "root", "password": ""}, {})
        auth = base64.b64encode(f"root:{login['result']['password']}".encode()).decode()
        _json(port, "PUT", "/root/pypi", {"type": "mirror", "mirror_url": upstream},
              {"X-Devpi-Auth": auth})
        _wait_for_names(port)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_for_names(port: int) -> None:
    """Until the mirror has loaded the index's list of every name: devpi fetches it when
    the mirror is made, and answers 404 for every page meanwhile."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/root/pypi/+simple/six/")
        status = connection.getresponse().status
        connection.close()
        if status == 200:
            return
        time.sleep(0.5)
    raise RuntimeError("devpi-server did not load the index's names within 10 minutes")


def _json(port: int, method: str, path: str, body: object, headers: dict[str, str]) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, json.dumps(body), {
        "Content-Type": "application/json", "Accept": "application/json", **headers})
    answer = connection.getresponse()
    text = answer.read()
    connection.close()
    if answer.status >= 300:
        raise RuntimeError(f"devpi {method} {path}: {answer.status} {text[:200]!r}")
    return json.loads(text)  # type: ignore[no-any-return]


PROXIES = (Proxy("pypireg", start_pypireg, PYPIREG_PAGES),
           Proxy("devpi-server", start_devpi, "/root/pypi/+simple/"),
           Proxy("proxpi", start_proxpi, "/index/"))


# -- the counting tunnel ----------------------------------------------------------------------


class Tunnels(socketserver.ThreadingTCPServer):
    """An ``HTTPS_PROXY`` on 127.0.0.1 that counts the bytes through its tunnels."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.bytes = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, size: int) -> None:
        with self.lock:
            self.bytes += size

    def take(self) -> int:
        with self.lock:
            counted, self.bytes = self.bytes, 0
        return counted


class _Tunnel(socketserver.StreamRequestHandler):
    server: Tunnels

    def handle(self) -> None:
        request = self.rfile.readline().decode("latin-1").split()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        if len(request) < 2 or request[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = request[1].rpartition(":")
        with socket.create_connection((host, int(port)), timeout=60) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            relay(self.connection, upstream, seconds=60, counted=self.server.count)


def tunnels() -> AbstractContextManager[Tunnels]:
    return running(Tunnels())


# -- uv -----------------------------------------------------------------------------------------


def uv(argv: list[str], index: str, proxy: str = "", temporary: Path | None = None
       ) -> tuple[float, float | None]:
    """Seconds for ``uv`` to run ``argv`` against ``index``, uv's cache and config off (its
    cache for the one run in ``temporary``, if given), and of those the seconds it says it
    spent resolving (None if it does not say)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("UV_", "PIP_")) and "proxy" not in k.lower()}
    env.update(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    if proxy:
        env["HTTPS_PROXY"] = proxy
    if temporary is not None:
        env["TMPDIR"] = str(temporary)
    started = time.monotonic()
    result = subprocess.run([str(BIN / "uv"), "pip", *argv, "--no-cache", "--index-url", index],
                            env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"uv {argv[0]} through {index} exited {result.returncode}:\n"
                           f"{result.stderr[-2000:]}")
    said = re.search(r"Resolved \d+ packages? in ([\d.]+)(ms|s)\b", result.stderr)
    resolving = None if said is None else float(said[1]) / (1000 if said[2] == "ms" else 1)
    return took, resolving


def install(clients: Path, index: str, label: str) -> tuple[float, float | None]:
    """The set installed into a new virtual environment in ``clients`` (removed after),
    uv's cache for the run there too. Each install starts after a ``sync``, so that what
    the ones before wrote (a virtual environment, a proxy's cache) is not written back to
    the disk during it."""
    target = clients / f"venv-{label}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    os.sync()
    try:
        return uv(["install", "--python", str(target / "bin" / "python"), "-r",
                   str(REQUIREMENTS)], index, temporary=clients)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def clients_directory() -> str | None:
    """Where the installs go: ``/dev/shm`` where it is a tmpfs (else the system's temporary
    directory), so that the disk does not decide them: on the machine of bench/README.md
    its speed swings by a factor of three from one hour to the next, and uv unpacking the
    set's 45 MB of wheels took that much longer or shorter. The proxies' caches stay on
    the disk: writing them is part of what a proxy does."""
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            tmpfs = any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in mounts)
    except OSError:
        return None
    return "/dev/shm" if tmpfs and os.access("/dev/shm", os.W_OK) else None


def compile_set(index: str, proxy: str = "") -> None:
    uv(["compile", "-q", "--python-version", "3.11", "-o", os.devnull, str(REQUIREMENTS)],
       index, proxy)


# -- latency -------------------------------------------------------------------------------------


def file_paths(port: int, pages: list[str]) -> list[str]:
    """The wheel of each page's pinned version an installer here would take."""
    tags = {str(tag): rank for rank, tag in enumerate(sys_tags())}
    paths, pins = [], dict(pinned())
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for page in pages:
        connection.request("GET", page, headers={"Accept": "text/html"})
        text = connection.getresponse().read().decode()
        best: tuple[int, str] | None = None
        for href in re.findall(r'href="([^"#]+)', text):
            filename = urlsplit(href).path.rpartition("/")[2]
            if not filename.endswith(".whl"):
                continue
            try:
                name, wheel_version, _, wheel_tags = parse_wheel_filename(filename)
            except (InvalidWheelFilename, InvalidVersion):  # old names no installer takes
                continue
            if str(wheel_version) != pins.get(canonicalize_name(name)):
                continue
            rank = min((tags[str(t)] for t in wheel_tags if str(t) in tags), default=None)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, urlsplit(urljoin(f"http://127.0.0.1:{port}{page}", href)).path)
        if best:
            paths.append(best[1])
    connection.close()
    return paths


def timings(port: int, paths: list[str], repeat: int, headers: dict[str, str] | None = None
            ) -> tuple[list[float], list[float]]:
    """Seconds to each answer's first byte and to its last, each path ``repeat`` times
    (after one round not timed, which fetches anything still missing)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    first, whole = [], []
    for turn in range(repeat + 1):
        for path in paths:
            started = time.perf_counter()
            connection.request("GET", path, headers=headers or {})
            answer = connection.getresponse()
            answer.read(1)
            headed = time.perf_counter()
            answer.read()
            done = time.perf_counter()
            if answer.status != 200:
                raise RuntimeError(f"{path}: {answer.status}")
            if turn:
                first.append(headed - started)
                whole.append(done - started)
    connection.close()
    return first, whole


def _median(found: list[float | None]) -> float | None:
    done = [t for t in found if t is not None]
    return statistics.median(done) if done else None


def warm_latency(port: int, prefix: str, names: list[str]
                 ) -> tuple[list[float], list[float], list[float]]:
    """Every page's whole answer, and every wheel's first byte and whole answer."""
    pages = [f"{prefix}{name}/" for name in names]
    _, page_times = timings(port, pages, 20, {"Accept": UV_ACCEPT})
    first, whole = timings(port, file_paths(port, pages), 5)
    return page_times, first, whole


def percentiles(seconds: list[float]) -> str:
    cuts = statistics.quantiles(seconds, n=100)
    return f"{statistics.median(seconds) * 1000:>8.2f} {cuts[98] * 1000:>8.2f}"


# -- the run -------------------------------------------------------------------------------------


def main(rounds: int) -> None:
    index, names = configured_index(), [name for name, _ in pinned()]
    uv_version = subprocess.run([str(BIN / "uv"), "--version"], capture_output=True,
                                text=True).stdout.split()[1]
    print(f"pypireg {pypireg.__version__}, devpi-server {version('devpi-server')}, proxpi"
          f" {version('proxpi')}, uv {uv_version}, gunicorn {version('gunicorn')};"
          f" {os.cpu_count()} CPUs; the index: {index}; {len(names)} pinned packages")
    with tempfile.TemporaryDirectory(prefix="pypireg-public-bench-") as tmp, \
            tempfile.TemporaryDirectory(prefix="pypireg-public-bench-installs-",
                                        dir=clients_directory()) as installs, \
            tunnels() as tunnel:
        work, clients = Path(tmp), Path(installs)
        print(f"installs in {clients.parent}; the proxies' caches in {work.parent}")
        fetched: dict[str, int | None] = {}
        fetched["straight from the index"] = _counted(
            tunnel, lambda: compile_set(index, tunnel.url))
        for proxy in PROXIES:
            server = proxy.start(work / f"{proxy.name}-bytes", index,
                                 {"HTTPS_PROXY": tunnel.url, "HTTP_PROXY": tunnel.url})
            started = tunnel.take()
            if started:  # devpi-server's list of every name
                fetched[f"{proxy.name}, starting"] = started
            try:
                fetched[proxy.name] = _counted(tunnel, lambda: compile_set(
                    f"http://127.0.0.1:{server.port}{proxy.pages}"))  # noqa: B023
            finally:
                server.stop()
        times: dict[str, list[tuple[float, float | None] | None]] = {}
        latency: dict[str, tuple[list[float], list[float], list[float]]] = {}
        for round_ in range(rounds):
            print(f"  round {round_ + 1} of {rounds}", file=sys.stderr)
            times.setdefault("straight from the index", []).append(
                _timed(lambda: install(clients, index, f"direct-{round_}")))  # noqa: B023
            turn = round_ % len(PROXIES)  # each goes first in turn: no proxy always follows
            for proxy in PROXIES[turn:] + PROXIES[:turn]:  # the same one's leftovers
                server = proxy.start(work / f"{proxy.name}-{round_}", index, {})
                try:
                    url = f"http://127.0.0.1:{server.port}{proxy.pages}"
                    for state in ("cold", "warm"):
                        times.setdefault(f"{proxy.name}, {state}", []).append(_timed(
                            lambda: install(clients, url,  # noqa: B023
                                            f"{proxy.name}-{state}-{round_}")))  # noqa: B023
                    if round_ == 0:
                        try:
                            latency[proxy.name] = warm_latency(server.port, proxy.pages,
                                                               names)
                        except (RuntimeError, OSError) as exc:
                            print(f"  {proxy.name}: latency not measured: {exc}",
                                  file=sys.stderr)
                finally:
                    server.stop()
    report(rounds, {label: times[label] for label in sorted(times, key=_row)}, fetched,
           latency)


def _counted(tunnel: Tunnels, work: Callable[[], None]) -> int | None:
    """Bytes through the tunnel while ``work`` runs; None if it failed."""
    tunnel.take()
    try:
        work()
    except RuntimeError as exc:
        print(f"  failed: {exc}", file=sys.stderr)
        return None
    return tunnel.take()


def _row(label: str) -> int:
    """Where an install's row goes: straight first, then the proxies in their order."""
    names = [p.name for p in PROXIES]
    name, _, state = label.partition(", ")
    return 0 if name not in names else 1 + 2 * names.index(name) + (state == "warm")


def _timed(work: Callable[[], tuple[float, float | None]]) -> tuple[float, float | None] | None:
    """The seconds ``work`` took, and of those resolving; None if it failed."""
    try:
        return work()
    except RuntimeError as exc:
        print(f"  failed: {exc}", file=sys.stderr)
        return None


def report(rounds: int, times: dict[str, list[tuple[float, float | None] | None]],
           fetched: dict[str, int | None],
           latency: dict[str, tuple[list[float], list[float], list[float]]]) -> None:
    """The three tables; a run that failed counts as failed, never as a figure."""
    print(f"\nuv pip install -r public-requirements.txt into a new venv, uv's cache off; the"
          f" median of {rounds} rounds, each with empty caches\n")
    base = _median([t[0] if t else None for t in times["straight from the index"]])
    print(f"{'through':<30} {'seconds':>8} {'vs direct':>10} {'resolving':>10}  failed")
    for label, found in times.items():
        median = _median([t[0] if t else None for t in found])
        resolving = _median([t[1] if t else None for t in found])
        failed = sum(1 for t in found if t is None)
        shown = (f"{median:>8.2f} {median / base:>9.2f}x" if median and base
                 else f"{'-':>8} {'-':>10}")
        shown += f" {resolving:>10.2f}" if resolving is not None else f" {'-':>10}"
        print(f"{label:<30} {shown}  {failed}/{len(found)}")
    print("\nbytes fetched from the index for uv pip compile of the set, empty caches\n")
    direct = fetched["straight from the index"]
    print(f"{'fetched by':<30} {'MB':>8} {'vs direct':>10}")
    for label, count in fetched.items():
        shown = (f"{count / 1e6:>8.2f} {count / direct:>9.2f}x" if count and direct
                 else f"{'failed':>8}")
        print(f"{label:<30} {shown}")
    print("\nwarm answers on loopback, ms (pages: 20 rounds of every page; files: 5 rounds of"
          " every wheel)\n")
    print(f"{'proxy':<14} {'page p50':>8} {'p99':>8}   {'file 1st p50':>12} {'p99':>8}"
          f"   {'file all p50':>12} {'p99':>8}")
    for name, (pages, first, whole) in latency.items():
        print(f"{name:<14} {percentiles(pages)}   {percentiles(first):>21}"
              f"   {percentiles(whole):>21}")
