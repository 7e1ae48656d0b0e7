"""The outgoing proxy the cache reaches its upstreams through (docs/proxy.md), read from
the environment as pip and uv read it: ``HTTPS_PROXY`` for https upstreams, ``HTTP_PROXY``
for http ones, ``ALL_PROXY`` for either (lower-case spellings first), and ``NO_PROXY``, the
hosts reached directly."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.request import getproxies_environment

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = ("http", "https")  # of the proxies this registry can go through
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Proxies:
    http: str = ""  # the proxy of http:// upstreams ("": none)
    https: str = ""  # of https:// upstreams
    no_proxy: tuple[str, ...] = ()  # NO_PROXY's entries

    @classmethod
    def from_environment(cls) -> Proxies:
        found = getproxies_environment()
        either = found.get("all", "")
        return cls(_with_scheme(found.get("http", either)),
                   _with_scheme(found.get("https", either)),
                   tuple(entry.strip().lower() for entry in found.get("no", "").split(",")
                         if entry.strip()))

    def for_url(self, url: str) -> str:
        """The proxy to reach ``url`` through, or "" to reach it directly."""
        parts = urlsplit(url)
        proxy = {"http": self.http, "https": self.https}.get(parts.scheme, "")
        if not proxy or self.bypassed(parts.hostname or "",
                                      parts.port or DEFAULT_PORTS.get(parts.scheme)):
            return ""
        return proxy

    def bypassed(self, host: str, port: int | None) -> bool:
        """Whether NO_PROXY names ``host``: ``*``; the host, or a domain above it
        (``example.com``, ``.example.com``, ``*.example.com``); an address, or a network
        holding it (``10.0.0.0/8``, ``::1``, ``[::1]``); any of them with ``:port``."""
        host, address = host.lower(), _address(host)
        for entry in self.no_proxy:
            if entry == "*":
                return True
            if "/" in entry:
                network = _network(entry)
                if network is not None and address is not None and address in network:
                    return True
                continue
            name, wanted = _host_and_port(entry)
            if wanted is not None and wanted != port:
                continue
            named = _address(name)
            if named is not None or address is not None:
                if named == address:
                    return True
                continue
            domain = name.lstrip("*").lstrip(".")
            if domain and (host == domain or host.endswith("." + domain)):
                return True
        return False


def _with_scheme(proxy: str) -> str:
    """``host:port`` alone means an http proxy, as pip and uv take it."""
    proxy = proxy.strip()
    return proxy if not proxy or "://" in proxy else f"http://{proxy}"


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _host_and_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port``, or a bare IPv6 address."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None
