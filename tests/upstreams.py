"""Live servers for the tests: any WSGI app served on 127.0.0.1 (werkzeug's server or
waitress) with a log of what it was asked; and, as upstream indexes for the cache tests, a
small index whose pages and files a test writes itself (to send what no honest index
would) and ports that hang or refuse, or are free for a server that must be given one."""

from __future__ import annotations

import collections
import hashlib
import json
import select
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from werkzeug.http import parse_range_header
from werkzeug.serving import make_server

import pypireg

V1_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT
    log: list[tuple[str, str, int, dict[str, str]]] = field(default_factory=list)

    def count(self, path_part: str, status: int | None = None) -> int:
        """Requests whose path holds ``path_part`` (answered with ``status``)."""
        return sum(1 for _, path, answered, _ in self.log
                   if path_part in path and status in (None, answered))

    def headers_of(self, path_part: str) -> list[dict[str, str]]:
        return [headers for _, path, _, headers in self.log if path_part in path]


@contextmanager
def serve(app: Callable[..., Any], *, threads: int = 0) -> Iterator[Served]:
    """``app`` on 127.0.0.1 for the block, every request logged: on werkzeug's server (a
    thread per request), or with ``threads`` on waitress, as ``pypireg serve`` runs."""
    served = Served("")

    def logged(environ, start_response):  # type: ignore[no-untyped-def]
        def start(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
            sent = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                    if k.startswith("HTTP_")}
            served.log.append((environ["REQUEST_METHOD"], environ.get("SCRIPT_NAME", "")
                               + environ.get("PATH_INFO", ""), int(status.split()[0]), sent))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    if threads:
        with waitress_serving(logged, threads=threads) as port:
            served.url = f"http://127.0.0.1:{port}"
            yield served
        return
    server = make_server("127.0.0.1", 0, logged, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def waitress_serving(app: Callable[..., Any], **options: Any) -> Iterator[int]:
    """``app`` on waitress on 127.0.0.1 for the block, with ``pypireg serve``'s settings
    and ``options`` over them; yields the port."""
    import waitress
    from waitress import wasyncore

    from pypireg.cli.serving import SERVER

    server = waitress.create_server(app, host="127.0.0.1", port=0, **{**SERVER, **options})
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port  # type: ignore[union-attr]
    finally:
        # Closing every connection and the listening socket, in the event loop's own
        # thread, ends the loop.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))  # type: ignore[union-attr]
        thread.join()
        server.task_dispatcher.shutdown()  # type: ignore[union-attr]


class Silent:
    """A port that takes connections and never answers: an upstream that hangs. It counts
    the connections it took."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/simple/"
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self.thread.join(timeout=10)
        for held in self.held:
            held.close()


@contextmanager
def silent_port() -> Iterator[Silent]:
    silent = Silent()
    try:
        yield silent
    finally:
        silent.close()


def free_port() -> int:
    """A port of 127.0.0.1 that the OS has just given out and nothing holds now, for a
    program that must be told its port (PostgreSQL, moto, nginx)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> str:
    """A port nobody listens on: an upstream that is down."""
    return f"http://127.0.0.1:{free_port()}/simple/"


S = TypeVar("S", bound=socketserver.BaseServer)


def relay(one: socket.socket, other: socket.socket, *, seconds: float = 30,
          counted: Callable[[int], object] = lambda size: None) -> None:
    """Bytes both ways between two connected sockets (a proxy's tunnel), until either end
    closes or both stay silent for ``seconds``; ``counted`` is told each chunk's size."""
    ends = [one, other]
    while True:
        ready, _, _ = select.select(ends, [], [], seconds)
        if not ready:
            return
        for end in ready:
            try:
                data = end.recv(65536)
                if data:
                    (other if end is one else one).sendall(data)
            except OSError:  # one end reset: the tunnel is over
                return
            if not data:
                return
            counted(len(data))


@contextmanager
def running(server: S) -> Iterator[S]:
    """``server`` (a socketserver: a proxy, say) serving in a thread for the block."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class FakeIndex:
    """A simple index at ``/simple/`` whose pages and files the test sets: ``pages[name]``
    is ``(content_type, body)``, ``files[path]`` the bytes at that path. ``hold`` and
    ``stall`` (Events), when set, make file and page answers wait for them."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}  # path -> Location of a 302
        self.hold: threading.Event | None = None
        self.stall: threading.Event | None = None  # pages wait for it: a hung upstream
        self.asked = threading.Event()  # set by the first request for a file
        self.page_requests = 0  # counted as they arrive, answered or not
        self.serves_ranges = True  # answers a Range of one span with a 206
        self.clamps_suffixes = True  # a suffix longer than the file: all of it (else a 416)
        self.range_status: int | None = None  # answers every range with this status
        self.ranges_left: int | None = None  # ranges answered before they fail with a 500
        self.range_files: dict[str, bytes] = {}  # other bytes its ranges are cut from
        self.ranges: list[tuple[str, int, int]] = []  # each range served: path, start, stop
        self.whole: collections.Counter[str] = collections.Counter()  # whole files served
        self.sent: collections.Counter[str] = collections.Counter()  # bytes of each path

    def json_page(self, name: str, files: list[dict[str, Any]], **extra: Any) -> None:
        body = {"meta": {"api-version": "1.1"}, "name": name, "files": files, **extra}
        self.pages[name] = (V1_JSON, json.dumps(body).encode())

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        path = environ.get("PATH_INFO", "")
        if path.startswith("/simple/"):
            self.page_requests += 1
            if self.stall is not None:
                self.stall.wait(30)
            found = self.pages.get(path[len("/simple/"):].strip("/"))
            if found is None:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"no such project"]
            start_response("200 OK", [("Content-Type", found[0]),
                                      ("Content-Length", str(len(found[1])))])
            return [found[1]]
        if path in self.redirects:
            start_response("302 Found", [("Location", self.redirects[path])])
            return [b""]
        data = self.files.get(path)
        if data is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such file"]
        self.asked.set()
        if self.hold is not None:
            self.hold.wait(30)
        header = environ.get("HTTP_RANGE") if self.serves_ranges else None
        wanted = parse_range_header(header) if header else None
        if wanted is not None and (self.range_status or self.ranges_left == 0):
            start_response(f"{self.range_status or 500} No", [("Content-Type", "text/plain")])
            return [b"no ranges today"]
        if wanted is not None and len(wanted.ranges) == 1:
            if self.ranges_left is not None:
                self.ranges_left -= 1
            data = self.range_files.get(path, data)
            (start, stop), = wanted.ranges
            if start < 0 and stop is None and self.clamps_suffixes:  # all of a short file
                wanted.ranges[0] = (max(start, -len(data)), None)
            span = wanted.range_for_length(len(data))
            if span is None:
                start_response("416 Range Not Satisfiable",
                               [("Content-Range", f"bytes */{len(data)}")])
                return [b""]
            start, stop = span
            self.ranges.append((path, start, stop))
            self.sent[path] += stop - start
            start_response("206 Partial Content", [
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}"),
                ("Content-Length", str(stop - start))])
            return [data[start:stop]]
        self.whole[path] += 1
        self.sent[path] += len(data)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(data)))])
        return (data[i:i + 65536] for i in range(0, len(data), 65536))


def caching_registry(data: Path, upstream: str) -> pypireg.Registry:
    """A registry at ``data`` serving ``upstream`` (a simple index's URL) from its cache,
    with the public project ``acme`` the cache tests ask through (made once)."""
    registry = pypireg.create_app(data, upstream=upstream, upstream_mode="cache")
    if registry.catalog.project("acme") is None:
        registry.create_project("acme", "public")
    return registry


def one_wheel_index(name: str, data: bytes) -> FakeIndex:
    """An upstream index holding one wheel of ``name`` 1.0, with ``data`` as its bytes."""
    index = FakeIndex()
    index.files[f"/files/{name}.whl"] = data
    index.json_page(name, [{"filename": f"{name}-1.0-py3-none-any.whl",
                            "url": f"/files/{name}.whl",
                            "hashes": {"sha256": hashlib.sha256(data).hexdigest()}}])
    return index
