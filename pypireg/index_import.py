"""``pypireg import --from-index``: copy projects from another index (GitLab's registry,
devpi, pypiserver, Artifactory, Nexus: anything with a simple API) into a project.

Every file the source lists for a name is downloaded, its sha256 checked against the
source's page, and stored as an upload would be (its name, version and metadata checked,
its core metadata kept), with the upload time, requires-python and yank state the source
gives. A file the project already holds with the same bytes is skipped without being
downloaded, so a second run copies only what is new; one with other bytes, and any file
that fails, is reported while the rest go on.

Upload times: a PEP 691 JSON page or PEP 700 attributes give them. GitLab's pages do not,
so for a source under ``/api/v4/projects/:id/packages/pypi/simple`` they are read from its
Packages API (each file's ``created_at``), and for devpi's ``USER/INDEX/+simple/`` from its
JSON (each file's upload in its log). Otherwise a file is stamped when it is copied.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

import urllib3
from packaging.requirements import InvalidRequirement, Requirement
from urllib3.util import Retry, Timeout

from . import dists
from .exceptions import PypiregError
from .forms import FileDigests
from .importer import import_file
from .models import HOST, Actor
from .times import parse_time, stamp
from .uploads import UploadRefused
from .upstream.parse import NotAPage, parse_page

if TYPE_CHECKING:
    from .app import Registry
    from .models import Project, UpstreamFile

ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2,"
          " text/html;q=0.1")
CHUNK = 1024 * 1024
GITLAB = re.compile(r"(?P<api>.*/api/v4)/projects/(?P<project>[^/]+)/packages/pypi/simple/?$")
DEVPI = re.compile(r"(?P<index>.*/[^/+]+/[^/+]+)/\+simple/?$")  # USER/INDEX/+simple/


class SourceError(PypiregError):
    """The source index cannot be read; the message says why."""


@dataclass
class IndexReport:
    copied: int = 0
    skipped: int = 0  # already in the project, byte for byte
    names: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    def __str__(self) -> str:
        return (f"copied {self.copied} files of {self.names} names, skipped {self.skipped}"
                f" already present, failed {len(self.failed)}")


class Source:
    """The index to copy from: its pages and files, read with its credentials (sent to
    its own host only)."""

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, max_page: int = 64 << 20,
                 max_file: int = 3 << 30) -> None:
        self.url = url.rstrip("/") + "/"
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"--from-index {url!r}: give the http or https URL of a simple"
                             " index")
        self.headers: dict[str, str] = {"User-Agent": "pypireg-import"}
        user, secret = ("__token__", token) if token else (username, password)
        if user is not None and secret is not None:
            pair = base64.b64encode(f"{user}:{secret}".encode()).decode()
            self.headers["Authorization"] = f"Basic {pair}"
        self.host = urlsplit(self.url).netloc
        self.max_page, self.max_file = max_page, max_file
        self.http = urllib3.PoolManager(timeout=Timeout(connect=10, read=60),
                                        retries=Retry(total=3, backoff_factor=0.5,
                                                      status_forcelist=(502, 503, 504)))
        self._times: dict[str, dict[str, str]] = {}

    def _get(self, url: str, accept: str = ACCEPT, limit: int | None = None
             ) -> tuple[str, bytes, str]:
        """A page: its content type, its body and its URL after redirects."""
        headers = {"Accept": accept, **self._auth(url)}
        answer = self.http.request("GET", url, headers=headers, preload_content=False,
                                   redirect=True)
        try:
            if answer.status != 200:
                raise SourceError(f"{url} answered {answer.status}")
            body = answer.read(amt=(limit or self.max_page) + 1)
            if len(body) > (limit or self.max_page):
                raise SourceError(f"{url} is larger than {limit or self.max_page:,} bytes")
            # Where it was found (after redirects), which relative links are joined to.
            return (answer.headers.get("Content-Type", ""), body,
                    urljoin(url, answer.geturl() or url))
        finally:
            answer.release_conn()

    def _auth(self, url: str) -> dict[str, str]:
        auth = self.headers.get("Authorization")
        same = urlsplit(url).netloc == self.host
        return {"User-Agent": self.headers["User-Agent"],
                **({"Authorization": auth} if auth and same else {})}

    def names(self) -> list[str]:
        """Every project name the index lists."""
        content_type, body, _ = self._get(self.url)
        if content_type.split(";")[0].strip().endswith("json"):
            try:
                projects = json.loads(body).get("projects", [])
                return [p["name"] for p in projects
                        if isinstance(p, dict) and isinstance(p.get("name"), str)]
            except (ValueError, AttributeError):
                raise SourceError(f"{self.url} is no simple index: its JSON does not"
                                  " list projects") from None
        names = _AnchorTexts()
        names.feed(body.decode("utf-8", errors="replace"))
        return [n.strip() for n in names.texts if n.strip()]

    def files(self, name: str) -> list[UpstreamFile]:
        normalized = dists.normalize(name)
        url = urljoin(self.url, quote(normalized) + "/")
        content_type, body, found_at = self._get(url)
        try:
            _, files, _ = parse_page(body, content_type, found_at, normalized)
        except NotAPage as exc:
            raise SourceError(f"{url}: {exc}") from None
        return [self._dated(normalized, f) for f in files]

    def _dated(self, normalized: str, file: UpstreamFile) -> UpstreamFile:
        """The file with its upload time from the index's own API (GitLab's Packages API,
        devpi's JSON), when its page gave none."""
        if file.upload_time:
            return file
        if normalized not in self._times:
            self._times[normalized] = (
                self._gitlab_times(normalized) if GITLAB.match(self.url)
                else self._devpi_times(normalized) if DEVPI.match(self.url) else {})
        return file._replace(upload_time=self._times[normalized].get(file.file_name, ""))

    def _devpi_times(self, normalized: str) -> dict[str, str]:
        """devpi's ``USER/INDEX/NAME`` JSON: each release file's upload in its log."""
        where = DEVPI.match(self.url)
        assert where is not None
        times: dict[str, str] = {}
        try:
            _, body, _ = self._get(f"{where['index']}/{quote(normalized)}",
                                   accept="application/json")
            for release in json.loads(body)["result"].values():
                for link in release.get("+links", []):
                    upload = next(e for e in link.get("log", []) if e.get("what") == "upload")
                    year, month, day, hour, minute, second = upload["when"][:6]
                    when = datetime(year, month, day, hour, minute, second,
                                    tzinfo=timezone.utc)
                    times[str(link["href"]).rsplit("/", 1)[-1]] = stamp(when)
        except (SourceError, ValueError, KeyError, TypeError, AttributeError, StopIteration):
            return times  # no upload times then: the files are stamped when copied
        return times

    def _gitlab_times(self, normalized: str) -> dict[str, str]:
        where = GITLAB.match(self.url)
        assert where is not None
        api = f"{where['api']}/projects/{where['project']}/packages"
        times: dict[str, str] = {}
        try:
            for package in self._pages(f"{api}?package_type=pypi&package_name={normalized}"):
                if dists.normalize(str(package.get("name", ""))) != normalized:
                    continue
                for each in self._pages(f"{api}/{int(package['id'])}/package_files"):
                    created = each.get("created_at")
                    if isinstance(created, str) and isinstance(each.get("file_name"), str):
                        parse_time(created)  # a time, or ValueError
                        # As GitLab writes it (in UTC, to the millisecond), else in UTC.
                        times[each["file_name"]] = (created if created.endswith("Z")
                                                    else stamp(parse_time(created)))
        except (SourceError, ValueError, KeyError, TypeError):
            return times  # no upload times then: the files are stamped when copied
        return times

    def _pages(self, url: str) -> Iterable[dict[str, Any]]:
        for number in range(1, 10_000):
            _, body, _ = self._get(f"{url}&page={number}&per_page=100" if "?" in url
                                   else f"{url}?page={number}&per_page=100",
                                   accept="application/json")
            found = json.loads(body)
            if not isinstance(found, list) or not found:
                return
            yield from (each for each in found if isinstance(each, dict))
            if len(found) < 100:
                return

    def download(self, file: UpstreamFile, directory: str) -> Path:
        """The file, in a temporary file of ``directory``, its sha256 checked."""
        answer = self.http.request("GET", file.url, headers=self._auth(file.url),
                                   preload_content=False, redirect=True)
        handle, name = tempfile.mkstemp(dir=directory, prefix="import-")
        path = Path(name)
        try:
            if answer.status != 200:
                raise SourceError(f"the download answered {answer.status}")
            digests, size = FileDigests(), 0
            with os.fdopen(handle, "wb") as out:
                for chunk in answer.stream(CHUNK):
                    size += len(chunk)
                    if size > self.max_file:
                        raise SourceError(f"larger than {self.max_file:,} bytes")
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


def requirement_names(text: str) -> list[str]:
    """The project names of a requirements file (comments, options and blank lines left
    out). Raises ``ValueError`` naming a line that is no requirement."""
    names = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            names.append(Requirement(line).name)
        except InvalidRequirement as exc:
            raise ValueError(f"line {number} is no requirement: {exc}") from None
    return list(dict.fromkeys(dists.normalize(n) for n in names))


def import_from_index(registry: Registry, project: Project, source: Source, *,
                      names: Iterable[str] | None = None,
                      progress: Callable[[str], None] = lambda line: None,
                      actor: Actor = HOST) -> IndexReport:
    """Copy every file of ``names`` (by default every name the index lists) from
    ``source`` into ``project``; ``progress`` is told of each file."""
    report = IndexReport()
    wanted = list(names) if names is not None else source.names()
    for name in wanted:
        report.names += 1
        try:
            files = source.files(name)
        except (SourceError, urllib3.exceptions.HTTPError, OSError) as exc:
            report.failed.append((name, str(exc)))
            progress(f"failed: {name}: {exc}")
            continue
        for file in files:
            what = f"{name}: {file.file_name}"
            try:
                copied = _copy(registry, project, source, file, actor)
            except (SourceError, UploadRefused, dists.InvalidDistribution,
                    urllib3.exceptions.HTTPError, OSError) as exc:
                report.failed.append((file.file_name, str(exc)))
                progress(f"failed: {what}: {exc}")
                continue
            if copied:
                report.copied += 1
            else:
                report.skipped += 1
            progress(f"{'copied' if copied else 'present'}: {what}")
    return report


def _copy(registry: Registry, project: Project, source: Source, file: UpstreamFile,
          actor: Actor) -> bool:
    """Copy one file; False when the project holds it already, byte for byte."""
    held = registry.catalog.live_file_named(project.id, file.file_name)
    if held is not None:
        if held.sha256 == file.sha256:
            return False
        raise UploadRefused(f"the project holds {file.file_name} with other contents")
    path = source.download(file, registry.staging_dir)
    try:
        copied = import_file(registry, project, path, actor, file_name=file.file_name,
                             upload_time=file.upload_time or None,
                             requires_python=file.requires_python or None)
    finally:
        path.unlink(missing_ok=True)
    if copied and file.yanked:
        held = registry.catalog.live_file_named(project.id, file.file_name)
        if held is not None:
            package = registry.catalog.package_by_id(held.package_id)
            registry.set_yanked(package, yanked=True, reason=file.yanked_reason,
                                file_name=file.file_name, actor=actor)
    return copied
