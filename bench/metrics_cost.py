"""What the metrics cost: the cached one-file simple page and a file download, served by
the registry as shipped beside the same registry with its monitoring left out, in one run.

    python bench/metrics_cost.py [--rounds 20] [--seconds 1] [--mib 1]

"As shipped" is ``pypireg.wsgi:application``: each request given an id (sent back in
``X-Request-Id``), counted and timed by endpoint, downloads counted, the storage's
operations counted and timed, a span per request when the process has a tracer provider.
"Left out" is the same registry on the same data without any of that: its metrics a
stand-in that counts nothing, its storage unmeasured, no request ids, no span.

Two measures:

- over HTTP, as docs/deploying.md serves it: each under gunicorn with one sync worker,
  loaded by wrk (2 threads, 4 connections); the two take turns, many short rounds, so that
  whatever else slows the machine for a while slows both. With two CPUs or more, both
  workers run on the last one and wrk on the others, so the load never competes with the
  server it measures. Beside the requests per second, the worker's CPU time per request
  (from /proc). A cost is the median of the rounds' own costs, each from a pair measured
  one after the other. The goal (docs/monitoring.md): at most 5% slower with metrics.
- in-process: the WSGI app called directly, no server and no network, so only the
  registry's own time is left; it shows the microseconds monitoring adds to a request.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

import pypireg
from pypireg.app import mount
from pypireg.health import health_checks
from pypireg.ui import create_ui

sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers  # noqa: E402
from servers import Server, cpu_seconds, fetch, python_load, wrk  # noqa: E402
from upload_memory import build_wheel  # noqa: E402

PAGES = (("cached one-file page", "one"), ("file download", "download"))
UNMEASURED = '''\
import os
import sys

import pypireg

sys.path.insert(0, os.environ["BENCH_DIR"])
from metrics_cost import unmeasured

application = unmeasured(pypireg.create_app(os.environ["PYPIREG_DATA"]))
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
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0, help="per page and server")
    parser.add_argument("--mib", type=int, default=1, help="size of the downloaded wheel")
    args = parser.parse_args()
    load = wrk if shutil.which("wrk") else python_load
    print(servers.machine(servers.wrk_version() if load is wrk else None).split("\n", 1)[1])
    with tempfile.TemporaryDirectory(prefix="pypireg-bench-metrics-") as tmp:
        work = Path(tmp)
        data = work / "data"
        paths = servers.seed_pypireg(data, 10, build_wheel(work, args.mib))
        over_http(work, data, paths, args, load)
        in_process(data, paths, args.seconds)


def over_http(work: Path, data: Path, paths: dict[str, str], args: argparse.Namespace,
              load: Any) -> None:
    (work / "modules").mkdir()
    (work / "modules" / "bench_unmeasured.py").write_text(UNMEASURED)
    env = {"PYPIREG_DATA": str(data), "BENCH_DIR": str(Path(__file__).resolve().parent)}
    cpus = sorted(os.sched_getaffinity(0))
    running = [servers.gunicorn("without metrics", "bench_unmeasured:application", paths,
                                env=env, pythonpath=work / "modules"),
               servers.gunicorn("with metrics", "pypireg.wsgi:application", paths, env=env)]
    try:
        for server in running:  # each answers every page, and has it cached
            for _, key in PAGES:
                for _ in range(2):
                    status, headers = fetch(server, server.paths[key], {})
                    if status != 200:
                        raise RuntimeError(f"{server.name} {key}: {status}")
            if ("x-request-id" in headers) != (server.name == "with metrics"):
                raise RuntimeError(f"{server.name}: not the variant it is named")
        if len(cpus) > 1:  # the servers on one CPU, this process and wrk on the others
            for server in running:
                os.sched_setaffinity(server.worker, {cpus[-1]})
            os.sched_setaffinity(0, set(cpus[:-1]))
        servers.wait_idle(running)
        rates: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.rounds):
            print(f"  round {round_ + 1} of {args.rounds}", file=sys.stderr)
            for _, key in PAGES:
                for server in running if round_ % 2 else running[::-1]:
                    rate, done, used = loaded(server, key, args.seconds, load)
                    rates.setdefault((server.name, key), []).append(rate)
                    cpu.setdefault((server.name, key), []).append(used / done * 1e6)
    finally:
        servers.stop_all(running)
        os.sched_setaffinity(0, cpus)
    print(f"Over HTTP: gunicorn, one sync worker each, a new connection per request;"
          f" {args.rounds} rounds of {args.seconds:g} s, taking turns; the download is a"
          f" {args.mib} MiB wheel. Figures are medians; a cost is the median of the rounds'"
          f" own, the middle half of them in brackets")
    print(f"{'request':<22}{'without metrics':>22}{'with metrics':>22}"
          f"{'cost, req/s':>24}{'cost, CPU':>24}")
    print(f"{'':<22}{'req/s':>10}{'CPU µs/req':>12}{'req/s':>10}{'CPU µs/req':>12}")
    plain, measured = "without metrics", "with metrics"
    for title, key in PAGES:
        slower = [a / b - 1 for a, b in zip(rates[(plain, key)], rates[(measured, key)],
                                            strict=True)]
        costlier = [b / a - 1 for a, b in zip(cpu[(plain, key)], cpu[(measured, key)],
                                              strict=True)]
        print(f"{title:<22}{statistics.median(rates[(plain, key)]):>10,.0f}"
              f"{statistics.median(cpu[(plain, key)]):>12,.0f}"
              f"{statistics.median(rates[(measured, key)]):>10,.0f}"
              f"{statistics.median(cpu[(measured, key)]):>12,.0f}"
              f"{cost(slower):>24}{cost(costlier):>24}")
    print()


def cost(ratios: list[float]) -> str:
    """The median, and the quartiles around it."""
    low, middle, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return f"{middle:+.1%} [{low:+.0%}, {high:+.0%}]"


def loaded(server: Server, key: str, seconds: float, load: Any) -> tuple[float, int, float]:
    """Requests per second, requests answered, and the worker's CPU seconds meanwhile."""
    worker = server.worker
    before = cpu_seconds(worker)
    rate, done = load(f"http://127.0.0.1:{server.port}{server.paths[key]}", {}, seconds)
    return rate, max(done, 1), cpu_seconds(worker) - before


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
