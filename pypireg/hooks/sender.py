"""One POST to a hook's URL, guarded against server-side request forgery: the host's
addresses are looked up and checked first (no loopback, private, link-local or other
internal address, unless ``hooks_allow_local``), the connection goes to the address that
was checked (a name cannot resolve elsewhere a moment later), redirects are not followed,
and connecting, reading and the answer kept are all bounded."""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import NamedTuple
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util import Timeout

from ..upstream.parse import internal_host

CONNECT_TIMEOUT = 5.0  # seconds
READ_TIMEOUT = 10.0
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
    """``url`` if a hook may have it: http or https, a host, no credentials, at most
    :data:`MAX_URL` characters, and (unless ``allow_local``) no host that is an internal
    address. Raises ``ValueError`` saying what is wrong."""
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError(f"url must be an http or https URL of at most {MAX_URL} characters,"
                         " without spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a port that is not one)
    except ValueError:
        raise ValueError(f"url {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url {url!r} must be an http or https URL with a host")
    if parts.username or parts.password:
        raise ValueError("url must not hold credentials: the secret signs each delivery")
    if not allow_local and internal_host(parts.hostname):
        # A name is looked up on each delivery, and refused then if it is internal.
        raise ValueError(f"url {url!r} points inside this host's networks (loopback,"
                         " private or link-local): hooks may not, unless hooks_allow_local"
                         " is set")
    return url


def post(url: str, headers: dict[str, str], body: bytes, *, allow_local: bool) -> Sent:
    """POST ``body`` to ``url``; never raises for what the network or receiver does."""
    began = time.monotonic()

    def sent(status: int | None, error: str | None) -> Sent:
        return Sent(status, error, int((time.monotonic() - began) * 1000))

    parts = urlsplit(url)
    host, https = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        addresses = _addresses(host, port)
    except OSError as exc:
        return sent(None, f"cannot resolve {host}: {exc.strerror or exc}")
    if not allow_local:
        bad = [a for a in addresses if _is_internal(a)]
        if bad:
            return sent(None, f"refused: {host} resolves to {bad[0]}, inside this host's"
                              " networks (hooks_allow_local is off)")
    address = addresses[0]
    timeout = Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
    pool: urllib3.HTTPConnectionPool
    if https:
        pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False,
                                           server_hostname=host, assert_hostname=host,
                                           maxsize=1)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False,
                                          maxsize=1)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" + (f":{parts.port}" if parts.port else "")
    try:
        answer = pool.urlopen("POST", target, body=body, redirect=False, retries=False,
                              headers={**headers, "Host": host_header,
                                       "User-Agent": "pypireg-webhooks"},
                              preload_content=False)
        try:
            answer.read(KEPT_ANSWER)
        finally:
            answer.release_conn()
    except (HTTPError, OSError) as exc:
        return sent(None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        pool.close()
    status = answer.status
    return sent(status, None if 200 <= status < 300 else f"answered {status}")


def _addresses(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)
