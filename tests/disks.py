"""Real disk faults for tests: a small tmpfs, filled to the last byte, and read-only bind
mounts, and a registry written before its disk turns read-only. Mounting needs root, as CI
runs; elsewhere the tests that need it skip, saying so (and fail under CI, where they must
run)."""

from __future__ import annotations

import errno
import gc
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from webtest import TestApp

import pypireg

from .distributions import wheel_bytes, wheel_name
from .helpers import API, basic, missing


def need_root() -> None:
    if os.geteuid() != 0:
        missing("root", "mounting needs it; run the tests as root, as CI does")


@contextmanager
def tmpfs(path: Path, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` for the block."""
    need_root()
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(disk: Path) -> None:
    """Take every byte the disk has left, in the file ``fill``."""
    handle = os.open(disk / "fill", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(handle, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(handle)


@contextmanager
def read_only(source: Path, target: Path | None = None) -> Iterator[Path]:
    """``source`` (a directory or a file) seen read-only at ``target`` (by default over
    itself) for the block, as a read-only bind mount; :func:`writable` lifts it."""
    need_root()
    target = target or source
    if not target.exists():
        target.mkdir() if source.is_dir() else target.touch()
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    try:
        writable(target, False)
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def writable(target: Path, rw: bool = True) -> None:
    """Remount a bind mount read-write (or read-only again)."""
    subprocess.run(["mount", "-o", f"remount,bind,{'rw' if rw else 'ro'}", str(target)],
                   check=True)


def written_before(data: Path) -> str:
    """A registry holding pkg 1.0 in acme/tools, written by a thread that has ended, as
    by a process that has stopped: its catalog closed, no write-ahead log or shared
    memory left beside it. Returns a token that may upload and delete."""
    token: list[str] = []

    def write() -> None:
        registry = pypireg.create_app(data)
        registry.create_group("acme", "private")
        registry.create_project("acme/tools", "private")
        token.append(registry.create_token("maintainer", ["acme/tools:delete"]))
        TestApp(registry).post(API.format(project="acme/tools"),
                               params=[("name", "pkg"), ("version", "1.0")],
                               upload_files=[("content", wheel_name("pkg", "1.0"),
                                              wheel_bytes("pkg", "1.0"))],
                               headers=basic(token[0]), status=201)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    gc.collect()
    assert sorted(p.name for p in data.glob("catalog.db*")) == ["catalog.db"]
    return token[0]
