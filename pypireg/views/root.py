"""Answers for people who arrive at the wrong place: the API's root says what it is and
where to go, and an upload sent to an index URL is told the upload URL."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from markupsafe import Markup
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from ..errors import wants_html

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..app import Registry, RegistryRequest

SITE = "pypireg.site"  # environ: what the site around the API serves (pypireg.website.site)
INDEXES = ("pypi.simple_index", "pypi.simple_package")
GROUP_INDEXES = ("pypi.group.simple_index", "pypi.group.simple_package")
ANY_PROJECT = ":id"  # in URL templates, as GitLab's docs write them

_PAGE = Markup(
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="color-scheme" content="light dark"><title>{title}</title></head>'
    '<body style="font-family: system-ui, sans-serif; max-width: 48rem; margin: 3rem auto;'
    ' padding: 0 1rem"><h1>{title}</h1><p>{message}</p><dl>{links}</dl></body></html>\n')


def api_root(registry: Registry, request: RegistryRequest, project: str | None = None
             ) -> Response:
    """What this is, and the URLs to use: a project's index and upload URL (``:id`` is its
    id or URL-encoded path), its packages, and the pages and health checks around."""
    from .. import __version__  # the package imports this module

    links = {name: url for name, url in _links(request, project).items() if url}
    message = (f"pypireg {__version__}: a Python package registry speaking GitLab's PyPI and"
               " Packages APIs. Install from a project's index (pypi_index), publish to its"
               " upload URL (pypi_upload); :id is a project's numeric id or its full path,"
               " URL-encoded (acme%2Ftools).")
    if project is not None:  # one project's layout: not named, as it may be private
        message = (f"pypireg {__version__}: a Python package index. Install from pypi_index,"
                   " publish to pypi_upload.")
    if wants_html(request.environ):
        rows = Markup("").join(Markup('<dt>{}</dt><dd><a href="{}">{}</a></dd>').format(
            name.replace("_", " "), url, url) for name, url in links.items())
        body = _PAGE.format(title="pypireg", message=message, links=rows)
        return Response(str(body), mimetype="text/html")
    return Response(json.dumps({"message": message, "version": __version__, "links": links},
                               indent=2) + "\n", mimetype="application/json")


def _links(request: RegistryRequest, project: str | None) -> dict[str, str | None]:
    scope = {} if project is not None else {"project": ANY_PROJECT}
    links = {
        "pypi_index": _url(request, "pypi.simple_index", scope),
        "pypi_upload": _url(request, "pypi.upload", scope),
        "group_pypi_index": None if project else _url(request, "pypi.group.simple_index",
                                                      {"group": ANY_PROJECT}),
        "packages": None if project else _url(request, "api.project_packages", scope),
    }
    site = request.environ.get(SITE)
    if site:
        script_name, pages = site
        mounted = script_name.strip("/")  # host_url ends with a slash
        root = f"{request.host_url}{quote(mounted)}/" if mounted else request.host_url
        links["web_pages"] = root if pages else None
        links.update(health=f"{root}-/health", readiness=f"{root}-/readiness")
    return links


def _url(request: RegistryRequest, endpoint: str, values: dict[str, str]) -> str | None:
    try:
        url = request.urls.build(endpoint, values, force_external=True)
    except BuildError:  # a layout without it
        return None
    if endpoint == "pypi.upload" and url.endswith("/") and urlsplit(url).path != "/":
        url = url[:-1]  # as GitLab's docs and twine's examples write it
    return url.replace("%3Aid", ANY_PROJECT)


def misdirected_upload(request: RegistryRequest) -> HTTPException | None:
    """For a POST or PUT to an index page (twine given the index URL): a 405 naming the
    upload URL. None for anything else."""
    if request.method not in ("POST", "PUT"):
        return None
    try:  # werkzeug's adapter takes the method; another dispatcher's may not
        match: Callable[..., tuple[str, Mapping[str, Any]]] = request.urls.match
        endpoint, args = match(method="GET")
    except Exception:  # a hint only: without it, the plain 404 or 405 stands
        return None
    if endpoint in INDEXES and "project" in args:
        target = _url(request, "pypi.upload", {"project": args["project"]})
        where = f"publish to {target}" if target else "this layout takes no uploads"
    elif endpoint in GROUP_INDEXES:
        target = _url(request, "pypi.upload", {"project": ANY_PROJECT})
        where = f"a group takes no uploads: publish to a project's upload URL, {target}"
    else:
        return None
    return MethodNotAllowed(["GET", "HEAD"], f"this is an index, which installers read:"
                                             f" {where}")
