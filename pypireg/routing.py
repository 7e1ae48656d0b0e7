"""URL layouts: werkzeug ``Map``s whose endpoint and argument names are the contract.

A host may serve another layout by passing any dispatcher with the same endpoints (the
names in ``views.VIEWS``, with the arguments docs/protocols.md lists).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

if TYPE_CHECKING:
    from .app import RegistryRequest
    from .protocols import Dispatcher

MATCHES_KEPT = 1024  # distinct (method, path) pairs whose match is remembered
LONGEST_KEPT = 1024  # characters of a path whose match is remembered: bounds their memory


def gitlab_layout() -> Map:
    """GitLab's API paths, relative to the mount point (``pypireg serve`` uses ``/api/v4``).

    ``project`` is a numeric id or a full path; ``acme%2Ftools`` arrives decoded as
    ``acme/tools``, hence the path converter. Pages are declared with a trailing slash
    (PEP 503's form) and ``strict_slashes=False`` also matches them without one.
    """
    pypi = "/projects/<path:project>/packages/pypi"
    group_pypi = "/groups/<path:group>/-/packages/pypi"
    project_api = "/projects/<path:project>/packages"
    return Map(
        [
            Rule("/", endpoint="root", methods=["GET"]),
            # GitLab's PyPI API, project level

            Rule(f"{pypi}/simple/", endpoint="pypi.simple_index", methods=["GET"]),
            Rule(
                f"{pypi}/simple/<package_name>/",
                endpoint="pypi.simple_package",
                methods=["GET"],
            ),
            Rule(
                f"{pypi}/files/<sha256>/<filename>",
                endpoint="pypi.file",
                methods=["GET"],
            ),
            Rule(
                f"{pypi}/files/<sha256>/<filename>.metadata",
                endpoint="pypi.file_metadata",
                methods=["GET"],
            ),
            Rule(
                f"{pypi}/files/<sha256>/<filename>/provenance",
                endpoint="pypi.file_provenance",
                methods=["GET"],
            ),
            Rule(f"{pypi}/", endpoint="pypi.upload", methods=["POST", "PUT"]),
            # GitLab's PyPI API, group level (the download also at its older path)
            Rule(f"{group_pypi}/simple/", endpoint="pypi.group.simple_index", methods=["GET"]),
            Rule(
                f"{group_pypi}/simple/<package_name>/",
                endpoint="pypi.group.simple_package",
                methods=["GET"],
            ),
            Rule(
                f"{group_pypi}/files/<sha256>/<filename>",
                endpoint="pypi.group.file",
                methods=["GET"],
            ),
            Rule(
                "/groups/<path:group>/packages/pypi/files/<sha256>/<filename>",
                endpoint="pypi.group.file",
                methods=["GET"],
            ),
            Rule(
                f"{group_pypi}/files/<sha256>/<filename>.metadata",
                endpoint="pypi.group.file_metadata",
                methods=["GET"],
            ),
            Rule(
                "/groups/<path:group>/packages/pypi/files/<sha256>/<filename>.metadata",
                endpoint="pypi.group.file_metadata",
                methods=["GET"],
            ),
            Rule(
                f"{group_pypi}/files/<sha256>/<filename>/provenance",
                endpoint="pypi.group.file_provenance",
                methods=["GET"],
            ),
            # GitLab's Packages API
            Rule(project_api, endpoint="api.project_packages", methods=["GET"]),
            Rule("/groups/<path:group>/packages", endpoint="api.group_packages", methods=["GET"]),
            # Before <package_id>, which would match it too.
            Rule(f"{project_api}/cleanup_policy", endpoint="api.cleanup_policy",
                 methods=["GET"]),
            Rule(f"{project_api}/cleanup_policy", endpoint="api.update_cleanup_policy",
                 methods=["PUT"]),
            # GitLab's protected packages API
            Rule(f"{project_api}/protection/rules", endpoint="api.protection_rules",
                 methods=["GET"]),
            Rule(f"{project_api}/protection/rules", endpoint="api.create_protection_rule",
                 methods=["POST"]),
            Rule(f"{project_api}/protection/rules/<rule_id>",
                 endpoint="api.update_protection_rule", methods=["PATCH"]),
            Rule(f"{project_api}/protection/rules/<rule_id>",
                 endpoint="api.delete_protection_rule", methods=["DELETE"]),
            # pypireg's: a package name's PEP 792 status.
            Rule(f"{project_api}/names/<package_name>/status", endpoint="api.name_status",
                 methods=["GET"]),
            Rule(f"{project_api}/names/<package_name>/status", endpoint="api.set_name_status",
                 methods=["PUT"]),
            Rule(f"{project_api}/<package_id>", endpoint="api.package", methods=["GET"]),
            Rule(
                f"{project_api}/<package_id>",
                endpoint="api.delete_package",
                methods=["DELETE"],
            ),
            Rule(f"{project_api}/<package_id>/yank", endpoint="api.yank", methods=["PUT"]),
            Rule(f"{project_api}/<package_id>/yank", endpoint="api.unyank", methods=["DELETE"]),
            Rule(
                f"{project_api}/<package_id>/package_files",
                endpoint="api.package_files",
                methods=["GET"],
            ),
            Rule(
                f"{project_api}/<package_id>/package_files/<package_file_id>",
                endpoint="api.delete_package_file",
                methods=["DELETE"],
            ),
            # GitLab's audit events API
            Rule("/projects/<path:project>/audit_events", endpoint="audit.project",
                 methods=["GET"]),
            Rule("/groups/<path:group>/audit_events", endpoint="audit.group", methods=["GET"]),
            *token_rules(),
        ],
        strict_slashes=False,
    )


def token_rules() -> list[Rule]:
    """GitLab's personal access token and deploy token APIs (and pypireg's token creation)."""
    tokens = "/personal_access_tokens"
    rules = [
        Rule(f"{tokens}/self", endpoint="tokens.self", methods=["GET"]),
        Rule(f"{tokens}/self", endpoint="tokens.revoke_self", methods=["DELETE"]),
        Rule(f"{tokens}/self/rotate", endpoint="tokens.rotate_self", methods=["POST"]),
        Rule(tokens, endpoint="tokens.list", methods=["GET"]),
        Rule(tokens, endpoint="tokens.create", methods=["POST"]),
        Rule(f"{tokens}/<token_id>", endpoint="tokens.revoke", methods=["DELETE"]),
        Rule(f"{tokens}/<token_id>/rotate", endpoint="tokens.rotate", methods=["POST"]),
    ]
    for scope, argument in (("projects", "project"), ("groups", "group")):
        base = f"/{scope}/<path:{argument}>/deploy_tokens"
        prefix = f"deploy_tokens.{argument}"
        rules += [
            Rule(base, endpoint=f"{prefix}.list", methods=["GET"]),
            Rule(base, endpoint=f"{prefix}.create", methods=["POST"]),
            Rule(f"{base}/<token_id>", endpoint=f"{prefix}.revoke", methods=["DELETE"]),
        ]
    return rules


def flat_layout(project: str) -> Map:
    """One project at the root of the mount point, laid out like pypiserver.

    ``pip install --index-url http://host/simple/`` and
    ``twine upload --repository-url http://host/`` work as they do against pypiserver.
    The project is supplied to the views as a rule default, so they cannot tell which
    layout serves them.
    """
    fixed = {"project": project}
    return Map(
        [
            Rule("/simple/", endpoint="pypi.simple_index", defaults=fixed, methods=["GET"]),
            Rule(
                "/simple/<package_name>/",
                endpoint="pypi.simple_package",
                defaults=fixed,
                methods=["GET"],
            ),
            Rule(
                "/files/<sha256>/<filename>",
                endpoint="pypi.file",
                defaults=fixed,
                methods=["GET"],
            ),
            Rule(
                "/files/<sha256>/<filename>.metadata",
                endpoint="pypi.file_metadata",
                defaults=fixed,
                methods=["GET"],
            ),
            Rule(
                "/files/<sha256>/<filename>/provenance",
                endpoint="pypi.file_provenance",
                defaults=fixed,
                methods=["GET"],
            ),
            Rule("/", endpoint="root", defaults=fixed, methods=["GET"]),
            Rule("/", endpoint="pypi.upload", defaults=fixed, methods=["POST", "PUT"]),
        ],
        strict_slashes=False,
    )


class Routes:
    """Each request's endpoint and arguments, from the dispatcher.

    Matching a path against werkzeug's rules costs about as much as serving a cached page.
    A ``Map`` without host matching, subdomains or websocket rules gives the same answer
    for the same method and path whatever the request's host or mount point, so the
    answers for the latest :data:`MATCHES_KEPT` paths (of up to :data:`LONGEST_KEPT`
    characters) are kept. Whatever does not match (a 404, a 405, a redirect) and a
    websocket upgrade are matched against the request itself, so that the answer is exactly
    the dispatcher's. Any other dispatcher is asked every time. A layout is fixed once a
    registry is built from it.
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._kept: Callable[[str, str], tuple[str, dict[str, Any]]] | None = None
        if isinstance(dispatcher, Map) and _path_only(dispatcher):
            @functools.lru_cache(maxsize=MATCHES_KEPT)
            def kept(method: str, path: str) -> tuple[str, dict[str, Any]]:
                return dispatcher.bind("", path_info=path, default_method=method).match()
            self._kept = kept

    def match(self, request: RegistryRequest) -> tuple[str, dict[str, Any]]:
        path = request.path
        if (self._kept is not None and len(path) <= LONGEST_KEPT
                and "HTTP_UPGRADE" not in request.environ):
            try:
                return self._kept(request.method, path)
            except HTTPException:
                pass
        return request.urls.match()


def _path_only(rules: Map) -> bool:
    return not (rules.host_matching or rules.default_subdomain or any(
        rule.subdomain or rule.websocket for rule in rules.iter_rules()))
