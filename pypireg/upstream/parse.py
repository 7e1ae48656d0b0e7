"""An upstream's project page, PEP 691 JSON or PEP 503 HTML, read into what the cache keeps.

Every field pypireg serves is kept: the sha256, requires-python, yanked and its reason,
PEP 658/714 metadata (its sha256), PEP 700 size and upload-time, PEP 792 project-status.
An upstream is not trusted to be well formed: an entry whose fields have the wrong types,
whose file name could not be a path segment, or that has no sha256 (its bytes could not be
verified) is left out; the page as a whole is refused only when it is not a page at all.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import socket
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from packaging.utils import canonicalize_name, parse_sdist_filename
from packaging.version import InvalidVersion, Version
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from ..exceptions import PypiregError
from ..models import MAX_REASON, NAME_STATUS_ORDER, NameStatus, UpstreamFile
from ..times import parse_time, stamp

V1_JSON = "application/vnd.pypi.simple.v1+json"
# The sdists pip or uv install, besides wheels: PEP 625's .tar.gz, and the older formats
# an upstream still lists for older versions.
SDISTS = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz", ".tar.lz",
          ".tar.lzma", ".tar.zst", ".tar", ".zip")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
# A wheel's name and its interpreter tags' parts (PEP 427), as packaging's
# parse_wheel_filename takes them (tests/test_upstream_parse.py compares the two).
_WHEEL_NAME = re.compile(r"[\w.]+", re.ASCII)
_INTERPRETER = re.compile(r"[A-Za-z_]\w*", re.ASCII)
_ORIGIN = re.compile(r"[^/]*//[^/?#]*")  # a URL up to its path: what names its host
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
# What a file name of a page may hold: nothing that ends or escapes a URL's path segment.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!~-]{0,254}")


class NotAPage(PypiregError, ValueError):
    """What the upstream sent is no project page (the message says why)."""


def parse_page(body: bytes, content_type: str, page_url: str, normalized_name: str
               ) -> tuple[str, list[UpstreamFile], NameStatus]:
    """The project's name as the page gives it ("" if none), its files, and its status.
    Only wheels and sdists of ``normalized_name`` are kept: a page cannot list another
    project's files under its name."""
    try:
        if content_type.split(";")[0].strip().lower().endswith("json"):
            name, files, status = _parse_json(body, page_url, normalized_name)
        else:
            name, files, status = _parse_html(body, page_url, normalized_name)
    except NotAPage:
        raise
    except (RecursionError, ValueError) as exc:  # JSON nested past Python's stack, a bad URL
        raise NotAPage(f"it cannot be read ({type(exc).__name__})") from None
    return name[:255], files, status


# -- JSON (PEP 691) ----------------------------------------------------------------------------


def _parse_json(body: bytes, page_url: str, project: str
                ) -> tuple[str, list[UpstreamFile], NameStatus]:
    try:
        page = json.loads(body)
    except ValueError as exc:
        raise NotAPage(f"its JSON does not parse: {exc}") from None
    if not isinstance(page, dict) or not isinstance(page.get("files"), list):
        raise NotAPage("its JSON has no list of files")
    version = str((page.get("meta") or {}).get("api-version", "1.0")
                  if isinstance(page.get("meta"), dict) else "1.0")
    if not version.startswith("1."):
        raise NotAPage(f"it speaks version {version[:20]!r} of the simple API; 1.x is"
                       " understood")
    entries = _Entries(page_url, project)
    files = [f for f in map(entries.json_file, page["files"]) if f]
    found = page.get("name")
    name = found if isinstance(found, str) else ""
    return name, files, _status(page.get("project-status"))


def _status(found: object) -> NameStatus:
    if not isinstance(found, dict) or found.get("status") not in NAME_STATUS_ORDER:
        return NameStatus()
    reason = found.get("reason")
    return NameStatus(found["status"], reason[:MAX_REASON] if isinstance(reason, str) else "")


# -- HTML (PEP 503) ----------------------------------------------------------------------------


class _Links(HTMLParser):
    """The anchors and the PEP 792 meta tags of a page; nothing else is kept."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str | None]] = []
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))
        elif tag == "meta":
            found = dict(attrs)
            if (found.get("name") or "").startswith("pypi:"):
                self.meta[found["name"] or ""] = found.get("content") or ""


def _parse_html(body: bytes, page_url: str, project: str
                ) -> tuple[str, list[UpstreamFile], NameStatus]:
    parser = _Links()
    try:
        parser.feed(body.decode("utf-8", errors="replace"))
        parser.close()
    except Exception as exc:  # html.parser raises little, but an upstream is not trusted
        raise NotAPage(f"its HTML does not parse: {exc}") from None
    files, entries = [], _Entries(page_url, project)
    for attrs in parser.links:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(href)
        algorithm, _, digest = fragment.partition("=")
        metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        kind, _, metadata_digest = (metadata or "").partition("=")
        size = attrs.get("data-size") or ""
        found = entries.file(
            url.rstrip("/").rpartition("/")[2], url, digest if algorithm == "sha256" else None,
            attrs.get("data-requires-python") or "",
            int(size) if size.isascii() and size.isdigit() and len(size) < 19 else None,
            attrs.get("data-upload-time"), metadata_digest if kind == "sha256" else None,
            "data-yanked" in attrs, attrs.get("data-yanked") or "")
        if found:
            files.append(found)
    status = parser.meta.get("pypi:project-status")
    return "", files, _status({"status": status,
                               "reason": parser.meta.get("pypi:project-status-reason", "")})


# -- one file ----------------------------------------------------------------------------------


class _Entries:
    """A page's entries, each checked and read into an :class:`UpstreamFile`; what every
    entry is checked against (the page's URL and project, whether its host is internal,
    the hosts its files' URLs name) is worked out once per page, which lists thousands."""

    def __init__(self, page_url: str, project: str) -> None:
        self.page_url = page_url
        self.project = project
        self.page_internal = _page_internal(page_url)
        self.origins: dict[str, bool] = {}  # a URL up to its path: whether it may be fetched

    def json_file(self, entry: object) -> UpstreamFile | None:
        """A PEP 691 entry's file."""
        if not isinstance(entry, dict):
            return None
        get = entry.get
        file_name, url, hashes = get("filename"), get("url"), get("hashes")
        if not (isinstance(file_name, str) and isinstance(url, str)
                and isinstance(hashes, dict)):
            return None
        metadata = get("core-metadata", get("dist-info-metadata"))
        yanked, size, requires = get("yanked", False), get("size"), get("requires-python")
        return self.file(
            file_name, url, hashes.get("sha256"),
            requires if isinstance(requires, str) else "",
            size if type(size) is int and 0 <= size < 2**63 else None,
            get("upload-time"), metadata.get("sha256") if isinstance(metadata, dict) else None,
            yanked is True or (isinstance(yanked, str) and bool(yanked)),
            yanked if isinstance(yanked, str) else "")

    def file(self, file_name: str, url: str, sha256: object, requires_python: str,
             size: int | None, upload_time: object, metadata: object, yanked: bool,
             yanked_reason: str) -> UpstreamFile | None:
        """The entry, if it is a wheel or an sdist of the page's project with a sha256 and
        a URL the registry may fetch."""
        if "%" in file_name:
            file_name = unquote(file_name)
        if not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)
                and _FILE_NAME.fullmatch(file_name)):
            return None
        named, version = _identity(file_name, self.project)
        if named != self.project:
            return None
        try:  # most pages give plain absolute URLs: joined (and cleaned) only when they are not
            absolute = (url.partition("#")[0] if _plain_absolute(url)
                        else urldefrag(urljoin(self.page_url, url))[0])
        except ValueError:  # an unclosed [ of an IPv6 address, say
            return None
        if not (absolute.startswith(("http://", "https://")) and self._fetchable(absolute)):
            return None
        return UpstreamFile(
            file_name, absolute, sha256.lower(), version, requires_python[:1000], size,
            _time(upload_time),
            metadata.lower() if isinstance(metadata, str) and _SHA256.fullmatch(metadata)
            else None,
            yanked, yanked_reason[:MAX_REASON])

    def _fetchable(self, url: str) -> bool:
        origin = _ORIGIN.match(url)
        if origin is None:
            return False
        found = self.origins.get(origin[0])
        if found is None:
            found = self.origins[origin[0]] = _fetchable(_origin_host(origin[0]),
                                                         self.page_internal)
        return found


def fetchable(url: str, page_url: str) -> bool:
    """Whether the registry may fetch a file from there: a page from outside this host's
    own networks must not send it to an address inside them (a loopback, private or
    link-local one, such as a cloud's metadata service), where only the registry can reach.
    A page from an internal mirror may name internal hosts."""
    return _fetchable(_hostname(url), _page_internal(page_url))


def _fetchable(host: str | None, page_internal: bool) -> bool:
    return bool(host) and (page_internal or not _internal(host or ""))


def _page_internal(page_url: str) -> bool:
    return _internal(_hostname(page_url) or "")


def _plain_absolute(url: str) -> bool:
    """Whether ``url`` is absolute and as urljoin would leave it (most pages' are)."""
    return (url.startswith(("https://", "http://"))
            and not url.startswith(("https:///", "http:///"))
            and "\t" not in url and "\r" not in url and "\n" not in url)  # urljoin drops them


def _hostname(url: str) -> str | None:
    """The host a connection to ``url`` goes to, worked out once per origin (a page's
    thousands of file URLs share a few); None when there is none, or when Python's parser
    and urllib3's, which makes the connection, would not agree on it (a backslash in it),
    or its port is not one."""
    origin = _ORIGIN.match(url)
    return None if origin is None else _origin_host(origin[0])


@functools.lru_cache(maxsize=256)
def _origin_host(origin: str) -> str | None:
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018  (raises for a port that is not one)
        connected = parse_url(origin).host
    except (ValueError, LocationParseError):
        return None
    host = parts.hostname
    if host is None or (connected or "").strip("[]").lower() != _ascii(host):
        return None
    return host


def _ascii(host: str) -> str:
    """A host as urllib3 connects to it: an international name in its IDNA form."""
    try:
        return host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def internal_host(host: str) -> bool:
    """Whether a host, as a URL spells it, is an internal address (loopback, private,
    link-local, ..., in any form a connection takes, ``127.1`` too) or ``localhost``. A
    name is not: what it resolves to is looked up when it is used."""
    return _internal(host)


@functools.lru_cache(maxsize=256)
def _internal(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = _legacy_ipv4(host)
    if address is None:
        return False  # a name: what it resolves to is the upstream's to say
    return (address.is_private or address.is_loopback or address.is_link_local
            or address.is_reserved or address.is_multicast or address.is_unspecified)


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in a form the C library takes though ipaddress does not (``127.1``,
    ``2130706433``, ``0x7f.1``): a connection to it goes there."""
    if not _LEGACY_IPV4.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _identity(file_name: str, project: str) -> tuple[str, str]:
    """The project and version a wheel's or an sdist's name gives ("" for anything else).
    An sdist may be in any of the formats pip and uv install (:data:`SDISTS`), named as
    older tools named them: ``python-dateutil-2.4.1.tar.bz2`` is ``project``'s when its
    name, up to a dash, is ``project``'s."""
    if file_name.endswith(".whl"):
        return _wheel(file_name)
    try:
        if file_name.endswith((".tar.gz", ".zip")):
            named, version = parse_sdist_filename(file_name)
            return named, str(version)
    except ValueError:
        pass
    suffix = next((suffix for suffix in SDISTS if file_name.endswith(suffix)), "")
    stem = file_name[:-len(suffix)] if suffix else ""
    for dash in (i for i, c in enumerate(stem) if c == "-"):
        if canonicalize_name(stem[:dash]) == project:
            try:
                return project, str(Version(stem[dash + 1:]))
            except InvalidVersion:
                return "", ""
    return "", ""



def _wheel(file_name: str) -> tuple[str, str]:
    """A wheel's normalized project and version ("" for a name that is no wheel's): its
    name, version, build tag (if any) and three tag sets, split at the dashes, the parts
    a page's wheels share checked once each rather than once per wheel."""
    parts = file_name[:-4].split("-")
    if len(parts) == 6:
        if not "0" <= parts[2][:1] <= "9":  # a build tag starts with a digit
            return "", ""
    elif len(parts) != 5:
        return "", ""
    if not _wheel_tags(parts[-3], parts[-2], parts[-1]):
        return "", ""
    return _wheel_identity(parts[0], parts[1])


@functools.lru_cache(maxsize=1024)
def _wheel_tags(interpreter: str, abi: str, platform: str) -> bool:
    """Whether a wheel's tag sets are well formed: each part of the interpreter tag an
    identifier, no part of any of them empty."""
    return (all(map(_INTERPRETER.fullmatch, interpreter.split(".")))
            and all(abi.split(".")) and all(platform.split(".")))


@functools.lru_cache(maxsize=1024)
def _wheel_identity(name: str, version: str) -> tuple[str, str]:
    """A wheel's normalized project and version, once for the many wheels of a release."""
    if not (version and _WHEEL_NAME.fullmatch(name)) or "__" in name:
        return "", ""
    try:
        return canonicalize_name(name), str(Version(version))
    except InvalidVersion:
        return "", ""


def _time(value: object) -> str:
    """An upload-time as the upstream wrote it when it is in UTC (``Z``), to whatever
    fraction of a second; else in UTC to the microsecond. Either way its first 19
    characters compare as strings (:meth:`pypireg.upstream.Upstreams.old_enough`)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return ""
    try:
        if _UTC.fullmatch(value):  # as most upstreams write it: its date and time checked
            datetime.fromisoformat(value[:19])
            return value
        return stamp(parse_time(value), "microseconds")
    except (ValueError, OverflowError):
        return ""
