"""How a registry uses its upstream indexes (``create_app(upstream=...)``, ``pypireg serve
--upstream``): which, in what order, redirecting or caching, and how fresh."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from .. import dists
from ..defaults import UPSTREAM_MODES, UPSTREAM_TTL
from ..times import parse_interval

MODES = UPSTREAM_MODES
DEFAULT_TTL = UPSTREAM_TTL


@dataclass(frozen=True)
class UpstreamSettings:
    """``urls``: simple index URLs (``https://pypi.org/simple/``), in priority order.

    ``mode``: ``redirect`` sends clients to the first upstream for names unknown here;
    ``cache`` serves those names itself from what it fetched. In cache mode a page is
    served for ``ttl`` before it is revalidated upstream; files uploaded upstream less than
    ``min_age`` ago (or without an upload time) are held back; names in ``merge`` are
    served from this registry and the upstreams together even when held here. The
    timeouts, retries and ``max_fetches`` are set here only (docs/proxy.md).
    """

    urls: tuple[str, ...]
    mode: str = "redirect"
    ttl: timedelta = DEFAULT_TTL
    min_age: timedelta | None = None
    merge: frozenset[str] = frozenset()
    connect_timeout: float = 5.0
    read_timeout: float = 10.0  # seconds without a byte from an upstream
    retries: int = 2  # of a connection that failed, or a 502, 503 or 504
    max_fetches: int = 16  # files fetched at once by one process

    @property
    def caching(self) -> bool:
        return self.mode == "cache"


def spelled(duration: timedelta) -> str:
    """A duration as the settings take it: ``14d``, ``12h``, ``10m``, ``30s``."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def upstream_settings(
    upstream: str | Iterable[str] | UpstreamSettings | None, *, mode: str = "redirect",
    ttl: str | float | timedelta = DEFAULT_TTL,
    min_age: str | float | timedelta | None = None, merge: Iterable[str] = (),
) -> UpstreamSettings | None:
    """The settings ``create_app`` was given, checked: None when there is no upstream.
    Raises ``ValueError`` saying what is wrong."""
    if upstream is None or isinstance(upstream, UpstreamSettings):
        return upstream
    urls = (upstream,) if isinstance(upstream, str) else tuple(upstream)
    if not urls:
        return None
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream {url!r} is not an http:// or https:// URL")
    if mode not in MODES:
        raise ValueError(f"upstream mode {mode!r}: use 'redirect' or 'cache'")
    names = frozenset(dists.normalize(name) for name in merge)
    return UpstreamSettings(
        urls=tuple(url.rstrip("/") + "/" for url in urls), mode=mode,
        ttl=parse_interval(ttl), merge=names,
        min_age=None if min_age is None else parse_interval(min_age) or None)
