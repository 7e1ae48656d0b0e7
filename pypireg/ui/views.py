"""The pages, as plain functions of the UI, the request and the URL adapter: each reads
the catalog with the caller's rights, as the API does, and renders one template."""

from __future__ import annotations

import math
import time
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import BuildError

from .. import access
from ..catalog import utcnow
from ..catalog.names import current_key, search_words
from ..dists import normalize
from ..errors import ResourceNotFound
from ..limits import MAX_ID
from ..models import READ, Group, NameEntry, Package, PackageFile, Project, groups_above
from ..views.params import Page, choice
from .setup import client_urls, example, install, upstreams

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from ..protocols import URLAdapter
    from .app import UI

ORDERS = ("name", "last_upload")
MAX_QUERY = 200  # characters of a search or filter: more is not a name anyone types
MAX_WORDS = 8
FILES_PER_PAGE = 100  # of a version's files, on its page
STATS_DAYS = 30  # of downloads, on a package's page
STATS_FRESH = 600  # seconds a package page's download counts may be behind
SHOWN_STAGES = 20  # open stages listed on a project's page, the newest


# -- pages -----------------------------------------------------------------------------------


def home(ui: UI, request: Request, urls: URLAdapter) -> Response:
    """The registry: search, what the caller may read, the latest uploads, client setup."""
    projects = readable_projects(ui, request)
    groups = readable_groups(ui, request, projects)
    page = Page.from_args(request.args)

    def render() -> Response:
        catalog = ui.registry.catalog
        counts = catalog.name_counts([p.id for p in projects]) if projects else {}
        recent = catalog.recent_names([p.id for p in projects]) if projects else []
        by_id = {p.id: p for p in projects}
        # One page of the projects and one of the groups, both in path order.
        shown = projects[page.offset:page.offset + page.size]
        shown_groups = groups[page.offset:page.offset + page.size]
        return ui.page(request, urls, "home.html", projects=shown, counts=counts,
                       total=len(projects), pages=_pages(request, page,
                                                         max(len(projects), len(groups))),
                       groups=shown_groups,
                       group_counts=_group_counts(groups, projects, counts),
                       recent=[(by_id[e.project_id], e) for e in recent],
                       marks=_marks(ui, recent),
                       example=example(ui.api_urls(request), projects, counts, recent))

    return ui.kept_page(request, ("home", bool(request.authorization), _state(projects),
                                  [(g.id, g.path, g.visibility) for g in groups],
                                  request.query_string), render)


def search(ui: UI, request: Request, urls: URLAdapter) -> Response:
    """Names and summaries of everything the caller may read, best match first."""
    text = _query(request, "q")
    page = Page.from_args(request.args)
    projects = readable_projects(ui, request)
    words = search_words(text)[:MAX_WORDS]

    def render() -> Response:
        found: list[NameEntry] = []
        total = 0
        if words and projects:
            found, total = ui.registry.catalog.search_names(
                [p.id for p in projects], words, limit=page.size, offset=page.offset)
        by_id = {p.id: p for p in projects}
        return ui.page(request, urls, "search.html", query=text,
                       results=[(by_id[e.project_id], e) for e in found], total=total,
                       marks=_marks(ui, found),
                       pages=_pages(request, page, total))

    return ui.kept_page(request, ("search", _state(projects), request.query_string), render)


def namespace(ui: UI, request: Request, urls: URLAdapter, namespace: str) -> Response:
    """A project's packages, or a group's (every project below it the caller may read)."""
    catalog = ui.registry.catalog
    try:  # a hidden project or group answers as a missing one: "404 Not Found" for both
        project = catalog.project_by_path(namespace)
        group = None if project is not None else catalog.group_by_path(namespace)
        if project is not None:  # by id from here: a path of digits is not an id
            project = ui.registry.authorize(request, project.id, READ)
            projects = [project]
        elif group is not None:
            group, projects = ui.registry.readable_projects(request, group.id)
        else:
            raise NotFound()
    except ResourceNotFound:
        raise NotFound() from None
    text = _query(request, "q")
    order = choice(request.args, "order_by", ORDERS) or "name"
    sort = choice(request.args, "sort", ("asc", "desc"),
                  "desc" if order == "last_upload" else "asc")
    page = Page.from_args(request.args)
    shown: Project | Group = project or group  # type: ignore[assignment]
    stages = open_stages(ui, request, project) if project is not None else []

    def render() -> Response:
        entries: list[NameEntry] = []
        total = 0
        if projects:
            entries, total = catalog.name_entries(
                [p.id for p in projects], terms=text.split(), order=order,
                descending=sort == "desc", limit=page.size, offset=page.offset)
        by_id = {p.id: p for p in projects}
        return ui.page(
            request, urls, "namespace.html", project=project, group=group, path=shown.path,
            entries=[(by_id[e.project_id], e) for e in entries], total=total, query=text,
            marks=_marks(ui, entries),
            order=order, sort=sort, pages=_pages(request, page, total),
            setup=client_urls(ui.api_urls(request), project, group), projects=projects,
            crumbs=groups_above(shown.path), upstreams=upstreams(ui), stages=stages)

    return ui.kept_page(request, ("namespace", type(shown).__name__, shown.id,
                                  shown.visibility, _state(projects), request.query_string,
                                  stages), render)


def open_stages(ui: UI, request: Request, project: Project
                ) -> list[tuple[str, int, str, str | None]]:
    """The project's open stages (docs/staging.md): name, files, expiry, preview index."""
    catalog = ui.registry.catalog
    found, _ = catalog.stages([project.id], now=utcnow(), open_only=True, limit=SHOWN_STAGES)
    counts = catalog.staged_counts(s.id for s in found)
    api = ui.api_urls(request)

    def preview(name: str) -> str | None:
        try:
            return api.build("stages.simple_index", {"project": str(project.id), "stage": name},
                             force_external=True)
        except (BuildError, HTTPException):  # a host's layout without stages
            return None

    return [(s.name, counts.get(s.id, (0, 0))[0], s.expires_at, preview(s.name))
            for s in found]


def package(ui: UI, request: Request, urls: URLAdapter, namespace: str,
            package_id: int) -> Response:
    """One version of a package: GitLab's ``web_path``."""
    project = _project(ui, request, namespace)
    found = ui.registry.catalog.package(project.id, package_id) if package_id <= MAX_ID else None
    if found is None:
        raise ResourceNotFound("Package")
    return ui.kept_page(request, ("package", project.id, project.serial, found.id,
                                  request.query_string, _stats_age()),
                        lambda: _package_page(ui, request, urls, project, found))


def package_by_name(ui: UI, request: Request, urls: URLAdapter, namespace: str,
                    name: str) -> Response:
    """A package's current version (the highest final release, else pre-release)."""
    project = _project(ui, request, namespace)
    normalized = normalize(name)

    def render() -> Response:
        versions = ui.registry.catalog.versions_named(project.id, normalized)
        if not versions:
            raise ResourceNotFound("Package")
        return _package_page(ui, request, urls, project, None, versions)

    return ui.kept_page(request, ("name", project.id, project.serial, normalized,
                                  request.query_string, _stats_age()), render)


def _stats_age() -> int:
    """Part of a package page's key: its download counts are drawn anew every
    :data:`STATS_FRESH` seconds (downloads move no serial)."""
    return int(time.time() // STATS_FRESH)


def static(ui: UI, request: Request, urls: URLAdapter, name: str) -> Response:
    return ui.static_file(name)


# -- the package page --------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRow:
    file: PackageFile
    kind: str  # "wheel" or "sdist"
    python: str  # a wheel's Python tags, "source" for an sdist
    url: str
    metadata_url: str | None
    publishers: list[dict[str, str]]  # who attested it (PEP 740), if anyone


def current_version(versions: list[Package], yanked: Container[int]) -> Package:
    """What ``pip install NAME`` picks: the highest final release that is not yanked, else
    the highest such pre-release; when every version is yanked, the highest of them."""
    return max(versions, key=lambda p: (p.id not in yanked, current_key(p.version), p.id))


def _package_page(ui: UI, request: Request, urls: URLAdapter, project: Project,
                  shown: Package | None, versions: list[Package] | None = None) -> Response:
    """A version's page (``shown``; None: the current one)."""
    catalog = ui.registry.catalog
    if versions is None:
        assert shown is not None
        versions = catalog.versions_named(project.id, shown.normalized_name)
    versions = sorted(versions, key=lambda p: (current_key(p.version)[1], p.id), reverse=True)
    yanked = catalog.yanked_versions([p.id for p in versions])
    current = current_version(versions, yanked)
    shown = shown or current
    page = Page.from_args(request.args, size=FILES_PER_PAGE)
    files, total = catalog.package_files(shown.id, limit=page.size, offset=page.offset)
    api = ui.api_urls(request)
    rows = [_file_row(api, project, f, catalog.file_provenance(f.id)) for f in files]
    setup = client_urls(api, project)
    details = catalog.package_details(shown.id) or {}
    requires_python = sorted({f.requires_python for f in files if f.requires_python})
    name_status = catalog.name_status([project.id], shown.normalized_name)
    days = _last_days(STATS_DAYS)
    ids = [p.id for p in versions]
    by_day = catalog.downloads_by_day(ids, days[0], days[-1])
    installable = shown.id not in yanked and name_status.status != "quarantined" and bool(files)
    return ui.page(
        request, urls, "package.html", project=project, package=shown, versions=versions,
        current=current, newer=current_key(current.version)[1] > current_key(shown.version)[1],
        yanked=yanked, files=rows, details=details, total_files=total,
        downloads=sum(by_day.values()), chart=_chart(days, by_day),
        version_downloads=catalog.version_downloads(ids, days[0], days[-1]),
        pages=_pages(request, page, total),
        summary=details.get("summary") or shown.metadata.get("summary", ""),
        description=shown.metadata.get("description", ""),
        requires_python=details.get("requires_python") or ", ".join(requires_python),
        project_urls=[(label, url, _is_web_link(url))
                      for label, url in details.get("project_urls", [])],
        setup=setup, install=install(setup, shown, ui) if installable else None,
        simple=api.build("pypi.simple_package", {"project": str(project.id),
                                                 "package_name": shown.normalized_name},
                         force_external=True),
        name_status=name_status)


def _last_days(count: int) -> list[str]:
    today = datetime.now(timezone.utc).date()
    return [(today - timedelta(days=n)).isoformat() for n in range(count - 1, -1, -1)]


def _chart(days: list[str], by_day: dict[str, int]) -> dict[str, Any]:
    """Bars of the downloads of each day, for an SVG drawn by the template (no script):
    each ``(x, y, height, date, count)`` in a 300 by 60 box."""
    most = max(by_day.values(), default=0)
    bars = []
    for n, day in enumerate(days):
        count = by_day.get(day, 0)
        height = round(56 * count / most) if most else 0
        bars.append((n * 10, 60 - max(height, 1 if count else 0), max(height, 1 if count else 0),
                     day, count))
    return {"bars": bars, "most": most}


def _file_row(api: URLAdapter, project: Project, f: PackageFile,
              provenance: dict[str, Any] | None) -> FileRow:
    values = {"project": str(project.id), "sha256": f.sha256, "filename": f.file_name}
    url = api.build("pypi.file", values, force_external=True)
    metadata = (api.build("pypi.file_metadata", values, force_external=True)
                if f.metadata_sha256 else None)
    publishers = _publishers(provenance)
    if f.file_name.endswith(".whl"):
        try:
            tags = parse_wheel_filename(f.file_name)[3]
            python = ", ".join(sorted({tag.interpreter for tag in tags}))
        except InvalidWheelFilename:
            python = "?"
        return FileRow(f, "wheel", python, url, metadata, publishers)
    return FileRow(f, "sdist", "source", url, metadata, publishers)


def _publishers(provenance: dict[str, Any] | None) -> list[dict[str, str]]:
    """Who attested a file (PEP 740): each bundle's Trusted Publisher, as the provenance
    object names it (its kind, and the source repository where it has one)."""
    found = []
    for bundle in (provenance or {}).get("attestation_bundles", []):
        publisher = bundle.get("publisher") if isinstance(bundle, dict) else None
        if isinstance(publisher, dict):
            found.append({"kind": str(publisher.get("kind", "")),
                          "repository": str(publisher.get("repository", "")
                                            or publisher.get("email", ""))})
    return found


def _is_web_link(url: str) -> bool:
    """Only http and https URLs become links: a ``javascript:`` one stays text."""
    return urlsplit(url.strip()).scheme.lower() in ("http", "https")


# -- access --------------------------------------------------------------------------------


def readable_projects(ui: UI, request: Request) -> list[Project]:
    """Every project the caller may read, by path."""
    return access.readable(ui.registry, request, ui.registry.catalog.live_projects())


def readable_groups(ui: UI, request: Request, projects: list[Project]) -> list[Group]:
    """The groups a caller sees: public ones, and those above a project they may read."""
    return access.visible_groups(ui.registry.catalog.live_groups(), projects)


def _project(ui: UI, request: Request, namespace: str) -> Project:
    project = ui.registry.catalog.project_by_path(namespace)
    if project is None:
        raise ResourceNotFound("Project")
    return ui.registry.authorize(request, project.id, READ)


# -- small helpers ---------------------------------------------------------------------------


def _group_counts(groups: list[Group], projects: list[Project],
                  counts: dict[int, int]) -> dict[int, int]:
    """A group's package count: the names in the projects below it that the caller may
    read (the rows its group page lists), so a project hidden from the caller never counts."""
    below: dict[str, int] = {}
    for project in projects:
        for namespace in project.namespaces:
            below[namespace] = below.get(namespace, 0) + counts.get(project.id, 0)
    return {group.id: below.get(group.path, 0) for group in groups}


def _marks(ui: UI, entries: list[NameEntry]) -> dict[tuple[int, str], list[str]]:
    """What a list shows beside each name: yanked, and a PEP 792 status."""
    return ui.registry.catalog.name_marks((e.project_id, e.normalized_name) for e in entries)


def _state(projects: list[Project]) -> list[tuple[int, int]]:
    """What a page of these projects shows changes exactly when one of their serials
    moves (or the set changes): the part of a kept page's key they give."""
    return [(p.id, p.serial) for p in projects]


def _query(request: Request, name: str) -> str:
    text = request.args.get(name, "").strip()
    if len(text) > MAX_QUERY:
        raise BadRequest(f"{name} is too long: at most {MAX_QUERY} characters")
    return text


def _pages(request: Request, page: Page, total: int) -> dict[str, Any]:
    count = max(1, math.ceil(total / page.size))
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]

    def link(number: int) -> str:
        return "?" + urlencode([*query, ("page", number)])

    # The first and last pages, and two either side of this one; None marks a gap.
    near = sorted({1, count, *range(max(1, page.number - 2), min(count, page.number + 2) + 1)})
    numbers: list[tuple[int, str] | None] = []
    for number in near:
        if numbers and numbers[-1] is not None and number > numbers[-1][0] + 1:
            numbers.append(None)
        numbers.append((number, link(number)))
    return {"number": page.number, "count": count, "numbers": numbers,
            "prev": link(page.number - 1) if page.number > 1 else None,
            "next": link(page.number + 1) if page.number < count else None}
