"""``pypireg serve``'s listening socket, bound before anything is created, and one line
saying what to do when it cannot be bound (a port in use, a port that needs privileges, an
address this machine does not have)."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from ..exceptions import PypiregError


class CannotBind(PypiregError):
    """The address cannot be listened on; the message says why and what to do."""


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host`` and ``port``: IPv6 if the host has a colon, else IPv4,
    and one address whatever a name resolves to (``localhost`` is 127.0.0.1)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # on Windows it would let another process bind the same port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except socket.gaierror as exc:
        sock.close()
        raise CannotBind(f"--host {host!r} is no address this machine can find"
                         f" ({exc.strerror}): give an address such as 127.0.0.1 or 0.0.0.0"
                         ) from None
    except OSError as exc:
        sock.close()
        raise CannotBind(_why(host, port, exc)) from None
    except BaseException:
        sock.close()
        raise
    return sock


def _why(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        holder = listener(port)
        return (f"{where} is already in use{f' by {holder}' if holder else ''}: stop it, or"
                " choose another --port (--port 0 picks a free one)")
    if exc.errno == errno.EACCES:
        return (f"{where} needs privileges to listen on: choose a --port above 1023, and put"
                " a proxy in front for port 80 or 443 (docs/deploying.md)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"{host} is not an address of this machine: give one of its own, or 0.0.0.0"
                " for all of them")
    return f"cannot listen on {where}: {exc.strerror or exc}"


def listener(port: int, proc: Path = Path("/proc")) -> str:
    """Which process listens on ``port``, as "process PID (NAME)", where the system tells
    (Linux, for processes this user may see); "" otherwise."""
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address "0100007F:1F90", state 0A is LISTEN, the socket's inode
            if len(fields) > 9 and fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return ""
    for pid in (p for p in _entries(proc) if p.name.isdigit()):
        for fd in _entries(pid / "fd"):
            try:
                if os.readlink(fd) in inodes:
                    return f"process {pid.name} ({_command(pid)})"
            except OSError:
                continue
    return ""


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _command(pid: Path) -> str:
    """The process's name only: its whole command line may hold a secret."""
    try:
        name = (pid / "comm").read_text(errors="replace").strip()
    except OSError:
        return "?"
    return "".join(c for c in name if c.isprintable())[:32] or "?"
