"""``pypireg serve`` on a bad day, driven by real clients: started on a read-only data
directory, and held by clients that send their requests a byte at a time."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..disks import read_only, written_before
from ..distributions import wheel_bytes, wheel_name
from ..helpers import basic, sha256
from .live import Clients, serve_command, upload_form, writer_token


def test_serve_on_a_read_only_data_directory_installs_and_refuses_uploads(
        tmp_path: Path, clients: Clients) -> None:
    token = written_before(tmp_path / "data")
    with read_only(tmp_path / "data", tmp_path / "mounted") as data, \
            serve_command("--data", str(data)) as (url, banner):
        assert any(" serving " in line for line in banner)
        host = urlsplit(url).netloc
        index = (f"http://__token__:{token}@{host}/api/v4/projects/acme%2Ftools"
                 "/packages/pypi/simple")
        python = clients.new_venv("venv")
        clients.pip_install(python, index, "pkg")
        assert clients.run_python(python, "import pkg; print(pkg.VERSION)") == "1.0"

        wheel = tmp_path / wheel_name("pkg", "2.0")
        wheel.write_bytes(wheel_bytes("pkg", "2.0"))
        refused = clients.twine_upload(f"{url}/projects/acme%2Ftools/packages/pypi", token,
                                       wheel, check=False)
        assert refused.returncode != 0
        said = " ".join((refused.stdout + refused.stderr).split())  # twine wraps lines
        assert "HTTPError: 503" in said
        assert "the registry is read-only: the catalog file is read-only" in said
        with urllib.request.urlopen(url.removesuffix("/api/v4") + "/-/readiness") as answer:
            ready = json.load(answer)
        assert ready["catalog_check"][0]["read_only"] is True


# -- slow clients ----------------------------------------------------------------------------

# Headers that would take a quarter of an hour to send at a byte a second.
SLOW_HEADERS = b"GET /-/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * 900


class Trickle:
    """Connections that each send their request a byte a second, as slow clients do."""

    def __init__(self, address: tuple[str, int], count: int, request: bytes) -> None:
        self.request = request
        self.sockets = [socket.create_connection(address, timeout=10) for _ in range(count)]
        self.sent = 0  # bytes sent on each
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)

    def __enter__(self) -> Trickle:
        self._send_one()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        for sock in self.sockets:
            sock.close()

    def _send_one(self) -> None:
        byte = self.request[self.sent:self.sent + 1]
        for sock in self.sockets:
            with contextlib.suppress(OSError):  # closed by the server: its deadline passed
                sock.send(byte)
        self.sent += 1

    def _send(self) -> None:
        while not self.stop.wait(1.0) and self.sent < len(self.request):  # the pace
            self._send_one()


def stalled_uploads(address: tuple[str, int], count: int, path: str) -> list[socket.socket]:
    """Uploads that announce 10 MiB, send 1 MiB of it, and then nothing."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {10 << 20}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n\r\n").encode()
    stalled = []
    for _ in range(count):
        sock = socket.create_connection(address, timeout=10)
        sock.sendall(head + b"--x\r\n" + b"\0" * (1 << 20))
        stalled.append(sock)
    return stalled


def resident_kib(process: subprocess.Popen[str]) -> int:
    status = Path(f"/proc/{process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines()
                    if line.startswith("VmRSS:")))


def test_slow_clients_do_not_shut_others_out(tmp_path: Path) -> None:
    """300 connections sending their headers a byte a second and 50 stalled uploads: a
    normal request is still answered at once, and memory stays within bounds."""
    started: list[subprocess.Popen[str]] = []
    with serve_command("--data", str(tmp_path / "data"), started=started) as (url, _):
        parts = urlsplit(url)
        address = (parts.hostname or "", parts.port or 0)
        root = url.removesuffix("/api/v4")
        with urllib.request.urlopen(f"{root}/-/health", timeout=10):
            pass
        before = resident_kib(started[0])
        stalled = stalled_uploads(address, 50, "/api/v4/projects/1/packages/pypi")
        try:
            with Trickle(address, 300, SLOW_HEADERS) as trickle:
                while trickle.sent < 3:  # every connection has begun its request
                    trickle.stop.wait(0.1)
                # Far less than the header deadline (10 s), which would let others in by
                # closing the slow ones.
                with urllib.request.urlopen(f"{root}/-/health", timeout=5) as answer:
                    assert answer.read() == b"pypireg OK\n"
                with pytest.raises(urllib.error.HTTPError) as missing:
                    urllib.request.urlopen(f"{url}/projects/acme%2Ftools/packages/pypi/simple/",
                                           timeout=5)
                assert missing.value.code == 404
                grown = resident_kib(started[0]) - before
        finally:
            for sock in stalled:
                sock.close()
    # 350 connections, 64 KiB of each stalled body in memory at most: 3.2 MiB, and each
    # connection's own bookkeeping.
    assert grown < 16 * 1024, f"the server grew by {grown} KiB"


def closed_by_server(sock: socket.socket, wait: float = 60.0) -> bool:
    """Whether the server closes ``sock`` within ``wait`` seconds (reading anything it
    sends meanwhile)."""
    sock.settimeout(wait)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_a_request_whose_headers_are_too_slow_is_closed(tmp_path: Path) -> None:
    env = {**os.environ, "PYPIREG_HEADER_TIMEOUT": "1"}
    with serve_command("--data", str(tmp_path / "data"), env=env) as (url, _):
        parts = urlsplit(url)
        address = (parts.hostname or "", parts.port or 0)
        with Trickle(address, 1, SLOW_HEADERS) as trickle:
            assert closed_by_server(trickle.sockets[0])
            assert trickle.sent < len(SLOW_HEADERS)  # before its headers were complete
        # A connection that never sends a byte is closed at the same deadline.
        with socket.create_connection(address) as silent:
            assert closed_by_server(silent)
        # A request sent at once is answered, on the same server; headers past 64 KiB
        # are refused, so a connection holds little however fast it sends them.
        health = url.removesuffix("/api/v4") + "/-/health"
        with urllib.request.urlopen(health, timeout=10):
            pass
        large = urllib.request.Request(health, headers={"X-Padding": "x" * (64 << 10)})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(large, timeout=10)
        assert refused.value.code == 431


def test_the_header_deadline_spares_answers_and_keep_alive(tmp_path: Path) -> None:
    """A download read slowly and a connection idle between requests outlive the header
    deadline: it is for requests being received, not for answers or keep-alive."""
    data = tmp_path / "data"
    with serve_command("--data", str(data), "--header-timeout", "1") as (url, _):
        token = writer_token(data)
        parts = urlsplit(url)
        address = (parts.hostname or "", parts.port or 0)
        big = wheel_bytes("pkg", "1.0", payload="#" + "x" * (24 << 20))  # past the buffers
        body, content_type = upload_form("pkg", "1.0", big)
        upload = http.client.HTTPConnection(*address, timeout=60)
        upload.request("POST", "/api/v4/projects/acme%2Ftools/packages/pypi", body,
                       {"Content-Type": content_type, **basic(token, "__token__")})
        assert upload.getresponse().status == 201
        upload.close()

        kept = http.client.HTTPConnection(*address, timeout=60)
        kept.request("GET", "/-/health")
        assert kept.getresponse().read() == b"pypireg OK\n"
        download = http.client.HTTPConnection(*address, timeout=60)
        download.request("GET", f"/api/v4/projects/acme%2Ftools/packages/pypi/files/"
                                f"{sha256(big)}/{wheel_name('pkg', '1.0')}",
                         headers=basic(token, "__token__"))
        answer = download.getresponse()
        first = answer.read(1)  # and then nothing, while the deadline passes
        with socket.create_connection(address) as silent:  # closed once it has passed
            assert closed_by_server(silent)
        assert first + answer.read() == big
        kept.request("GET", "/-/health")  # the same connection, idle all along
        assert kept.getresponse().read() == b"pypireg OK\n"


def test_an_upload_is_closed_once_its_body_stalls_but_not_while_it_moves(tmp_path: Path
                                                                         ) -> None:
    data = tmp_path / "data"
    with serve_command("--data", str(data), "--body-timeout", "3") as (url, _):
        token = writer_token(data)
        parts = urlsplit(url)
        address = (parts.hostname or "", parts.port or 0)
        path = "/api/v4/projects/acme%2Ftools/packages/pypi"
        body, content_type = upload_form("pkg", "1.0")
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
                f"Content-Type: {content_type}\r\nConnection: close\r\n"
                f"Authorization: {basic(token, '__token__')['Authorization']}\r\n\r\n").encode()

        with socket.create_connection(address, timeout=30) as stalled:
            stalled.sendall(head + body[:100])
            assert closed_by_server(stalled)

        with socket.create_connection(address, timeout=30) as steady:
            steady.sendall(head)
            pace = threading.Event()
            for start in range(0, len(body), 200):  # longer in all than the deadline
                steady.sendall(body[start:start + 200])
                pace.wait(0.3)
            answer = steady.makefile("rb").readline()
        assert answer.startswith(b"HTTP/1.1 201"), answer
    assert [p.name for p in (data / "staging").iterdir()] == []
