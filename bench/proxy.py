"""Installing through a caching proxy: ``uv pip install`` of many packages through pypireg's
cache of an upstream index (docs/proxy.md), cold then warm, beside the same through proxpi
and straight from the upstream, in one run.

The upstream is a pypireg on 127.0.0.1 holding ``--packages`` real wheels of ``--kib`` KiB
each (random bytes, stored uncompressed), in a public project. Each proxy runs as its own
process under the same gunicorn (one worker, eight threads), with an empty cache at the
start of each round: the first install through it is cold (every page and file fetched from
the upstream), the second warm. Every install goes into a new virtual environment with uv's
own cache off (``--no-cache``), so each one asks the server for every page and file.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from importlib.metadata import version
from pathlib import Path

from werkzeug.test import Client

import pypireg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import BIN, Server, free_port, gunicorn, start, stop_all  # noqa: E402

PROJECT = "pub/mirror"
API = "/api/v4/projects/pub%2Fmirror/packages/pypi"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--kib", type=int, default=256, help="size of each wheel")
    parser.add_argument("--rounds", type=int, help="3, or 5 with --public")
    parser.add_argument("--public", action="store_true",
                        help="a real dependency set through the index pip is configured with"
                             " (bench/public_index.py)")
    args = parser.parse_args()
    if args.public:
        import public_index

        public_index.main(args.rounds or 5)
        return
    args.rounds = args.rounds or 3
    print(f"pypireg {pypireg.__version__}, proxpi {version('proxpi')},"
          f" uv {_uv_version()}, gunicorn {version('gunicorn')}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="pypireg-proxy-bench-") as tmp:
        work = Path(tmp)
        names = seed_upstream(work / "upstream", args.packages, args.kib)
        upstream = start_upstream(work / "upstream")
        index = f"http://127.0.0.1:{upstream.port}{API}/simple/"
        times: dict[str, list[float]] = {}
        try:
            for round_ in range(args.rounds):
                print(f"  round {round_ + 1} of {args.rounds}", file=sys.stderr)
                direct = install(work, index, names, f"direct-{round_}")
                times.setdefault("straight from the upstream", []).append(direct)
                for name, starter, path in (
                        ("pypireg", start_pypireg, f"{API}/simple/"),
                        ("proxpi", start_proxpi, "/index/")):
                    server = starter(work / f"{name}-{round_}", index)
                    try:
                        url = f"http://127.0.0.1:{server.port}{path}"
                        for state in ("cold", "warm"):
                            took = install(work, url, names, f"{name}-{state}-{round_}")
                            times.setdefault(f"{name}, {state}", []).append(took)
                    finally:
                        server.stop()
        finally:
            stop_all([upstream])
    print(f"\nuv pip install of {args.packages} packages ({args.kib} KiB wheels), into a new"
          f" venv each time, uv's cache off; the median of {args.rounds} rounds\n")
    base = statistics.median(times["straight from the upstream"])
    print(f"{'through':<30} {'seconds':>8} {'vs upstream':>12}")
    for label, found in times.items():
        median = statistics.median(found)
        print(f"{label:<30} {median:>8.2f} {median / base:>11.2f}x")


def wheel(name: str, kib: int) -> tuple[str, bytes]:
    """A real, installable wheel of ``kib`` KiB of random bytes (stored, so it stays that
    size), with a RECORD of its members' hashes."""
    module = name.replace("-", "_")
    dist_info = f"{module}-1.0.dist-info"
    members = {
        f"{module}/__init__.py": b"VERSION = '1.0'\n",
        f"{module}/data.bin": os.urandom(kib * 1024),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"  # noqa: E501
        for path, data in members.items()) + f"{dist_info}/RECORD,,\n"
    members[f"{dist_info}/RECORD"] = record.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path, data in members.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return f"{module}-1.0-py3-none-any.whl", buffer.getvalue()


def seed_upstream(data: Path, count: int, kib: int) -> list[str]:
    """The upstream's wheels, uploaded through the API as twine would; their names."""
    registry = pypireg.create_app(data)
    registry.create_group("pub", "public")
    registry.create_project(PROJECT, "public")
    token = registry.create_token("bench", [f"{PROJECT}:write"])
    auth = {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}
    client = Client(registry)
    names = [f"proxied-pkg-{n}" for n in range(count)]
    for name in names:
        file_name, content = wheel(name, kib)
        response = client.post(API.removeprefix("/api/v4"), headers=auth, data={
            ":action": "file_upload", "name": name, "version": "1.0",
            "content": (io.BytesIO(content), file_name)})
        if response.status_code != 201:
            raise RuntimeError(f"upload of {name}: {response.status}")
    return names


def start_upstream(data: Path) -> Server:
    port = free_port()
    return start("upstream", [str(BIN / "pypireg"), "serve", "--host", "127.0.0.1", "--port",
                              str(port), "--data", str(data)], {}, port)


def start_pypireg(data: Path, index: str) -> Server:
    registry = pypireg.create_app(data)
    registry.create_group("pub", "public")
    registry.create_project(PROJECT, "public")
    return gunicorn("pypireg", "pypireg.wsgi:application", {}, threads=8, env={
        "PYPIREG_DATA": str(data), "PYPIREG_UPSTREAM": index, "PYPIREG_UPSTREAM_MODE": "cache"})


def start_proxpi(cache: Path, index: str) -> Server:
    cache.mkdir()
    return gunicorn("proxpi", "proxpi.server:app", {}, threads=8, env={
        "PROXPI_INDEX_URL": index, "PROXPI_CACHE_DIR": str(cache),
        "PROXPI_LOGGING_LEVEL": "WARNING"})


def install(work: Path, index: str, names: list[str], label: str) -> float:
    """Seconds for uv to install every name from ``index`` into a new venv."""
    target = work / f"venv-{label}"
    venv.EnvBuilder(with_pip=False).create(target)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env.update(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "uv"), "pip", "install", "--no-cache", "--python",
         str(target / "bin" / "python"), "--index-url", index, *names],
        env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"uv through {index} exited {result.returncode}:\n{result.stderr}")
    return took


def _uv_version() -> str:
    return subprocess.run([str(BIN / "uv"), "--version"], capture_output=True,
                          text=True).stdout.split()[1]


if __name__ == "__main__":
    main()
