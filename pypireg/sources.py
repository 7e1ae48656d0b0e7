"""Another index, read to copy from it (``pypireg import --from-index``,
pypireg/index_import.py): its list of names, each name's files, their upload times where
its own API keeps them, and each file's bytes.

The source is not trusted: pages are bounded in size and time, redirects are followed
only within its own origin (a pypiserver or a GitLab forwards an unknown name to the
public index, which must never be copied in its place), its credentials go to its own
origin only, a download must arrive at a steady pace and match the sha256 its page gives,
and nothing it sends can do more than fail the name or the file it is about.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import urllib3
from urllib3.util import Retry, Timeout

from . import dists
from .exceptions import PypiregError
from .forms import FileDigests
from .times import parse_time, stamp
from .upstream.parse import NotAPage, parse_page

if TYPE_CHECKING:
    from .models import UpstreamFile

ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2,"
          " text/html;q=0.1")
CHUNK = 1024 * 1024
PAGE_SECONDS = 120.0  # for one page, whatever pace it comes at
SLOWEST = 16 * 1024  # bytes a second a download keeps up, after its first minute
MAX_REDIRECTS = 5
MAX_API_PAGES = 1000  # of a Packages API listing, 100 entries each
EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)  # an upload time before it is no time
# The indexes whose own API keeps upload times their pages do not give.
GITLAB = re.compile(r"(?P<api>.*/api/v4)/projects/(?P<project>[^/]+)/packages/pypi/simple/?$")
DEVPI = re.compile(r"(?P<index>.*/[^/+]+/[^/+]+)/\+simple/?$")  # USER/INDEX/+simple/


class SourceError(PypiregError):
    """The source index cannot be read, or sent what cannot be used; the message says why."""


class Source:
    """The index to copy from, at ``url`` (credentials in it are taken out and used)."""

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, max_page: int = 64 << 20,
                 max_file: int = 3 << 30) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("--from-index: give the http or https URL of a simple index")
        if parts.username and not (token or username):
            username, password = unquote(parts.username), unquote(parts.password or "")
        netloc = parts.netloc.rpartition("@")[2]
        self.url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/", "", ""))
        self.origin = (parts.scheme, netloc.lower())
        self.token = token
        self.headers = {"User-Agent": "pypireg-import", "Accept-Encoding": "identity"}
        user, secret = ("__token__", token) if token else (username, password)
        if (user is None) != (secret is None):
            raise ValueError("give --username and --password together")
        self.auth = ("Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
                     if user is not None else None)
        self.max_page, self.max_file = max_page, max_file
        self.http = urllib3.PoolManager(timeout=Timeout(connect=10, read=60),
                                        retries=Retry(total=3, backoff_factor=0.5,
                                                      status_forcelist=(502, 503, 504),
                                                      redirect=False))
        self._gitlab: dict[str, list[int]] | None = None  # its names' package ids

    # -- reading ---------------------------------------------------------------------------

    def _headers(self, url: str, **more: str) -> dict[str, str]:
        """Credentials to the source's own origin only, as its pages and files are."""
        mine = (urlsplit(url).scheme, urlsplit(url).netloc.lower()) == self.origin
        return {**self.headers, **more,
                **({"Authorization": self.auth} if self.auth and mine else {})}

    def _open(self, url: str, headers: dict[str, str]) -> tuple[Any, str]:
        """The answer at ``url`` and where it was found, through redirects within the
        source's origin only."""
        for _ in range(MAX_REDIRECTS + 1):
            answer = self.http.request("GET", url, headers=self._headers(url, **headers),
                                       preload_content=False, redirect=False,
                                       decode_content=False)
            location = answer.headers.get("Location")
            if answer.status not in (301, 302, 303, 307, 308) or not location:
                return answer, url
            answer.release_conn()
            target = urljoin(url, location)
            there = (urlsplit(target).scheme, urlsplit(target).netloc.lower())
            if there != self.origin:
                raise SourceError(f"{url} redirects to another index ({there[1]}), which is"
                                  " not followed: its packages are not this index's")
            url = target
        raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _get(self, url: str, accept: str = ACCEPT) -> tuple[str, bytes, str]:
        """A page: its content type, its body and the URL it was found at."""
        answer, found_at = self._open(url, {"Accept": accept})
        began = time.monotonic()
        try:
            if answer.status != 200:
                raise SourceError(f"{_bare(url)} answered {answer.status}")
            if answer.headers.get("Content-Encoding", "identity") != "identity":
                raise SourceError(f"{_bare(url)} came encoded, though it was asked not to be")
            chunks, size = [], 0
            for chunk in answer.stream(CHUNK, decode_content=False):
                size += len(chunk)
                if size > self.max_page:
                    raise SourceError(f"{_bare(url)} is larger than {self.max_page:,} bytes")
                if time.monotonic() - began > PAGE_SECONDS:
                    raise SourceError(f"{_bare(url)} took longer than {PAGE_SECONDS:g} s")
                chunks.append(chunk)
            return answer.headers.get("Content-Type", ""), b"".join(chunks), found_at
        finally:
            answer.release_conn()

    def _json(self, url: str) -> Any:
        _, body, _ = self._get(url, accept="application/json")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise SourceError(f"{_bare(url)} is not JSON that can be read") from None

    def names(self) -> list[str]:
        """Every project name the index lists (for devpi, its bases' too)."""
        content_type, body, _ = self._get(self.url)
        if content_type.split(";")[0].strip().endswith("json"):
            try:
                projects = json.loads(body).get("projects")
            except (ValueError, RecursionError, AttributeError):
                projects = None
            if not isinstance(projects, list):
                raise SourceError(f"{_bare(self.url)} is no simple index: its JSON does not"
                                  " list projects")
            return [p["name"] for p in projects
                    if isinstance(p, dict) and isinstance(p.get("name"), str)]
        texts = _AnchorTexts()
        texts.feed(body.decode("utf-8", errors="replace"))
        return [text.strip() for text in texts.texts if text.strip()]

    def files(self, name: str) -> list[UpstreamFile]:
        """The files the index lists for ``name`` (only those with a sha256: nothing else
        could be checked)."""
        normalized = dists.normalize(name)
        url = urljoin(self.url, quote(normalized) + "/")
        content_type, body, found_at = self._get(url)
        try:
            _, files, _ = parse_page(body, content_type, found_at, normalized)
        except NotAPage as exc:
            raise SourceError(f"{_bare(url)}: {exc}") from None
        return files

    # -- upload times kept by the index's own API ---------------------------------------------

    def upload_time(self, name: str, file: UpstreamFile) -> str:
        """When ``file`` was uploaded, as its page says, or else as GitLab's Packages API
        or devpi's JSON keep it ("" when none does). Never raises: a file without a time is
        stamped when it is copied."""
        found = file.upload_time
        try:
            if not found and GITLAB.match(self.url):
                found = self._gitlab_time(dists.normalize(name), file.file_name)
            elif not found and DEVPI.match(self.url):
                found = self._devpi_time(dists.normalize(name), file.file_name)
        except Exception:  # noqa: BLE001 - whatever it sends, the file goes on without
            return ""
        return _bounded(found)

    def _gitlab_time(self, normalized: str, file_name: str) -> str:
        where = GITLAB.match(self.url)
        assert where is not None
        api = f"{where['api']}/projects/{where['project']}/packages"
        if self._gitlab is None:  # every PyPI package once: its search is by substring
            self._gitlab = {}
            for package in self._listing(f"{api}?package_type=pypi"):
                key = dists.normalize(str(package.get("name", "")))
                self._gitlab.setdefault(key, []).append(int(package["id"]))
        for package_id in self._gitlab.get(normalized, []):
            for each in self._listing(f"{api}/{package_id}/package_files"):
                created = each.get("created_at")
                if each.get("file_name") == file_name and isinstance(created, str):
                    parse_time(created)  # a time, or ValueError
                    return created if created.endswith("Z") else stamp(parse_time(created))
        return ""

    def _listing(self, url: str) -> Iterator[dict[str, Any]]:
        """A Packages API listing, page by page, with GitLab's own token header (its REST
        API takes no Basic credentials)."""
        joiner = "&" if "?" in url else "?"
        for number in range(1, MAX_API_PAGES + 1):
            found = self._api(f"{url}{joiner}page={number}&per_page=100")
            if not isinstance(found, list) or not found:
                return
            yield from (each for each in found if isinstance(each, dict))
            if len(found) < 100:
                return

    def _api(self, url: str) -> Any:
        if self.token:
            self.headers["PRIVATE-TOKEN"] = self.token
        try:
            return self._json(url)
        finally:
            self.headers.pop("PRIVATE-TOKEN", None)

    def _devpi_time(self, normalized: str, file_name: str) -> str:
        """devpi's ``USER/INDEX/NAME`` JSON: the file's upload (or push) in its log."""
        where = DEVPI.match(self.url)
        assert where is not None
        releases = self._json(f"{where['index']}/{quote(normalized)}").get("result", {})
        for release in releases.values():
            for link in release.get("+links", []):
                if str(link.get("href", "")).rsplit("/", 1)[-1] != file_name:
                    continue
                log = [e for e in link.get("log", []) if isinstance(e, dict)]
                entry = next((e for e in log if e.get("what") == "upload"), log[0] if log
                             else None)
                if entry is not None:
                    year, month, day, hour, minute, second = entry["when"][:6]
                    return stamp(datetime(year, month, day, hour, minute, second,
                                          tzinfo=timezone.utc))
        return ""

    # -- files ---------------------------------------------------------------------------

    def download(self, file: UpstreamFile, directory: str, prefix: str) -> Path:
        """The file, in a temporary file of ``directory`` named with ``prefix`` (which gc
        sweeps), its sha256 checked; a download that slows below :data:`SLOWEST` bytes a
        second after its first minute is given up."""
        answer, _ = self._open(file.url, {})
        handle, name = tempfile.mkstemp(dir=directory, prefix=prefix)
        path = Path(name)
        began = time.monotonic()
        try:
            if answer.status != 200:
                raise SourceError(f"the download answered {answer.status}")
            if answer.headers.get("Content-Encoding", "identity") != "identity":
                raise SourceError("the download came encoded, though it was asked not to be")
            digests, size = FileDigests(), 0
            with os.fdopen(handle, "wb") as out:
                for chunk in answer.stream(CHUNK, decode_content=False):
                    size += len(chunk)
                    if size > self.max_file:
                        raise SourceError(f"larger than {self.max_file:,} bytes")
                    spent = time.monotonic() - began
                    if spent > 60 and size / spent < SLOWEST:
                        raise SourceError(f"slower than {SLOWEST:,} bytes a second")
                    digests.update(chunk)
                    out.write(chunk)
            actual = digests.result()["sha256"]
            if actual != file.sha256:
                raise SourceError(f"its sha256 is {actual}, not the {file.sha256} the index"
                                  " gives")
            return path
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            answer.release_conn()


class _AnchorTexts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._in = True
            self.texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.texts[-1] += data


def _bare(url: str) -> str:
    """A URL as messages show it: without credentials."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _bounded(found: str) -> str:
    """An upload time, if it is one between 1990 and now ("" otherwise)."""
    if not found:
        return ""
    try:
        when = parse_time(found)
    except (ValueError, OverflowError):
        return ""
    return found if EARLIEST <= when <= datetime.now(timezone.utc) else ""

