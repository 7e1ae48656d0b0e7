"""One POST to a hook's URL, guarded against server-side request forgery: the host's
addresses are looked up and checked first (only globally routable ones, unless
``hooks_allow_local``), the connection goes to the address that was checked (a name cannot
resolve elsewhere a moment later), redirects are not followed, and the whole exchange has
a deadline: a receiver that answers a byte at a time is cut off, not waited for."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection

from ..upstream.parse import internal_host

CONNECT_TIMEOUT = 5.0  # seconds to connect
DEADLINE = 10.0  # seconds for the whole exchange, connecting included
MAX_URL = 2048  # characters of a hook's URL
KEPT_ANSWER = 64 * 1024  # bytes of a receiver's answer read (and dropped)


class Sent(NamedTuple):
    status: int | None  # the receiver's HTTP status; None: no answer
    error: str | None  # why it failed, for the delivery's record
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def check_url(url: str, *, allow_local: bool) -> str:
    """``url`` if a hook may have it: http or https, a host that can be looked up, no
    credentials, at most :data:`MAX_URL` characters, and (unless ``allow_local``) no host
    that is an internal address. Raises ``ValueError`` saying what is wrong."""
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError(f"url must be an http or https URL of at most {MAX_URL} characters,"
                         " without spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a port that is not one)
    except ValueError:
        raise ValueError(f"url {url!r} is not a valid URL") from None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"url {url!r} must be an http or https URL with a host")
    if parts.username or parts.password:
        raise ValueError("url must not hold credentials: the secret signs each delivery")
    try:
        host.encode("idna")  # what a lookup of it needs
    except UnicodeError:
        raise ValueError(f"url {url!r}: {host!r} is not a host name") from None
    if not allow_local and (internal_host(host) or _literal_inside(host)):
        # A name is looked up on each delivery, and refused then if it is internal.
        raise ValueError(f"url {url!r} points inside this host's networks (loopback,"
                         " private, link-local or shared): hooks may not, unless"
                         " hooks_allow_local is set")
    return url


def post(url: str, headers: dict[str, str], body: bytes, *, allow_local: bool) -> Sent:
    """POST ``body`` to ``url`` within :data:`DEADLINE`; never raises."""
    began = time.monotonic()

    def sent(status: int | None, error: str | None) -> Sent:
        return Sent(status, error, int((time.monotonic() - began) * 1000))

    try:
        return _post(url, headers, body, allow_local, sent)
    except Exception as exc:  # whatever a receiver, a resolver or a URL can make go wrong
        return sent(None, f"{type(exc).__name__}: {exc}"[:500])


def _post(url: str, headers: dict[str, str], body: bytes, allow_local: bool,
          sent: Callable[[int | None, str | None], Sent]) -> Sent:
    parts = urlsplit(url)
    host, https = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        addresses = list(dict.fromkeys(str(info[4][0]) for info in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)))
    except OSError as exc:
        return sent(None, f"cannot resolve {host}: {exc.strerror or exc}")
    if not allow_local and any(_is_internal(a) for a in addresses):
        return sent(None, f"refused: {host} resolves inside this host's networks"
                          " (hooks_allow_local is off)")
    connection: HTTPConnection
    if https:
        connection = HTTPSConnection(addresses[0], port, timeout=CONNECT_TIMEOUT,
                                     server_hostname=host, assert_hostname=host)
    else:
        connection = HTTPConnection(addresses[0], port, timeout=CONNECT_TIMEOUT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    bracketed = f"[{host}]" if ":" in host else host
    cut_off = threading.Event()

    def cut() -> None:  # past the deadline: the socket is shut, whatever reads from it
        cut_off.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(DEADLINE, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target, body=body, headers={
            **headers, "Host": bracketed if parts.port is None else f"{bracketed}:{port}",
            "User-Agent": "pypireg-webhooks"})
        answer = connection.getresponse()
        answer.read(KEPT_ANSWER)
        status = answer.status
        if cut_off.is_set():  # what was read up to the cut is no answer
            return sent(None, f"no answer within {DEADLINE:g} s")
    except Exception as exc:
        if cut_off.is_set():
            return sent(None, f"no answer within {DEADLINE:g} s")
        return sent(None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        watchdog.cancel()
        connection.close()
    return sent(status, None if 200 <= status < 300 else f"answered {status}")


def _literal_inside(host: str) -> bool:
    try:
        return _is_internal(host)
    except ValueError:  # a name
        return False


def _is_internal(address: str) -> bool:
    """Whether an address is anything but globally routable (loopback, private,
    link-local, shared, reserved, ...) or multicast, including IPv4 addresses inside IPv6
    ones."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None and _is_internal(str(inner)):
            return True
    return not ip.is_global or ip.is_multicast
