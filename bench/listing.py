"""Listing many packages: pypireg's pages at the first, middle and last page, and its
simple index, next to pypiserver's simple index over the same number of packages.

    pip install -e '.[bench]'
    python bench/listing.py                    # 100,000 packages
    python bench/listing.py --packages 20000   # quicker

Each server runs as its own process on 127.0.0.1; every figure is the median of several
sequential requests over one kept-alive connection from this process.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload_memory import free_port, wait_for_port  # noqa: E402

import pypireg  # noqa: E402

REPEAT = 7


def seed_pypireg(data: Path, count: int) -> None:
    """``count`` packages of one file each, recorded through the catalog as uploads are."""
    registry = pypireg.create_app(data)
    project = registry.create_project("big", "public")
    catalog = registry.catalog
    with catalog.write():
        for n in range(count):
            catalog.add_file(
                project.id, name=f"pkg{n}", normalized_name=f"pkg{n}", version="1.0",
                canonical_version="1", metadata={},
                file={"file_name": f"pkg{n}-1.0.tar.gz", "storage_key": f"sha256/{n:064x}",
                      "requires_python": "", "size": 1, "md5": "0" * 32, "sha1": "0" * 40,
                      "sha256": f"{n:064x}"},
            )


def seed_pypiserver(directory: Path, count: int) -> None:
    directory.mkdir()
    for n in range(count):
        (directory / f"pkg{n}-1.0.tar.gz").write_bytes(b"")


def timed(port: int, paths: list[str]) -> list[tuple[str, float, int]]:
    """Median milliseconds and response size for each path."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    results = []
    for path in paths:
        samples, size = [], 0
        for _ in range(REPEAT):
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            samples.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status}")
            size = len(body)
        results.append((path, statistics.median(samples), size))
    connection.close()
    return results


def serve(argv: list[str], port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               text=True)
    wait_for_port(process, port)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=100_000)
    args = parser.parse_args()
    count = args.packages
    last_page = (count + 19) // 20
    with tempfile.TemporaryDirectory(prefix="pypireg-bench-") as tmp:
        work = Path(tmp)
        seed_pypireg(work / "pypireg-data", count)
        seed_pypiserver(work / "pypiserver-packages", count)
        print(f"{count:,} packages; median of {REPEAT} requests\n")
        print(f"{'server':<12}{'request':<58}{'ms':>9}{'bytes':>12}")
        port = free_port()
        process = serve([sys.executable, "-m", "pypireg", "serve", "--port", str(port),
                         "--data", str(work / "pypireg-data")], port)
        api = "/api/v4/projects/big/packages"
        try:
            rows = timed(port, [
                f"{api}?page=1", f"{api}?page={last_page // 2}", f"{api}?page={last_page}",
                f"{api}?page={last_page}&order_by=name",
                "/api/v4/projects/big/packages/pypi/simple/",
                f"/api/v4/projects/big/packages/pypi/simple/pkg{count - 1}/",
            ])
        finally:
            process.terminate()
            process.wait(timeout=30)
        for path, ms, size in rows:
            print(f"{'pypireg':<12}{path:<58}{ms:>9.1f}{size:>12,}")
        executable = shutil.which("pypi-server", path=str(Path(sys.executable).parent))
        if executable is None:
            print(f"{'pypiserver':<12}not installed: pip install -e '.[bench]'")
            return
        port = free_port()
        process = serve([executable, "run", "-p", str(port), "-i", "127.0.0.1",
                         str(work / "pypiserver-packages")], port)
        try:
            rows = timed(port, ["/simple/", f"/simple/pkg{count - 1}/"])
        finally:
            process.terminate()
            process.wait(timeout=30)
        for path, ms, size in rows:
            print(f"{'pypiserver':<12}{path:<58}{ms:>9.1f}{size:>12,}")


if __name__ == "__main__":
    main()
