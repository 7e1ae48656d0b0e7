"""What hostile archives cost the server: pypireg next to pypiserver.

Builds each hostile wheel and sdist of tests/archives.py (zip bombs, members by the
million, gigabyte tar headers, links and paths that escape), starts each server once as
its own process on 127.0.0.1 and uploads every archive to it as twine would (multipart
POST), sampling the server's resident memory from /proc every 10 ms while the upload runs
(and reading its high-water mark, reset before each upload, so that no short spike is
missed). Prints one table: the status (or what broke), the server's peak memory growth and
the seconds taken; ``--reasons`` adds each server's answer.

    pip install -e '.[bench]'
    python bench/hostile_archives.py                        # every archive
    python bench/hostile_archives.py --only zip-bomb-metadata --only tar-300k-members
    python bench/hostile_archives.py --skip-peer            # pypireg alone

Linux only (reads /proc). pypiserver is skipped, with a note, when it is not installed.
Each row is a first upload of its file name: pypiserver's directory is emptied after each
upload it accepts; pypireg, were it to accept one, and a server that timed out or died are
restarted over fresh data before the next.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from upload_memory import (  # noqa: E402
    BOUNDARY,
    body,
    free_port,
    multipart,
    rss_mib,
    wait_for_port,
)

from tests import archives  # noqa: E402

FIELDS = {"name": "evil", "version": "1.0", ":action": "file_upload"}
TIMEOUT = 120  # seconds a request may wait on the server before it counts as hung

ARCHIVES: dict[str, Callable[[Path], Path]] = {
    "zip-bomb-metadata": archives.zip_bomb_metadata,  # 2 GiB of zeros claiming 300 bytes
    "zip-oversized-metadata": archives.oversized_metadata,  # an honest 20 MiB METADATA
    "zip-1m-members": lambda p: archives.many_zip_members(p, 1_000_000),
    "zip-encrypted": archives.encrypted_metadata,
    "zip-corrupt-deflate": archives.corrupt_deflate,
    "zip-name-flagged-utf8": archives.false_utf8_name,
    "tar-huge-pax-header": archives.huge_pax_header,  # 2 GiB
    "tar-huge-gnu-long-name": archives.huge_gnu_long_name,  # 2 GiB
    "tar-pkg-info-after-zeros": archives.pkg_info_after_zeros,  # after 2 GiB
    "tar-300k-members": lambda p: archives.many_tar_members(p, 300_000),
    "tar-symlinked-pkg-info": lambda p: archives.linked_pkg_info(p, tarfile.SYMTYPE),
    "tar-escaping-pkg-info": archives.escaping_pkg_info,
    "tar-quadratic-pax-header": archives.quadratic_pax_header,  # 1 MiB of "2 2 2 ..."
    "tar-sparse-member": archives.sparse_member,
    "tar-pax-record-flood": archives.pax_record_flood,  # 1000 headers of 5-byte records
    "tar-global-pax-60k-records": archives.global_pax_over_members,
    "tar-300-long-names-in-a-row": archives.long_name_chain,  # 1 MiB each
    # Hostile but valid: pypireg stores these (201), at the same bounded cost.
    "tar-300-long-named-members": archives.long_names,  # 1 MiB names
    "zip-junk-after-deflate-end": archives.zip_with_trailing_junk,  # 64 MiB
}


def high_water_mib(pid: int) -> float:
    """The process's peak resident memory since its last reset (0 if unreadable)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def upload(port: int, path: str, file: Path, headers: dict[str, str],
           process: subprocess.Popen[str]) -> tuple[str, float, float, float, str]:
    """POST the file; returns (status or what broke, baseline MiB, peak MiB, seconds,
    the answer's body on one line: its message, when it is GitLab's JSON)."""
    pid = process.pid
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    baseline = rss_mib(pid)
    peak = baseline
    answer = ""
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.01):
            try:
                peak = max(peak, rss_mib(pid))
            except (OSError, RuntimeError):  # the process is gone (or a zombie)
                return

    sampler = threading.Thread(target=sample)
    sampler.start()
    parts, length = multipart(FIELDS, file)
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request(
            "POST", path, body=body(parts, file),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                     "Content-Length": str(length), **headers},
        )
        response = connection.getresponse()
        answer = response.read().decode("utf-8", "replace")
        status = str(response.status)
    except TimeoutError:
        status = f"timeout ({TIMEOUT} s)"
    except (OSError, http.client.HTTPException) as exc:
        status = type(exc).__name__  # e.g. the server reset the connection mid-upload
    finally:
        elapsed = time.perf_counter() - started
        connection.close()
        done.set()
        sampler.join()
    try:
        process.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        peak = max(peak, rss_mib(pid), high_water_mib(pid))
    else:
        status = f"server died ({process.returncode})"
    with contextlib.suppress(ValueError, TypeError, KeyError):  # GitLab's {"message": ...}
        answer = json.loads(answer)["message"]
    return status, baseline, peak, elapsed, " ".join(str(answer).split())


class Server:
    """One server process over its own fresh data; ``start`` again for a clean one."""

    name = ""
    path = "/"
    headers: dict[str, str] = {}
    process: subprocess.Popen[str] | None = None

    def __init__(self, work: Path) -> None:
        self.work = work
        self.starts = 0

    def start(self) -> None:
        self.stop()
        self.starts += 1
        self.port = free_port()
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, text=True)
        wait_for_port(self.process, self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def upload(self, file: Path) -> tuple[str, float, float, float, str]:
        if self.process is None or self.process.poll() is not None:
            self.start()
        assert self.process is not None
        result = upload(self.port, self.path, file, self.headers, self.process)
        status = result[0]
        if not status.isdigit():
            self.stop()  # hung or died: the next row gets a fresh server
        elif status.startswith("2"):
            self.forget()
        return result

    def command(self) -> list[str]:
        raise NotImplementedError

    def forget(self) -> None:
        """Drop the file just stored, so that the next upload is a first one again."""
        self.stop()


class Pypireg(Server):
    name = "pypireg"
    path = "/api/v4/projects/bench/packages/pypi"

    def command(self) -> list[str]:
        data = self.work / f"pypireg-data-{self.starts}"
        cli = [sys.executable, "-m", "pypireg"]
        for argv in (["init"], ["project", "create", "bench", "--public"],
                     ["token", "create", "bench", "--grant", "bench:write"]):
            out = subprocess.run([*cli, *argv, "--data", str(data)], check=True,
                                 capture_output=True, text=True).stdout
        auth = base64.b64encode(f"__token__:{out.splitlines()[-1]}".encode()).decode()
        self.headers = {"Authorization": f"Basic {auth}"}
        return [*cli, "serve", "--port", str(self.port), "--data", str(data)]


class Pypiserver(Server):
    name = "pypiserver"

    def __init__(self, work: Path, executable: str) -> None:
        super().__init__(work)
        self.executable = executable

    def command(self) -> list[str]:
        self.packages = self.work / f"pypiserver-packages-{self.starts}"
        self.packages.mkdir()
        return [self.executable, "run", "-p", str(self.port), "-i", "127.0.0.1",
                "-a", ".", "-P", ".", str(self.packages)]

    def forget(self) -> None:
        for stored in self.packages.iterdir():  # pypiserver answers 409 to a known name
            if stored.is_dir():
                shutil.rmtree(stored)
            else:
                stored.unlink()


def file_size(size: int) -> str:
    if size < 1024**2:
        return f"{size / 1024:,.1f} KiB"
    return f"{size / 1024**2:,.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="NAME", action="append", choices=list(ARCHIVES),
                        help="run only this archive (repeatable): " + ", ".join(ARCHIVES))
    parser.add_argument("--skip-peer", action="store_true", help="leave pypiserver out")
    parser.add_argument("--reasons", action="store_true",
                        help="add a column: each server's answer")
    args = parser.parse_args()
    chosen = [name for name in ARCHIVES if not args.only or name in args.only]
    with tempfile.TemporaryDirectory(prefix="pypireg-bench-") as tmp:
        work = Path(tmp)
        servers: list[Server] = [Pypireg(work)]
        note = ""
        if not args.skip_peer:
            executable = shutil.which("pypi-server", path=str(Path(sys.executable).parent))
            if executable is None:
                note = "pypiserver: not installed: pip install -e '.[bench]'\n"
            else:
                servers.append(Pypiserver(work, executable))
        try:
            for server in servers:
                server.start()
            print("each hostile archive uploaded to each server once; the server's resident"
                  " memory (VmRSS, peak from VmHWM)\n")
            if note:
                print(note)
            print(f"{'archive':<26}{'size':>10}  {'server':<12}{'status':>22}{'before':>10}"
                  f"{'peak':>10}{'growth':>10}{'seconds':>9}" + ("  answer" * args.reasons))
            for name in chosen:
                folder = work / name
                folder.mkdir()
                file = ARCHIVES[name](folder)
                size = file_size(file.stat().st_size)
                for server in servers:
                    status, before, peak, seconds, answer = server.upload(file)
                    print(f"{name:<26}{size:>10}  {server.name:<12}{status:>22}"
                          f"{before:>6.0f} MiB{peak:>6.0f} MiB{peak - before:>6.0f} MiB"
                          f"{seconds:>9.1f}" + f"  {answer}" * args.reasons, flush=True)
                shutil.rmtree(folder)
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
