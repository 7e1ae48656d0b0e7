"""Download statistics over HTTP, a pypireg extension beside GitLab's Packages API:
a package's downloads by day, and a project's versions by downloads, over ``from`` and
``to`` (UTC dates, both included; the last 30 days by default). The same access rules as
the Packages API: reading the project is enough."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from werkzeug.exceptions import BadRequest

from ..dists import normalize
from ..models import READ
from .answers import json_response
from .packages import _package
from .params import Page

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Registry, RegistryRequest

DEFAULT_DAYS = 30
LONGEST_SPAN = 1000  # days one request may ask for


def package_downloads(registry: Registry, request: RegistryRequest, project: str,
                      package_id: str) -> Response:
    _, pkg = _package(registry, request, project, package_id, READ)
    first, last = span(request)
    registry.downloads.flush()  # what was noted since the last flush counts too
    counted = registry.catalog.package_downloads(pkg.id, first.isoformat(), last.isoformat())
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    return json_response({
        "package_id": pkg.id, "name": pkg.name, "version": pkg.version,
        "total": sum(counted.values()),
        "days": [{"date": day, "downloads": counted.get(day, 0)} for day in days]})


def project_downloads(registry: Registry, request: RegistryRequest, project: str
                      ) -> Response:
    found = registry.authorize(request, project, READ)
    first, last = span(request)
    page = Page.from_args(request.args)
    name = request.args.get("package_name", "").strip()
    registry.downloads.flush()
    rows, total = registry.catalog.project_downloads(
        found.id, first.isoformat(), last.isoformat(),
        normalized_name=normalize(name) if name else None, limit=page.size,
        offset=page.offset)
    return page.headers(json_response([row._asdict() for row in rows]), request, total)


def span(request: RegistryRequest) -> tuple[date, date]:
    """``from`` and ``to``: by default the 30 days up to today (UTC)."""
    today = datetime.now(timezone.utc).date()
    last = _date(request, "to") or today
    first = _date(request, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise BadRequest("from is after to")
    if (last - first).days >= LONGEST_SPAN:
        raise BadRequest(f"from and to are more than {LONGEST_SPAN} days apart")
    return first, last


def _date(request: RegistryRequest, name: str) -> date | None:
    text = request.args.get(name, "")
    if not text:
        return None
    try:
        if len(text) != 10 or not text.isascii():
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} is invalid: give a date as YYYY-MM-DD") from None
