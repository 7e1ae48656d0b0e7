"""How long people wait for the web pages: pypireg's home, project, package and search
pages at 5,000 and 100,000 packages, beside the nearest pages of pypiserver and devpi-web
(where they have one), measured in the same run.

pypireg keeps each rendered page until what it shows changes (docs/ui.md), so a second
pypireg runs with its page cache off ("none kept"): what every page costs to render, which
is what the first visitor after each change waits.

Each server runs on the same data as in bench/pages.py (one project holding every name;
``pkg0`` with 2,000 files), pypireg and pypiserver under gunicorn with one sync worker,
devpi-server with devpi-web as it runs itself. One client asks for each page again and
again for a few seconds, one request at a time, so the figures are the time a person
waits for a page (median and 95th percentile, in milliseconds), not a throughput. Then the
bytes each page's body takes on the wire, to a client that takes no compression and to one
that takes gzip (as browsers do).

    python bench/ui.py                  # 5,000 and 100,000 packages (devpi at 5,000 only)
    python bench/ui.py --sizes 5000 --seconds 2

The nearest pages: pypiserver has no project or package page for people, so its simple
index and package page stand in, and no search; devpi-web has an index page, a version
page (description and files) and a search.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers  # noqa: E402
from upload_memory import build_wheel  # noqa: E402

PAGES = {
    "home": "home page",
    "project": "project page (5,000 or 100,000 names)",
    "package": "package page, 1 file",
    "big": "package page, 2,000 files",
    "search": "search for one name",
    "broad": "search matching every package",
}


def pypireg_paths() -> dict[str, str]:
    return {"home": "/", "project": "/acme/bench", "package": "/acme/bench/-/packages/pypi/pkg1",
            "big": "/acme/bench/-/packages/pypi/pkg0", "search": "/-/search?q=pkg1234",
            "broad": "/-/search?q=pkg"}


def peer_paths(name: str) -> dict[str, str]:
    if name == "pypiserver":
        return {"home": "/", "project": "/simple/", "package": "/simple/pkg1/",
                "big": "/simple/pkg0/"}
    return {"home": "/", "project": "/root/bench", "package": "/root/bench/pkg1/1.0",
            "big": "/root/bench/pkg0/1.0", "search": "/+search?query=pkg1234"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,100000", help="package counts (5000,100000)")
    parser.add_argument("--seconds", type=float, default=3.0, help="per page and server")
    parser.add_argument("--devpi-max", type=int, default=5000,
                        help="largest size devpi gets (its import of 5,000 takes minutes)")
    args = parser.parse_args()
    print(servers.machine(None).splitlines()[0] + (
        f", devpi-web {servers.version('devpi-web')}" if servers.available("devpi-server")
        else ""))
    print("one client, one request at a time; milliseconds, median (95th percentile)\n")
    with tempfile.TemporaryDirectory(prefix="pypireg-bench-ui-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work, 1)
        servers.write_modules(work / "modules")
        for count in (int(s) for s in args.sizes.split(",")):
            run_size(work / f"n{count}", count, wheel, args)


def run_size(work: Path, count: int, wheel: Path, args: argparse.Namespace) -> None:
    work.mkdir()
    use_devpi = count <= args.devpi_max and servers.available("devpi-server")
    with ExitStack() as stack:
        importing = None
        if use_devpi:
            servers.devpi_export(work / "devpi-export", count, wheel)
            importing = servers.devpi_import(work / "devpi-export", work / "devpi")
            stack.callback(servers.stop_process, importing)
        print(f"{count:,} packages: setting up", file=sys.stderr)
        data = work / "pypireg-data"
        servers.seed_pypireg(data, count, wheel)
        running = [servers.start_pypireg(data, pypireg_paths())]
        rendering = servers.gunicorn("pypireg, none kept", "pypireg.wsgi:application",
                                     pypireg_paths(), env={"PYPIREG_DATA": str(data),
                                                           "PYPIREG_PAGE_CACHE_SIZE": "0"})
        running.append(rendering)
        stack.callback(servers.stop_all, running)
        servers.seed_pypiserver(work / "pypiserver-packages", count, wheel)
        pypiserver = servers.start_pypiserver(work.parent / "modules",
                                              work / "pypiserver-packages", wheel)
        pypiserver.paths = peer_paths("pypiserver")
        running.append(pypiserver)
        if importing is not None:
            if importing.wait() != 0:
                raise RuntimeError(f"devpi-import exited with {importing.returncode}")
            devpi = servers.start_devpi(work / "devpi", wheel)
            devpi.paths = peer_paths("devpi")
            running.append(devpi)
        servers.wait_idle(running)
        times = {(server.name, page): measure(server, path, args.seconds)
                 for server in running for page, path in server.paths.items()}
        sent = {(server.name, page): sizes(server, path)
                for server in running for page, path in server.paths.items()}
    print(f"{count:,} packages" + ("" if use_devpi else "; devpi left out at this size"))
    names = [server.name for server in running]
    print(f"{'page':<42}" + "".join(f"{name:>20}" for name in names))
    for page, title in PAGES.items():
        cells = []
        for name in names:
            found = times.get((name, page))
            cells.append(f"{found[0]:>9.1f} ({found[1]:.1f})" if found else "-")
        print(f"{title:<42}" + "".join(f"{cell:>20}" for cell in cells))
    print("\nbytes sent: as asked without compression (to a client that takes gzip)")
    print(f"{'page':<42}" + "".join(f"{name:>24}" for name in names))
    for page, title in PAGES.items():
        cells = []
        for name in names:
            found = sent.get((name, page))
            cells.append(f"{found[0]:>11,} ({found[1]:,})" if found else "-")
        print(f"{title:<42}" + "".join(f"{cell:>24}" for cell in cells))
    print()


def sizes(server: servers.Server, path: str) -> tuple[int, int]:
    """The bytes of the page's body as sent to a client that takes no compression, and to
    one that takes gzip."""
    found = []
    for encoding in ("identity", "gzip"):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        try:
            connection.request("GET", path, headers={"Accept": "text/html",
                                                     "Accept-Encoding": encoding})
            found.append(len(connection.getresponse().read()))
        finally:
            connection.close()
    return found[0], found[1]


def measure(server: servers.Server, path: str, seconds: float) -> tuple[float, float]:
    """Median and 95th percentile of one client's requests for ``seconds`` (after two to
    warm up, each checked to be a 200)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    took: list[float] = []
    deadline = time.perf_counter() + seconds
    try:
        for n in range(1_000_000):
            started = time.perf_counter()
            connection.request("GET", path, headers={"Accept": "text/html"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{server.name} answered {path} with {response.status}")
            if n >= 2:
                took.append((time.perf_counter() - started) * 1000)
            if time.perf_counter() > deadline and len(took) >= 5:
                break
    finally:
        connection.close()
    return statistics.median(took), statistics.quantiles(took, n=20)[-1]


if __name__ == "__main__":
    main()
