"""Scale-out: pypireg processes on one PostgreSQL catalog and one S3 bucket, beside one
process on SQLite and files, in the same run.

For 1, 2 and 4 processes (gunicorn, one sync worker each, as docs/scaling.md runs them) it
measures a package page's req/s, with a load generator per process, and the latency of
uploads spread over the processes. PostgreSQL is a throwaway cluster of Debian's package
and S3 is moto's server (in Python, and so much slower than a real S3), both on
127.0.0.1 of the same machine: the figures compare configurations with each other, not
with a real deployment.

    .venv/bin/python bench/scale_out.py [--seconds 5] [--rounds 3] [--uploads 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import servers  # noqa: E402  (bench/servers.py: gunicorn, wrk)

import pypireg  # noqa: E402
from tests import postgres, s3  # noqa: E402
from tests.distributions import wheel_bytes, wheel_name  # noqa: E402
from tests.helpers import basic  # noqa: E402

BUCKET = "pypireg-bench"
PAGE = "/api/v4/projects/acme%2Fbench/packages/pypi/simple/acme-bench/"
UPLOAD = "/api/v4/projects/acme%2Fbench/packages/pypi"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def seed(registry: pypireg.Registry) -> str:
    """acme/bench with one package of one file; returns a token that may upload there."""
    registry.create_group("acme", "public")
    registry.create_project("acme/bench", "public")
    token = registry.create_token("bench", ["acme/bench:write"])
    data = wheel_bytes("acme-bench", "1.0")
    from webtest import TestApp

    TestApp(pypireg.mount(registry, "/api/v4")).post(
        UPLOAD, [("name", "acme-bench"), ("version", "1.0")],
        upload_files=[("content", wheel_name("acme-bench", "1.0"), data)],
        headers=basic(token), status=201)
    return token


def start(count: int, env: dict[str, str], staging: Path) -> list[servers.Server]:
    """``count`` processes; on a shared catalog each stages uploads in a directory of its
    own, as on separate hosts."""
    running = []
    for n in range(count):
        data = staging / f"p{n}"
        data.mkdir(parents=True, exist_ok=True)
        own = {"PYPIREG_DATA": str(data)} if "PYPIREG_CATALOG" in env else {}
        running.append(servers.gunicorn(f"p{n}", "pypireg.wsgi:application", {},
                                        env={**env, **own}))
    return running


def page_rate(running: list[servers.Server], seconds: float) -> float:
    """Requests per second of all the processes, each loaded by a wrk of its own."""
    rates: list[float] = []

    def load(server: servers.Server) -> None:
        rates.append(servers.wrk(f"http://127.0.0.1:{server.port}{PAGE}", {}, seconds)[0])

    threads = [threading.Thread(target=load, args=(server,)) for server in running]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(rates)


def upload_latencies(running: list[servers.Server], token: str, count: int, tag: str
                     ) -> list[float]:
    """Milliseconds per upload of a small wheel, the uploads spread over the processes."""
    times = []
    for n in range(count):
        version = f"{tag}.{n}"
        name = wheel_name("acme-bench", version)
        boundary = "bench-boundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n"
                f"acme-bench\r\n--{boundary}\r\nContent-Disposition: form-data;"
                f" name=\"version\"\r\n\r\n{version}\r\n--{boundary}\r\nContent-Disposition:"
                f" form-data; name=\"content\"; filename=\"{name}\"\r\n\r\n").encode()
        body += wheel_bytes("acme-bench", version) + f"\r\n--{boundary}--\r\n".encode()
        server = running[n % len(running)]
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}{UPLOAD}", data=body, method="POST",
            headers={**basic(token), "Content-Type": f"multipart/form-data; boundary={boundary}"})
        started = time.perf_counter()
        with OPENER.open(request, timeout=120) as answer:
            assert answer.status == 201, answer.status
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--seconds", type=float, default=5.0, help="per page measurement")
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--uploads", type=int, default=30, help="per configuration and round")
    args = options.parse_args()
    if shutil.which("wrk") is None:
        print("needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="pypireg-scale-"))
    results: dict[str, dict[str, list[float]]] = {}
    with ExitStack() as stack:
        pg = stack.enter_context(postgres.server())
        endpoint = stack.enter_context(s3.process_server())
        catalog_url = stack.enter_context(pg.database())
        aws = {**s3.CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": s3.REGION}
        os.environ.update(aws)
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        shared = pypireg.create_app(catalog=catalog_url, storage=f"s3://{BUCKET}/bench",
                                    staging_dir=str(work))
        token = seed(shared)
        shared.catalog.close()
        local_token = seed(pypireg.create_app(work / "sqlite"))
        configurations = {
            "SQLite + files, 1 process": (1, {"PYPIREG_DATA": str(work / "sqlite")},
                                          local_token),
            **{f"PostgreSQL + S3, {n} process{'es' if n > 1 else ''}": (
                n, {"PYPIREG_CATALOG": catalog_url, "PYPIREG_STORAGE": f"s3://{BUCKET}/bench",
                    **aws}, token) for n in (1, 2, 4)},
        }
        for round_number in range(args.rounds):
            for label, (count, env, secret) in configurations.items():
                running = start(count, env, work / "staging" / label.replace(" ", "_"))
                try:
                    rate = page_rate(running, args.seconds)
                    times = upload_latencies(running, secret, args.uploads,
                                             f"{round_number}{count}{len(label)}")
                finally:
                    servers.stop_all(running)
                entry = results.setdefault(label, {"rate": [], "median": [], "p90": []})
                entry["rate"].append(rate)
                entry["median"].append(statistics.median(times))
                entry["p90"].append(statistics.quantiles(times, n=10)[-1])
                print(f"round {round_number + 1}: {label}: {rate:,.0f} req/s, upload median"
                      f" {statistics.median(times):.1f} ms", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    cores = os.cpu_count()
    print(f"\n{platform.python_implementation()} {platform.python_version()}, {cores} cores"
          f" (load generators and every process share them), median of {args.rounds} rounds\n")
    print("| configuration | package page req/s | upload median ms | upload p90 ms |")
    print("|---|---:|---:|---:|")
    for label, entry in results.items():
        rate, median, p90 = (statistics.median(entry[k]) for k in ("rate", "median", "p90"))
        print(f"| {label} | {rate:,.0f} | {median:.1f} | {p90:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
