"""Importing a directory of distributions: files per second at 1,000 and 10,000 files.

pypireg's ``import`` checks and stores each file as an upload would: metadata read from
the archive, digests, catalog row and blob committed together. The pypiserver column is
what taking in the same files costs it: copying them into its directory and answering its
first index page afterwards.

    pip install -e '.[bench]'
    python bench/import_speed.py             # 1,000 and 10,000
    python bench/import_speed.py --files 500
"""

from __future__ import annotations

import argparse
import http.client
import io
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload_memory import free_port, wait_for_port  # noqa: E402

import pypireg  # noqa: E402
from pypireg.importer import import_directory  # noqa: E402


def make_wheel(name: str, version: str) -> bytes:
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(f"{module}/__init__.py", f"VERSION = {version!r}\n")
        wheel.writestr(f"{info}/METADATA",
                       f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return buffer.getvalue()


def make_directory(root: Path, count: int) -> None:
    """``count`` wheels: 100 packages with many versions each, in a folder per package."""
    for n in range(count):
        name, version = f"pkg{n % 100}", f"1.{n // 100}"
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}-{version}-py3-none-any.whl").write_bytes(make_wheel(name, version))


def run_pypireg(work: Path, source: Path, count: int) -> tuple[float, list[float]]:
    registry = pypireg.create_app(work / "pypireg-data")
    project = registry.create_project("mirror", "public")
    marks: list[float] = []
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 1000 == 0 or done == total:
            marks.append(time.perf_counter())

    report = import_directory(registry, source, project, progress)
    elapsed = time.perf_counter() - started
    if report.imported != count:
        raise RuntimeError(f"imported {report.imported} of {count}: {report.failed[:3]}")
    rates, previous = [], started
    for mark in marks:
        rates.append(1000 / (mark - previous) if mark > previous else 0.0)
        previous = mark
    return count / elapsed, rates


def run_pypiserver(work: Path, source: Path, count: int) -> float | None:
    executable = shutil.which("pypi-server", path=str(Path(sys.executable).parent))
    if executable is None:
        return None
    packages = work / "pypiserver-packages"
    port = free_port()
    started = time.perf_counter()
    shutil.copytree(source, packages)
    process = subprocess.Popen([executable, "run", "-p", str(port), "-i", "127.0.0.1",
                                str(packages)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for_port(process, port)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        connection.request("GET", "/simple/")
        connection.getresponse().read()
        elapsed = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    print(f"{'files':>7}  {'pypireg import':>16}  {'pypiserver copy+index':>22}"
          "  pypireg files/s for each successive 1,000")
    for count in args.files:
        with tempfile.TemporaryDirectory(prefix="pypireg-bench-") as tmp:
            work = Path(tmp)
            make_directory(work / "source", count)
            rate, rates = run_pypireg(work, work / "source", count)
            peer = run_pypiserver(work, work / "source", count)
            peer_text = f"{peer:,.0f} files/s" if peer else "not installed"
            steps = " ".join(f"{r:,.0f}" for r in rates)
            print(f"{count:>7,}  {rate:>10,.0f} files/s  {peer_text:>22}  {steps}")


if __name__ == "__main__":
    main()
