"""A throwaway S3 API for the tests: moto's server on a free 127.0.0.1 port, in a thread
of the test process or in a process of its own.

Outside CI a machine without moto or boto3 skips these tests with how to get them; under
CI (``CI=true``) they must run, so a missing package fails them.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .helpers import missing
from .upstreams import free_port

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Straight to 127.0.0.1, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def require_moto() -> None:
    """Skip (fail under CI) unless moto's server and boto3 can be imported."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        missing("an S3 API to test against", "pip install 'moto[server]' boto3")


@contextmanager
def threaded_server() -> Iterator[str]:
    """moto in a thread of this process for the block; yields its endpoint URL."""
    require_moto()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def process_server(timeout: float = 30.0, pids: list[int] | None = None) -> Iterator[str]:
    """moto in a process of its own (its memory is not the test's); yields its URL, and
    puts its process id in ``pids`` (to freeze it with SIGSTOP, say)."""
    require_moto()
    binary = Path(sys.executable).with_name("moto_server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(binary) if binary.exists() else "moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if pids is not None:
        pids.append(process.pid)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not answer on {url} in {timeout} s")
            time.sleep(0.05)  # polling for readiness, not waiting for an outcome
        yield url
    finally:
        process.kill()  # SIGKILL ends a stopped process too
        process.wait()


def reset(url: str) -> None:
    """Forget every bucket and object (moto keeps them in memory)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with OPENER.open(request, timeout=10):
        pass


def _answers(url: str) -> bool:
    try:
        with OPENER.open(f"{url}/moto-api/config", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # an answer, if not the one expected: the server is up
    except OSError:  # URLError included: nothing listening yet
        return False
