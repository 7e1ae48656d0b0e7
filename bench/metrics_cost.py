"""What the metrics cost: the cached one-file simple page and a file download, served by
the registry as shipped beside the same registry with its monitoring left out, in one run.

    python bench/metrics_cost.py [--rounds 100] [--batch 100] [--mib 1]

"As shipped" is ``pypireg.wsgi:application``: each request given an id (sent back in
``X-Request-Id``), counted and timed by endpoint, downloads counted, the storage's
operations counted and timed, a span per request when the process has a tracer provider.
"Left out" is the same registry on the same data without any of that: its metrics a
stand-in that counts nothing, its storage unmeasured, no request ids, no span. (Both count
downloads in the catalog: that is the download statistics, not a measure of the server.)

Two measures:

- over HTTP, as docs/deploying.md serves it: each under gunicorn with one sync worker,
  sent requests one after another, a new connection each. The two take turns every
  ``--batch`` requests, for many rounds, so that whatever else slows the machine for a
  while slows both alike. With two CPUs or more, both workers run on the last one and this
  script on the others. Each round gives the time the client waited for a request (the
  median of the round) and the worker's CPU time per request (its own process clock, read
  through a path both answer before the registry sees it; /proc counts only hundredths
  of a second). A cost is the median of the rounds' own costs. The goal
  (docs/monitoring.md): at most 5% slower with metrics.
- in-process: the WSGI app called directly, no server and no network, so only the
  registry's own time is left; it shows the microseconds monitoring adds to a request.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

import pypireg
from pypireg.app import mount
from pypireg.health import health_checks
from pypireg.ui import create_ui

sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers  # noqa: E402
from servers import Server, fetch  # noqa: E402
from upload_memory import build_wheel  # noqa: E402

PAGES = (("cached one-file page", "one"), ("file download", "download"))
PLAIN, MEASURED = "without metrics", "with metrics"
CPU_CLOCK = "/-/bench-cpu-seconds"
MODULES = {  # what each gunicorn loads: the same registry, with or without its measures
    "bench_unmeasured": "unmeasured(pypireg.create_app(os.environ['PYPIREG_DATA']))",
    "bench_measured": "pypireg.wsgi.application",
}
MODULE = '''\
import os
import sys

import pypireg
import pypireg.wsgi

sys.path.insert(0, os.environ["BENCH_DIR"])
from metrics_cost import unmeasured, with_cpu_clock

application = with_cpu_clock({app})
'''


class Nothing:
    """Metrics that count nothing: every counter, method and label is a no-op."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self


def unmeasured(registry: pypireg.Registry) -> Any:
    """``registry`` served as ``pypireg.site`` serves it (the API, the health checks and
    the web pages), less every measure: no request id, no count, no span, the storage
    itself rather than its measured stand-in."""
    registry.metrics = Nothing()  # type: ignore[assignment]
    registry.storage = registry.storage.storage  # type: ignore[attr-defined]
    pages = create_ui(registry, api="/api/v4")
    return mount(registry, "/api/v4", beside=health_checks(registry, otherwise=pages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100, help="requests a round, per page"
                        " and server")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="in-process, per page and server")
    parser.add_argument("--mib", type=int, default=1, help="size of the downloaded wheel")
    args = parser.parse_args()
    print(servers.machine(None).split("\n", 1)[0].split(", ", 1)[0], "and gunicorn",
          version("gunicorn"))
    with tempfile.TemporaryDirectory(prefix="pypireg-bench-metrics-") as tmp:
        work = Path(tmp)
        data = work / "data"
        paths = servers.seed_pypireg(data, 10, build_wheel(work, args.mib))
        over_http(work, data, paths, args)
        in_process(data, paths, args.seconds)


def with_cpu_clock(app: Any) -> Any:
    """``app``, and at :data:`CPU_CLOCK` the CPU seconds its process has used, to the
    microsecond (/proc counts them in hundredths)."""

    def clocked(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == CPU_CLOCK:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(time.process_time()).encode()]
        return app(environ, start_response)

    return clocked


def over_http(work: Path, data: Path, paths: dict[str, str], args: argparse.Namespace) -> None:
    (work / "modules").mkdir()
    for module, app in MODULES.items():
        (work / "modules" / f"{module}.py").write_text(MODULE.format(app=app))
    env = {"PYPIREG_DATA": str(data), "BENCH_DIR": str(Path(__file__).resolve().parent)}
    cpus = sorted(os.sched_getaffinity(0))
    running = [servers.gunicorn(name, f"{module}:application", paths, env=env,
                                pythonpath=work / "modules")
               for name, module in ((PLAIN, "bench_unmeasured"), (MEASURED, "bench_measured"))]
    waits: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    try:
        for server in running:  # each answers every page, and has it cached
            for _, key in PAGES:
                for _ in range(2):
                    status, headers = fetch(server, server.paths[key], {})
                    if status != 200:
                        raise RuntimeError(f"{server.name} {key}: {status}")
            if ("x-request-id" in headers) != (server.name == MEASURED):
                raise RuntimeError(f"{server.name}: not the variant it is named")
        if len(cpus) > 1:  # the servers on one CPU, this process on the others
            for server in running:
                os.sched_setaffinity(server.worker, {cpus[-1]})
            os.sched_setaffinity(0, set(cpus[:-1]))
        servers.wait_idle(running)
        for round_ in range(args.rounds):
            if round_ % 10 == 0:
                print(f"  round {round_ + 1} of {args.rounds}", file=sys.stderr)
            for _, key in PAGES:
                for server in running if round_ % 2 else running[::-1]:
                    wait, used = batch(server, server.paths[key], args.batch)
                    waits.setdefault((server.name, key), []).append(wait)
                    cpu.setdefault((server.name, key), []).append(used)
    finally:
        servers.stop_all(running)
        os.sched_setaffinity(0, set(cpus))
    print(f"Over HTTP: gunicorn, one sync worker each, a new connection per request;"
          f" {args.rounds} rounds of {args.batch} requests one after another, taking turns;"
          f" the download is a {args.mib} MiB wheel. Microseconds per request, the median"
          f" of the rounds'; a cost is the median of the rounds' own, the middle half of"
          f" them in brackets")
    print(f"{'request':<22}{PLAIN:>20}{MEASURED:>20}{'cost':>40}")
    print(f"{'':<22}{'waited':>10}{'CPU':>10}{'waited':>10}{'CPU':>10}{'waited':>20}{'CPU':>20}")
    for title, key in PAGES:
        line = f"{title:<22}"
        for name in (PLAIN, MEASURED):
            line += (f"{statistics.median(waits[(name, key)]):>10,.0f}"
                     f"{statistics.median(cpu[(name, key)]):>10,.0f}")
        for found in (waits, cpu):
            line += f"{cost(found[(PLAIN, key)], found[(MEASURED, key)]):>20}"
        print(line)
    print()


def batch(server: Server, path: str, count: int) -> tuple[float, float]:
    """Microseconds a request took, as the client waited for it (the median of
    ``count``), and as the worker's CPU time (their mean)."""
    began = cpu_clock(server)
    waited = []
    for _ in range(count):
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            while response.read(1 << 20):
                pass
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"{server.name} {path}: {response.status}")
        waited.append(time.perf_counter() - started)
    return statistics.median(waited) * 1e6, (cpu_clock(server) - began) / count * 1e6


def cpu_clock(server: Server) -> float:
    """The CPU seconds the server's worker has used (:func:`with_cpu_clock`)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("GET", CPU_CLOCK)
        return float(connection.getresponse().read())
    finally:
        connection.close()


def cost(plain: list[float], measured: list[float]) -> str:
    """The median of the rounds' costs, and the quartiles around it."""
    ratios = [b / a - 1 for a, b in zip(plain, measured, strict=True)]
    low, middle, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return f"{middle:+.1%} [{low:+.0%}, {high:+.0%}]"


def in_process(data: Path, paths: dict[str, str], seconds: float) -> None:
    apps = {"without metrics": unmeasured(pypireg.create_app(data)),
            "with metrics": pypireg.site(pypireg.create_app(data))}
    print("In-process: the WSGI app called directly (no server, no network); microseconds"
          " per request, the median of rounds of 500, taking turns")
    print(f"{'request':<24}{'without metrics':>18}{'with metrics':>16}{'added':>10}")
    for title, key in PAGES:
        found: dict[str, list[float]] = {name: [] for name in apps}
        deadline = time.perf_counter() + seconds * 2
        while time.perf_counter() < deadline or len(found["with metrics"]) < 5:
            for name, app in apps.items():
                found[name].append(timed(app, paths[key], 500))
        a, b = (statistics.median(found[name]) for name in apps)
        print(f"{title:<24}{a:>18.1f}{b:>16.1f}{b - a:>+10.1f}")


def timed(app: Any, path: str, count: int) -> float:
    """Microseconds a request, its body read to the end."""
    environ = EnvironBuilder(path=path).get_environ()

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> None:
        assert status.startswith("200"), status

    started = time.perf_counter()
    for _ in range(count):
        body: Iterable[bytes] = app(dict(environ), start_response)
        for _chunk in body:
            pass
        getattr(body, "close", lambda: None)()
    return (time.perf_counter() - started) / count * 1e6


if __name__ == "__main__":
    main()
