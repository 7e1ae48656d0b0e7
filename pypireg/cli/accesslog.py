"""The request log of ``pypireg serve``: one line per request on stderr."""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


class AccessLog:
    """Writes a line to stderr for each response the app starts, in the shape werkzeug's
    server wrote: ``127.0.0.1 - - [02/Dec/2026 04:40:00] "GET /simple/ HTTP/1.1" 200 1523``.
    The request line is as the client sent it (non-printable characters escaped), the time
    local, the size the response's Content-Length or ``-`` when it has none. A line is
    written once the server has taken the response's start; an app that raises instead
    (or whose start the server refuses) is logged as the 500 the server then answers.

    A plain write rather than a logging call, which costs several times as much, on every
    request."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self._clock = (0, "")  # a second since the epoch, and its text
        self._lock = threading.Lock()  # one line at a time from the server's threads

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: OptExcInfo | None = None) -> Callable[[bytes], object]:
            write = start_response(status, headers, exc_info)  # may refuse: logged below
            size = "-"
            for name, value in headers:
                if name.lower() == "content-length":
                    size = value
                    break
            self._log(environ, status[:3], size)
            return write

        try:
            return self.app(environ, start)
        except Exception:
            self._log(environ, "500", "-")  # the server answers it with its own 500
            raise

    def _log(self, environ: WSGIEnvironment, status: str, size: str) -> None:
        request = (f'{environ["REQUEST_METHOD"]} {environ["REQUEST_URI"]}'
                   f' {environ["SERVER_PROTOCOL"]}')
        if not request.isprintable():
            request = request.encode("unicode_escape").decode("ascii")
        line = f'{environ["REMOTE_ADDR"]} - - [{self._now()}] "{request}" {status} {size}\n'
        with self._lock:
            sys.stderr.write(line)

    def _now(self) -> str:
        second = int(time.time())
        clock = self._clock
        if clock[0] != second:
            t = time.localtime(second)
            clock = self._clock = (second, f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon]}/{t.tm_year:04d}"
                                           f" {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")
        return clock[1]
