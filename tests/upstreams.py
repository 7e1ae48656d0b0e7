"""Upstream indexes for the cache tests: any WSGI app served on 127.0.0.1 with a log of what
it was asked, and a small index whose pages and files a test writes itself (to send what
no honest index would)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server

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
def serve(app: Callable[..., Any]) -> Iterator[Served]:
    """``app`` on 127.0.0.1 (a thread per request) for the block, every request logged."""
    served = Served("")

    def logged(environ, start_response):  # type: ignore[no-untyped-def]
        def start(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
            sent = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                    if k.startswith("HTTP_")}
            served.log.append((environ["REQUEST_METHOD"], environ.get("SCRIPT_NAME", "")
                               + environ.get("PATH_INFO", ""), int(status.split()[0]), sent))
            return start_response(status, headers, exc_info)

        return app(environ, start)

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
def silent_port() -> Iterator[str]:
    """A port that takes connections and never answers: an upstream that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/simple/"
    finally:
        listener.close()


def closed_port() -> str:
    """A port nobody listens on: an upstream that is down."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}/simple/"


class FakeIndex:
    """A simple index at ``/simple/`` whose pages and files the test sets: ``pages[name]``
    is ``(content_type, body)``, ``files[path]`` the bytes at that path. ``hold`` (an
    Event), when set, makes file answers wait for it before starting."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.files: dict[str, bytes] = {}
        self.hold: threading.Event | None = None

    def json_page(self, name: str, files: list[dict[str, Any]], **extra: Any) -> None:
        body = {"meta": {"api-version": "1.1"}, "name": name, "files": files, **extra}
        self.pages[name] = (V1_JSON, json.dumps(body).encode())

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        path = environ.get("PATH_INFO", "")
        if path.startswith("/simple/"):
            found = self.pages.get(path[len("/simple/"):].strip("/"))
            if found is None:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"no such project"]
            start_response("200 OK", [("Content-Type", found[0]),
                                      ("Content-Length", str(len(found[1])))])
            return [found[1]]
        data = self.files.get(path)
        if data is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such file"]
        if self.hold is not None:
            self.hold.wait(30)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(data)))])
        return (data[i:i + 65536] for i in range(0, len(data), 65536))
