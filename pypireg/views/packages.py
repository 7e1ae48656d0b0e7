"""GitLab's Packages API: list, inspect and delete packages and their files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, PreconditionFailed
from werkzeug.wrappers import Response

from .. import access
from ..catalog import ORDER_COLUMNS, CatalogError
from ..errors import ResourceNotFound
from ..models import DELETE, MAX_REASON, READ, Package, PackageFile, Project
from ..protection import check_delete
from ..times import parse_time
from .answers import json_response, no_content
from .params import Page, body_fields, boolean, choice, integer_id

if TYPE_CHECKING:
    from ..app import Registry, RegistryRequest
    from ..limits import Limits

PACKAGE_TYPES = (
    "conan", "maven", "npm", "pypi", "composer", "nuget", "helm", "terraform_module", "golang",
)
STATUSES = ("default", "hidden", "processing", "error", "pending_destruction")
PROJECT_ORDER = tuple(k for k in ORDER_COLUMNS if k != "project_path")
GROUP_ORDER = tuple(ORDER_COLUMNS)


def project_packages(registry: Registry, request: RegistryRequest, project: str) -> Response:
    found = registry.authorize(request, project, READ)
    return _listing(registry, request, [found], PROJECT_ORDER, in_group=False)


def group_packages(registry: Registry, request: RegistryRequest, group: str) -> Response:
    subgroups = not boolean(request.args, "exclude_subgroups")
    _, projects = registry.readable_projects(request, group, subgroups=subgroups)
    return _listing(registry, request, projects, GROUP_ORDER, in_group=True)


def package(
    registry: Registry, request: RegistryRequest, project: str, package_id: str
) -> Response:
    found, pkg = _package(registry, request, project, package_id, READ)
    body = _package_json(registry, request, pkg, found, in_group=False)
    body["versions"] = [
        {"id": other.id, "version": other.version, "created_at": other.created_at, "tags": []}
        for other in registry.catalog.other_versions(pkg)
    ]
    response = json_response(body)
    response.last_modified = parse_time(pkg.updated_at)
    return response


def package_files(
    registry: Registry, request: RegistryRequest, project: str, package_id: str
) -> Response:
    _, pkg = _package(registry, request, project, package_id, READ)
    page = Page.from_args(request.args)
    files, total = registry.catalog.package_files(pkg.id, limit=page.size, offset=page.offset)
    return page.headers(json_response([_file_json(f) for f in files]), request, total)


def delete_package(
    registry: Registry, request: RegistryRequest, project: str, package_id: str
) -> Response:
    found, pkg = _package(registry, request, project, package_id, DELETE)
    check_delete(registry, request, found, pkg.normalized_name)
    _check_unmodified(request, pkg)
    registry.delete_package(pkg, actor=registry.actor(request))
    return no_content()


def delete_package_file(
    registry: Registry, request: RegistryRequest, project: str, package_id: str,
    package_file_id: str,
) -> Response:
    file_id = integer_id(package_file_id, "package_file_id", "Package file")
    found, pkg = _package(registry, request, project, package_id, DELETE)
    package_file = registry.catalog.package_file(pkg.id, file_id)
    if package_file is None:
        raise ResourceNotFound("Package file")
    check_delete(registry, request, found, pkg.normalized_name)
    _check_unmodified(request, pkg)
    registry.delete_package_file(pkg, package_file, actor=registry.actor(request))
    return no_content()


def yank(
    registry: Registry, request: RegistryRequest, project: str, package_id: str
) -> Response:
    """PEP 592: yank the version (or the ``file_name`` given), with a ``reason``."""
    return _yank(registry, request, project, package_id, yanked=True)


def unyank(
    registry: Registry, request: RegistryRequest, project: str, package_id: str
) -> Response:
    return _yank(registry, request, project, package_id, yanked=False)


def _yank(registry: Registry, request: RegistryRequest, project: str, package_id: str,
          *, yanked: bool) -> Response:
    _, pkg = _package(registry, request, project, package_id, DELETE)
    fields = body_fields(request)
    reason, file_name = str(fields.get("reason", "")), fields.get("file_name")
    if len(reason) > MAX_REASON:
        raise BadRequest(f"reason is invalid: longer than {MAX_REASON} characters")
    try:
        changed = registry.set_yanked(pkg, yanked=yanked, reason=reason,
                                      file_name=str(file_name) if file_name else None,
                                      actor=registry.actor(request))
    except CatalogError:
        raise ResourceNotFound("Package file") from None
    return json_response({"yanked": yanked, "reason": reason if yanked else "", "files": changed})


# -- helpers -------------------------------------------------------------------------------


def _listing(
    registry: Registry, request: RegistryRequest, projects: list[Project],
    orders: tuple[str, ...], *, in_group: bool,
) -> Response:
    args = request.args
    order_by = choice(args, "order_by", orders, "created_at")
    sort = choice(args, "sort", ("asc", "desc"), "asc")
    package_type = choice(args, "package_type", PACKAGE_TYPES)
    status = choice(args, "status", STATUSES)
    boolean(args, "include_versionless")  # checked; every PyPI package has a version
    page = Page.from_args(args)
    terms = _name_terms(args.get("package_name", ""), registry.limits)
    version = _version(args.get("package_version"), registry.limits)
    registry.downloads.flush()
    packages, total = registry.catalog.list_packages(
        [p.id for p in projects], order_by=order_by or "created_at", sort=sort or "asc",
        package_type=package_type, name_terms=terms, version=version,
        status=status, limit=page.size, offset=page.offset,
    )
    by_id = {p.id: p for p in projects}
    body = [_package_json(registry, request, p, by_id[p.project_id], in_group=in_group)
            for p in packages]
    return page.headers(json_response(body), request, total)


def _name_terms(text: str, limits: Limits) -> list[str]:
    """``package_name``'s terms, each of which must match; bounded, since each adds a
    condition to the query."""
    if len(text) > limits.max_name_filter_length:
        raise BadRequest(f"package_name is invalid: longer than {limits.max_name_filter_length}"
                         " characters")
    terms = text.split()
    if len(terms) > limits.max_name_terms:
        raise BadRequest(f"package_name is invalid: more than {limits.max_name_terms} terms")
    return terms


def _version(text: str | None, limits: Limits) -> str | None:
    """``package_version``: a version as uploaded, matched exactly (None: no filter, as
    for an empty one)."""
    if not text:
        return None
    if len(text) > limits.max_file_name_length:  # no stored version is longer
        raise BadRequest(f"package_version is invalid: longer than"
                         f" {limits.max_file_name_length} characters")
    return text


def _package(
    registry: Registry, request: RegistryRequest, project: str, package_id: str, action: Any
) -> tuple[Project, Package]:
    number = integer_id(package_id, "package_id", "Package")
    found = registry.authorize(request, project, action)
    registry.downloads.flush()  # so last_downloaded_at is current
    pkg = registry.catalog.package(found.id, number)
    if pkg is None:
        raise ResourceNotFound("Package")
    return found, pkg


def _package_json(
    registry: Registry, request: RegistryRequest, pkg: Package, project: Project,
    *, in_group: bool,
) -> dict[str, Any]:
    links = {"web_path": f"/{project.path}/-/packages/{pkg.id}"}
    if access.may(registry, request, DELETE, project):
        links["delete_api_path"] = request.urls.build(
            "api.delete_package", {"project": str(project.id), "package_id": str(pkg.id)},
            method="DELETE", force_external=True,
        )
    body: dict[str, Any] = {
        "id": pkg.id, "name": pkg.name, "version": pkg.version,
        "package_type": pkg.package_type, "status": pkg.status,
        "created_at": pkg.created_at, "last_downloaded_at": pkg.last_downloaded_at,
        "tags": [], "_links": links,
    }
    if in_group:
        body["project_id"] = project.id
        body["project_path"] = project.path
    return body


def _file_json(f: PackageFile) -> dict[str, Any]:
    return {
        "id": f.id, "package_id": f.package_id, "created_at": f.created_at,
        "file_name": f.file_name, "size": f.size, "file_md5": f.md5, "file_sha1": f.sha1,
        "file_sha256": f.sha256,
    }


def _check_unmodified(request: RegistryRequest, pkg: Package) -> None:
    """412 when the client's copy is older than the package's last change."""
    since = request.if_unmodified_since
    if since is not None and parse_time(pkg.updated_at).replace(microsecond=0) > since:
        raise PreconditionFailed(
            f"the package changed at {pkg.updated_at}, after If-Unmodified-Since")

