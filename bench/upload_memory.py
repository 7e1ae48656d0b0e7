"""Server memory while receiving one large upload: pypireg next to pypiserver.

Builds a real wheel of the given size (stored, uncompressed), starts each server as its
own process on 127.0.0.1, streams the wheel to it as twine would (multipart POST) and
samples the server's resident memory from /proc while the upload runs. Prints one table.

    pip install -e '.[bench]'
    python bench/upload_memory.py              # 256 MiB, then 1 GiB
    python bench/upload_memory.py --mib 2048   # other sizes

Linux only (reads /proc). pypiserver is skipped, with a note, when it is not installed.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

BOUNDARY = "bench-boundary-7d1f0c"
CHUNK = 1024 * 1024


def build_wheel(directory: Path, mib: int) -> Path:
    """A valid wheel whose payload is ``mib`` MiB of incompressible bytes, stored as is."""
    path = directory / "bigpkg-1.0-py3-none-any.whl"
    block = os.urandom(CHUNK)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as wheel:
        with wheel.open("bigpkg/payload.bin", "w", force_zip64=True) as out:
            for _ in range(mib):
                out.write(block)
        wheel.writestr("bigpkg/__init__.py", "")
        info = "bigpkg-1.0.dist-info"
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: bigpkg\nVersion: 1.0\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                        "Tag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


def multipart(fields: dict[str, str], file: Path) -> tuple[list[bytes], int]:
    """The head and tail of a multipart body around the file, and its total length."""
    head = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ) + (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="content"; '
        f'filename="{file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return [head, tail], len(head) + file.stat().st_size + len(tail)


def body(parts: list[bytes], file: Path) -> Iterator[bytes]:
    yield parts[0]
    with open(file, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
    yield parts[1]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def upload(port: int, path: str, file: Path, fields: dict[str, str],
           headers: dict[str, str], pid: int) -> tuple[str, float, float, float]:
    """POST the file; returns (status or error, baseline MiB, peak MiB, seconds)."""
    baseline = rss_mib(pid)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, rss_mib(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    parts, length = multipart(fields, file)
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request(
            "POST", path, body=body(parts, file),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                     "Content-Length": str(length), **headers},
        )
        response = connection.getresponse()
        response.read()
        status = str(response.status)
    except (OSError, http.client.HTTPException) as exc:
        status = type(exc).__name__  # e.g. the server reset the connection mid-upload
    finally:
        elapsed = time.perf_counter() - started
        connection.close()
        done.set()
        sampler.join()
    peak = max(peak, rss_mib(pid))
    return status, baseline, peak, elapsed


def wait_for_port(process: subprocess.Popen[str], port: int) -> None:
    """Until the server accepts connections (or has died)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_pypireg(work: Path, wheel: Path) -> tuple:
    data = work / "pypireg-data"
    cli = [sys.executable, "-m", "pypireg"]
    for argv in (["init"], ["project", "create", "bench", "--public"],
                 ["token", "create", "bench", "--grant", "bench:write"]):
        out = subprocess.run([*cli, *argv, "--data", str(data)], check=True,
                             capture_output=True, text=True).stdout
    token = out.splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port), "--data", str(data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for_port(server, port)
        auth = base64.b64encode(f"__token__:{token}".encode()).decode()
        return upload(port, "/api/v4/projects/bench/packages/pypi", wheel,
                      {"name": "bigpkg", "version": "1.0", ":action": "file_upload"},
                      {"Authorization": f"Basic {auth}"}, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_pypiserver(work: Path, wheel: Path) -> tuple | None:
    executable = shutil.which("pypi-server", path=str(Path(sys.executable).parent))
    if executable is None:
        return None
    packages = work / "pypiserver-packages"
    packages.mkdir()
    port = free_port()
    server = subprocess.Popen([executable, "run", "-p", str(port), "-i", "127.0.0.1",
                               "-a", ".", "-P", ".", str(packages)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for_port(server, port)
        return upload(port, "/", wheel,
                      {"name": "bigpkg", "version": "1.0", ":action": "file_upload"},
                      {}, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, nargs="+", default=[256, 1024],
                        help="upload sizes in MiB (default: 256 1024)")
    args = parser.parse_args()
    print("one wheel uploaded to each server; the server's resident memory (VmRSS)\n")
    print(f"{'size':>9}  {'server':<12}{'status':>22}{'before':>10}{'peak':>10}{'growth':>10}"
          f"{'seconds':>9}")
    for mib in args.mib:
        with tempfile.TemporaryDirectory(prefix="pypireg-bench-") as tmp:
            work = Path(tmp)
            wheel = build_wheel(work, mib)
            size = f"{wheel.stat().st_size / 1024**2:,.0f} MiB"
            for name, run in (("pypireg", run_pypireg), ("pypiserver", run_pypiserver)):
                result = run(work, wheel)
                if result is None:
                    print(f"{size:>9}  {name:<12}  not installed: pip install -e '.[bench]'")
                    continue
                status, before, peak, seconds = result
                print(f"{size:>9}  {name:<12}{status:>22}{before:>6.0f} MiB{peak:>6.0f} MiB"
                      f"{peak - before:>6.0f} MiB{seconds:>9.1f}")


if __name__ == "__main__":
    main()
