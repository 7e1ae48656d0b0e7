"""The pages pip hits most, in requests per second: pypireg beside its peers, in one run.

pypireg, pypiserver, devpi-server and a hello-world WSGI app (the ceiling), on the same data.

    pip install -e '.[bench]'                    # pypiserver, devpi-server, gunicorn
    apt-get install wrk                          # the load generator
    python bench/pages.py                        # 5,000 then 100,000 packages
    python bench/pages.py --quick                # 5,000 only, one short round
    python bench/pages.py --sizes 20000 --skip devpi
    python bench/pages.py --profile              # where pypireg's time goes, page by page

pypireg, pypiserver and the ceiling each run under gunicorn with one sync worker;
``pypireg serve`` and devpi-server run on the servers they ship with. Every server is its
own process on 127.0.0.1, started here and stopped by its PID at the end; nothing reaches
the internet (pypiserver has its fallback off, devpi runs ``--offline-mode``). Each figure
is the median of the rounds, the servers taking turns page by page within a round. Without
wrk, a Python keep-alive load generator stands in; it saturates before the fast servers do.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers  # noqa: E402
from servers import Server, fetch, python_load, stop_all, stop_process, wrk  # noqa: E402
from upload_memory import build_wheel, rss_mib  # noqa: E402

PEERS = ("pypiserver", "devpi")
COLUMNS = ("pypireg", "pypireg serve", *PEERS, "ceiling")
V1_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    path: str  # the key of Server.paths it requests
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = False  # If-None-Match with the ETag the server gave for the page
    peer: str = ""  # what a peer serves in its place, when it has no such page


PAGES = [
    Page("one", "package page, 1 file", "one"),
    Page("big", "package page, 2,000 files", "big"),
    Page("json", "  the same, PEP 691 JSON", "big", {"Accept": V1_JSON}),
    Page("index", "project index", "index"),
    Page("group", "group index", "group", peer="index"),
    Page("304", "2,000 files, revalidated", "big", conditional=True),
    Page("download", "10 MiB download", "download"),
]
HELLO = Page("hello", "hello world", "hello")
INDEXES = ("index", "group")  # the pages that list every name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,100000", help="package counts (5000,100000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--quick", action="store_true", help="5,000 packages, 1 round of 1 s")
    parser.add_argument("--skip", action="append", default=[], choices=PEERS)
    parser.add_argument("--devpi-max", type=int, default=5000,
                        help="largest size devpi gets (its import of 5,000 takes minutes)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile each pypireg page in-process instead")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.rounds, args.seconds = sizes[:1], 1, 1.0
    if args.profile:
        profile(sizes[0])
        return
    load = wrk if shutil.which("wrk") else python_load
    print(servers.machine(servers.wrk_version() if load is wrk else None))
    results = {}
    with tempfile.TemporaryDirectory(prefix="pypireg-bench-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work, 10)
        servers.write_modules(work / "modules")
        for count in sizes:
            rates = run_size(work / f"n{count}", count, wheel, args, load)
            results[count] = rates
    if len(sizes) > 1:
        print_scaling(results, sizes)


# -- one size ----------------------------------------------------------------------------------


def run_size(work: Path, count: int, wheel: Path, args: argparse.Namespace,
             load: object) -> dict[tuple[str, str], float]:
    modules = work.parent / "modules"
    work.mkdir()
    started = time.monotonic()
    use_devpi = ("devpi" not in args.skip and count <= args.devpi_max
                 and servers.available("devpi-server"))
    with ExitStack() as stack:
        importing = None
        if use_devpi:  # the slow part of setting up, while the others are seeded
            servers.devpi_export(work / "devpi-export", count, wheel)
            importing = servers.devpi_import(work / "devpi-export", work / "devpi")
            stack.callback(stop_process, importing)
        print(f"{count:,} packages: setting up", file=sys.stderr)
        data = work / "pypireg-data"
        paths = servers.seed_pypireg(data, count, wheel)
        running = [servers.start_pypireg(data, paths), servers.start_pypireg_serve(data, paths)]
        stack.callback(stop_all, running)
        if "pypiserver" not in args.skip:
            servers.seed_pypiserver(work / "pypiserver-packages", count, wheel)
            running.append(servers.start_pypiserver(modules, work / "pypiserver-packages", wheel))
        running.append(servers.start_ceiling(modules, wheel))
        if importing is not None:
            if importing.wait() != 0:
                raise RuntimeError(f"devpi-import exited with {importing.returncode}")
            running.append(servers.start_devpi(work / "devpi", wheel))
        idle = servers.wait_idle(running)
        setup = time.monotonic() - started
        plan = make_plan(running)
        load_before = os.getloadavg()[0]
        rates, rss = measure(plan, args, load)
        load_after = os.getloadavg()[0]
    skipped = "; devpi left out" + (" at this size" if count > args.devpi_max else "")
    print(f"{count:,} packages ({count - 1 + servers.BIG + 1:,} files); the median of"
          f" {rounds(args.rounds)} of {args.seconds:g} s"
          f"{'' if use_devpi else skipped}\nset up in {setup:.0f} s"
          f" ({idle:.0f} s of it waiting for the servers to go idle); 1-minute load average"
          f" {load_before:.2f} before measuring, {load_after:.2f} after\n")
    print_table(rates, plan)
    print_download(rates, rss, wheel)
    print_goals(rates, rss, wheel)
    return rates


def rounds(n: int) -> str:
    return "one round" if n == 1 else f"{n} rounds"


@dataclass
class Target:
    server: Server
    page: Page
    path: str
    headers: dict[str, str]
    status: int


def make_plan(running: list[Server]) -> list[Target]:
    """Every (server, page) it serves, checked twice (which also warms it up)."""
    plan = []
    etag = ""
    for server in running:
        for page in [*PAGES, HELLO]:
            path = server.paths.get(page.path)
            if path is None:
                continue
            headers = dict(page.headers)
            if page.conditional:
                own = fetch(server, path, {})[1].get("etag")
                etag = own or etag  # peers without ETags get pypireg's, and answer 200
                headers["If-None-Match"] = etag
            for _ in range(2):
                status = fetch(server, path, headers)[0]
            if status not in (200, 304):
                print(f"  {server.name} {page.label}: {status}, left out", file=sys.stderr)
                continue
            plan.append(Target(server, page, path, headers, status))
    return plan


def measure(plan: list[Target], args: argparse.Namespace, load) -> tuple[dict, dict]:
    samples: dict[tuple[str, str], list[float]] = {}
    rss: dict[str, list[float]] = {}
    for round_ in range(args.rounds):
        print(f"  round {round_ + 1} of {args.rounds}", file=sys.stderr)
        for page in [*PAGES, HELLO]:
            for target in (t for t in plan if t.page is page):
                server = target.server
                if page.key == "download" and round_ == 0:
                    rss[server.name] = [rss_mib(server.worker)]
                url = f"http://127.0.0.1:{server.port}{target.path}"
                rate, done = load(url, target.headers, args.seconds)
                if done < 20:  # too few to count by time: every request waited for instead
                    rate, done = python_load(url, target.headers, args.seconds)
                samples.setdefault((server.name, page.key), []).append(rate)
                if page.key == "download":
                    rss[server.name].append(rss_mib(server.worker))
    return {key: statistics.median(values) for key, values in samples.items()}, rss


# -- tables ----------------------------------------------------------------------------------


def cell(rates: dict, server: str, page: Page) -> float | None:
    if server == "ceiling":
        return rates.get((server, "download" if page.key == "download" else "hello"))
    if (server, page.key) in rates or server not in PEERS:
        return rates.get((server, page.key))
    return rates.get((server, page.peer))


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:,.0f}x" if a / b >= 100 else f"{a / b:.2f}x"


def number(value: float | None, mark: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}{mark}" if value < 10 else f"{value:,.0f}{mark}"


WIDTHS = (9, 9, 11, 9, 9)  # of the columns in COLUMNS


def print_table(rates: dict, plan: list[Target]) -> None:
    print(f"{'':<26}{'requests per second':^47}{'pypireg /':^19}{'serve /':>9}")
    print(f"{'page':<26}" + "".join(f"{n:>{w}}" for n, w in zip(
        ("pypireg", "serve", "pypiserver", "devpi", "ceiling"), WIDTHS, strict=True))
          + f"{'best peer':>10}{'ceiling':>9}{'pypireg':>9}")
    statuses = {(t.server.name, t.page.key): t.status for t in plan}
    for page in PAGES:
        values = [cell(rates, name, page) for name in COLUMNS]
        best_peer = max((v for v in values[2:4] if v), default=None)
        row = f"{page.label:<26}"
        for name, value, width in zip(COLUMNS, values, WIDTHS, strict=True):
            mark = "*" if page.conditional and statuses.get((name, page.key)) == 200 else ""
            row += f"{number(value, mark):>{width}}"
        row += f"{ratio(values[0], best_peer):>10}{ratio(values[0], values[4]):>9}"
        print(row + f"{ratio(values[1], values[0]):>9}")
    if any(s == 200 for (n, k), s in statuses.items() if k == "304"):
        print("* no ETag on the page, so no 304: the whole page again (200)")
    print("pypiserver has no PEP 691 JSON: it answers the JSON request with its HTML page.\n"
          "The peers have no group index: their project index stands in.\n")


def print_download(rates: dict, rss: dict, wheel: Path) -> None:
    size = wheel.stat().st_size / 1e6
    print(f"{'10 MiB download':<16}{'req/s':>8}{'MB/s':>9}{'RSS before':>12}{'after':>10}")
    for name in COLUMNS:
        rate = rates.get((name, "download"))
        if rate is None:
            continue
        before, after = rss.get(name, [0])[0], rss.get(name, [0])[-1]
        print(f"{name:<16}{rate:>8.1f}{rate * size:>9,.0f}{before:>8.1f} MiB{after:>6.1f} MiB")
    print()


def print_goals(rates: dict, rss: dict, wheel: Path) -> None:
    def get(server: str, key: str) -> float | None:
        return cell(rates, server, next(p for p in PAGES if p.key == key))

    ceiling = rates.get(("ceiling", "hello"))
    goals = []

    def goal(text: str, value: float | None, target: float, shown: str = "") -> None:
        if value is not None:
            goals.append((value >= target, text, shown or f"{value:.2f}"))

    one, not_modified = get("pypireg", "one"), get("pypireg", "304")
    goal("package page, 1 file >= 50% of ceiling", one and ceiling and one / ceiling, 0.5)
    for key in ("big", "json"):
        for peer in PEERS:
            value, theirs = get("pypireg", key), get(peer, key)
            goal(f"2,000 files {'JSON' if key == 'json' else 'HTML'} >= 10x {peer}",
                 value and theirs and value / theirs, 10)
    index, theirs = get("pypireg", "index"), get("pypiserver", "index")
    goal("index >= 5x pypiserver", index and theirs and index / theirs, 5)
    goal("304 >= 60% of ceiling", not_modified and ceiling and not_modified / ceiling, 0.6)
    ours, theirs = get("pypireg", "download"), get("pypiserver", "download")
    growth = rss["pypireg"][-1] - rss["pypireg"][0] if "pypireg" in rss else None
    flat = growth is not None and growth < wheel.stat().st_size / 2**20 / 10
    goal("10 MiB download >= pypiserver's rate, RSS flat",
         ours and theirs and flat and ours / theirs, 1,
         f"{ratio(ours, theirs)}, RSS {growth:+.1f} MiB" if growth is not None else "")
    worst = min(((get("pypireg serve", p.key) or 0) / v, p.label.strip())
                for p in PAGES if (v := get("pypireg", p.key)))
    goal("pypireg serve within 2x of gunicorn (every page)", worst[0], 0.5,
         f"{worst[0]:.2f} at worst ({worst[1]})")
    for held, text, shown in goals:
        print(f"  {'holds ' if held else 'misses'}  {text:<52}{shown}")
    print()


def print_scaling(results: dict, sizes: list[int]) -> None:
    """Every page within 1.5x of its rate at the smallest size; the indexes list every
    name, so they may slow down as much as they grow (linearly), not more."""
    small, *large = sizes
    print(f"pypireg under gunicorn, req/s by size (goal: every page within 1.5x of {small:,};"
          " an index no worse than linear)")
    print(f"{'page':<26}" + "".join(f"{n:>11,}" for n in sizes) + f"{'slowdown':>10}"
          f"{'limit':>8}  goal")
    for page in PAGES:
        values = [results[n].get(("pypireg", page.key)) for n in sizes]
        if not all(values):
            continue
        slowdowns = [values[0] / v for v in values[1:]]
        limits = [n / small if page.key in INDEXES else 1.5 for n in large]
        held = all(s <= limit for s, limit in zip(slowdowns, limits, strict=True))
        print(f"{page.label:<26}" + "".join(f"{number(v):>11}" for v in values)
              + f"{max(slowdowns):>9.2f}x{max(limits):>7.1f}x  {'holds' if held else 'misses'}")


# -- profile -----------------------------------------------------------------------------------


def profile(count: int) -> None:
    """cProfile of each pypireg page: the WSGI app gunicorn runs, called in-process."""
    from werkzeug.test import EnvironBuilder

    import pypireg.wsgi

    with tempfile.TemporaryDirectory(prefix="pypireg-bench-") as tmp:
        work = Path(tmp)
        paths = servers.seed_pypireg(work / "data", count, build_wheel(work, 10))
        app = pypireg.wsgi.from_environ({"PYPIREG_DATA": str(work / "data")})

        def call(environ: dict) -> dict[str, str]:
            headers: dict[str, str] = {}
            body = app(dict(environ), lambda status, h, exc=None: headers.update(h))
            if not isinstance(body, Sendfile):  # whose bytes gunicorn sends by sendfile
                for _ in body:
                    pass
            getattr(body, "close", lambda: None)()
            return headers

        print(f"{count:,} packages; each page warmed up, then timed and profiled (a download's"
              " bytes\nare left to the server, as gunicorn sends them by sendfile)\n")
        for page in PAGES:
            headers = dict(page.headers)
            if page.conditional:
                headers["If-None-Match"] = call(EnvironBuilder(paths[page.path]).get_environ(
                    ))["ETag"]
            environ = EnvironBuilder(paths[page.path], headers=headers).get_environ()
            environ["wsgi.file_wrapper"] = Sendfile
            for _ in range(3):
                call(environ)
            started = time.perf_counter()
            call(environ)
            requests = max(5, min(2000, int(1 / (time.perf_counter() - started))))
            per = min(timed(call, environ, requests) for _ in range(3)) / requests * 1000
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(requests):
                call(environ)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(14)
            print(f"## {page.label.strip()}: {per:.3f} ms a request (the best of 3 runs of"
                  f" {requests}), then {requests} profiled\n")
            print(trim(out.getvalue()))


def timed(call: Callable[[dict], object], environ: dict, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        call(environ)
    return time.perf_counter() - started


class Sendfile:
    """A server's ``wsgi.file_wrapper``: the file, for the server to send by itself."""

    def __init__(self, file: io.BufferedReader, block_size: int = 8192) -> None:
        self.file = file

    def close(self) -> None:
        self.file.close()


def trim(text: str) -> str:
    """The stats table without its preamble, with short file names."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    prefixes = sorted({str(Path(p)) + "/" for p in (*sys.path[1:], servers.ROOT)
                       if p and Path(p).is_dir()}, key=len, reverse=True)
    out = []
    for line in lines[start:]:
        for prefix in prefixes:
            line = line.replace(prefix, "")
        out.append(line.rstrip())
    return "\n".join(out).strip() + "\n"


if __name__ == "__main__":
    main()
