"""waitress with deadlines for slow clients, so that ``pypireg serve`` cannot be shut out.

waitress reads requests in one event loop and hands a request to a thread only once its
body is whole, so a slow client holds a connection, never a thread. What it lacks is a
deadline for a request's headers: its ``channel_timeout`` closes only a connection that
sends nothing at all, so clients that send their headers a byte a second keep their
connections for as long as they like, and enough of them fill the connection limit. This
server closes a connection whose request's headers are not complete within
``header_timeout`` seconds of its first byte (of the connection's opening, for a
connection that has sent nothing), and one whose body, or whose wait between keep-alive
requests, has sent nothing for ``body_timeout`` seconds (waitress's own
``channel_timeout``, looked at every second rather than every 30).

The limits that bound memory are set with it: up to :data:`CONNECTIONS` connections (with
``poll``, as ``select`` stops at file descriptor 1024), headers of 64 KiB at most, and at
most 64 KiB of each body in memory (the rest is spooled to a temporary file).
"""

from __future__ import annotations

import resource
import socket
import time
from typing import TYPE_CHECKING, Any, cast

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from ..defaults import BODY_TIMEOUT, HEADER_TIMEOUT

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

CONNECTIONS = 1000  # open at once, if the process may open three files for each
FILES_PER_CONNECTION = 3  # its socket, a spooled body, a file being sent
SPARE_FILES = 64  # the catalog, the log, the listening socket and the like

LIMITS = {
    # Three connections are kept for every one a client that sends its headers slowly
    # may hold until the header deadline closes it: 300 of them and 50 stalled uploads
    # leave room for everybody else.
    "connection_limit": CONNECTIONS,
    "asyncore_use_poll": True,
    # A registry's requests carry a few short headers; a megabyte of them is hostile.
    "max_request_header_size": 64 * 1024,
    # With CONNECTIONS stalled uploads, 64 MiB of bodies in memory at most.
    "inbuf_overflow": 64 * 1024,
    # The deadlines are looked at every second.
    "cleanup_interval": 1,
}


class TimedParser(HTTPRequestParser):
    """A request being read, which knows when its first byte came."""

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.began = time.monotonic()


class DeadlineChannel(HTTPChannel):
    """A connection that knows whether a request's headers are overdue."""

    parser_class = TimedParser
    request: TimedParser | None  # what parser_class makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened = time.monotonic()
        self.heard = False  # whether a byte has come
        self.answered = 0.0  # when it last finished answering its requests

    def received(self, data: bytes) -> bool:
        self.heard = True
        return bool(super().received(data))

    def service(self) -> None:  # in a server thread, for the requests read whole
        try:
            super().service()
        finally:
            self.answered = time.monotonic()

    def headers_overdue(self, cutoff: float) -> bool:
        """Whether it has waited since before ``cutoff`` for a request's headers. Not
        while it answers (a request queued, an answer still being sent: a pipelined
        request cannot be read meanwhile), and not between requests once it has sent
        one: that is keep-alive, which ``channel_timeout`` ends."""
        if self.requests or self.total_outbufs_len:
            return False
        if self.request is None:  # nothing of a request yet
            return not self.heard and self.opened < cutoff
        started = max(self.request.began, self.answered)
        return not self.request.headers_finished and started < cutoff


class DeadlineServer(TcpWSGIServer):
    channel_class = DeadlineChannel
    header_timeout = HEADER_TIMEOUT
    # Set by waitress from the bound socket; types-waitress leaves them out.
    effective_host: str
    effective_port: int

    def maintenance(self, now: float) -> None:
        # channel_timeout: connections idle that long. waitress passes time.time(), a
        # float, where types-waitress says int.
        super().maintenance(now)  # type: ignore[arg-type]
        cutoff = time.monotonic() - self.header_timeout
        # A dict by file descriptor; types-waitress says one HTTPChannel.
        channels = cast("dict[int, HTTPChannel]", self.active_channels)
        for channel in list(channels.values()):
            if isinstance(channel, DeadlineChannel) and channel.headers_overdue(cutoff):
                channel.will_close = True


def create_server(app: WSGIApplication, sock: socket.socket, *,
                  header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT,
                  **settings: Any) -> DeadlineServer:
    """A waitress server on the bound ``sock`` with these deadlines, the limits above and
    waitress's other ``settings``."""
    adjustments = Adjustments(sockets=[sock], channel_timeout=body_timeout, **{
        **LIMITS, "connection_limit": _connections(), **settings})
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adjustments.threads)
    server = DeadlineServer(app, {}, True, sock, dispatcher=dispatcher, adj=adjustments,
                            bind_socket=False,
                            sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))
    server.header_timeout = header_timeout
    return server


def _connections() -> int:
    """:data:`CONNECTIONS`, raising the soft limit of open files to let them be; fewer if
    the hard limit does not."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CONNECTIONS * FILES_PER_CONNECTION + SPARE_FILES
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft == resource.RLIM_INFINITY:
        return CONNECTIONS
    return max(1, min(CONNECTIONS, (soft - SPARE_FILES) // FILES_PER_CONNECTION))
