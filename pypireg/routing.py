"""URL layouts: werkzeug ``Map``s whose endpoint and argument names are the contract.

A host may serve another layout by passing any dispatcher with the same endpoints (the
names in ``views.VIEWS``, with the arguments docs/protocols.md lists).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import EndpointPrefix, Map, Rule, Submount

if TYPE_CHECKING:
    from .app import RegistryRequest
    from .protocols import Dispatcher

MATCHES_KEPT = 1024  # distinct (method, path) pairs whose match is remembered
LONGEST_KEPT = 1024  # characters of a path whose match is remembered: bounds their memory
Match = tuple[str, Mapping[str, Any]]  # an endpoint and its arguments


GET, SEND = ["GET"], ["POST", "PUT"]

# GitLab's PyPI API, declared once: below a project's or a group's ``.../packages/pypi``
# and below the root of the flat layout, as (path, endpoint, methods).
PYPI = [
    ("/simple/", "simple_index", GET),
    ("/simple/<package_name>/", "simple_package", GET),
    ("/files/<sha256>/<filename>", "file", GET),
    ("/files/<sha256>/<filename>.metadata", "file_metadata", GET),
    ("/files/<sha256>/<filename>/provenance", "file_provenance", GET),
    ("/", "upload", SEND),
]
READS = [endpoint for _, endpoint, methods in PYPI if methods == GET]  # all a group has
OLDER_GROUP_PATH = ["file", "file_metadata"]  # downloads a group also serves at its older path


def pypi_rules(endpoints: Iterable[str] = (), *,
               defaults: dict[str, Any] | None = None) -> list[Rule]:
    """Rules for the PyPI ``endpoints`` (all of them when none are named), relative to where
    they are mounted, with ``defaults`` as fixed arguments."""
    wanted = set(endpoints)
    return [Rule(path, endpoint=endpoint, methods=methods, defaults=defaults)
            for path, endpoint, methods in PYPI if not wanted or endpoint in wanted]


def gitlab_layout() -> Map:
    """GitLab's API paths, relative to the mount point (``pypireg serve`` uses ``/api/v4``).

    ``project`` is a numeric id or a full path; ``acme%2Ftools`` arrives decoded as
    ``acme/tools``, hence the path converter. Pages are declared with a trailing slash
    (PEP 503's form) and ``strict_slashes=False`` also matches them without one.
    """
    project_api = "/projects/<path:project>/packages"
    return Map(
        [
            Rule("/", endpoint="root", methods=GET),
            Submount("/projects/<path:project>/packages/pypi",
                     [EndpointPrefix("pypi.", pypi_rules())]),
            Submount("/groups/<path:group>/-/packages/pypi",
                     [EndpointPrefix("pypi.group.", pypi_rules(READS))]),
            Submount("/groups/<path:group>/packages/pypi",
                     [EndpointPrefix("pypi.group.", pypi_rules(OLDER_GROUP_PATH))]),
            # GitLab's Packages API
            Rule(project_api, endpoint="api.project_packages", methods=GET),
            Rule("/groups/<path:group>/packages", endpoint="api.group_packages", methods=GET),
            Submount(project_api, [EndpointPrefix("api.", api_rules())]),
            *publisher_rules(),
            *stage_rules("/projects/<path:project>/packages/pypi/stages"),
            # GitLab's audit events API
            Rule("/projects/<path:project>/audit_events", endpoint="audit.project", methods=GET),
            Rule("/groups/<path:group>/audit_events", endpoint="audit.group", methods=GET),
            *token_rules(),
            *hook_rules(),
        ],
        strict_slashes=False,
    )


def api_rules() -> list[Rule]:
    """GitLab's Packages API below a project's ``.../packages`` (with its protected packages
    API, and pypireg's PEP 792 name status beside them)."""
    routes = [
        # Before <package_id>, which would match them too.
        ("/cleanup_policy", "cleanup_policy", "GET"),
        ("/cleanup_policy", "update_cleanup_policy", "PUT"),
        ("/protection/rules", "protection_rules", "GET"),
        ("/protection/rules", "create_protection_rule", "POST"),
        ("/protection/rules/<rule_id>", "update_protection_rule", "PATCH"),
        ("/protection/rules/<rule_id>", "delete_protection_rule", "DELETE"),
        ("/downloads", "project_downloads", "GET"),
        ("/names/<package_name>/status", "name_status", "GET"),
        ("/names/<package_name>/status", "set_name_status", "PUT"),
        ("/<package_id>", "package", "GET"),
        ("/<package_id>", "delete_package", "DELETE"),
        ("/<package_id>/downloads", "package_downloads", "GET"),
        ("/<package_id>/yank", "yank", "PUT"),
        ("/<package_id>/yank", "unyank", "DELETE"),
        ("/<package_id>/package_files", "package_files", "GET"),
        ("/<package_id>/package_files/<package_file_id>", "delete_package_file", "DELETE"),
    ]
    return [Rule(path, endpoint=endpoint, methods=[method]) for path, endpoint, method in routes]


def publisher_rules() -> list[Rule]:
    """A project's trusted publishers (docs/trusted-publishing.md), beside its PyPI API."""
    base = "/projects/<path:project>/packages/pypi/trusted_publishers"
    return [Rule(base, endpoint="publishers.list", methods=GET),
            Rule(base, endpoint="publishers.create", methods=["POST"]),
            Rule(f"{base}/<publisher_id>", endpoint="publishers.get", methods=GET),
            Rule(f"{base}/<publisher_id>", endpoint="publishers.delete", methods=["DELETE"])]


def stage_rules(base: str, defaults: dict[str, Any] | None = None) -> list[Rule]:
    """A project's staged releases (docs/staging.md) at ``base``; each stage's preview
    index has the PyPI API's page and file paths."""
    stage = f"{base}/<stage>"
    # The upload rule ends in a slash, as the project's does, so that twine and uv may
    # be given the stage's URL with or without one (strict_slashes=False).
    rules = [(base, "list", GET), (base, "create", ["POST"]), (stage, "get", GET),
             (f"{stage}/", "upload", SEND), (stage, "discard", ["DELETE"]),
             (f"{stage}/publish", "publish", ["POST"])]
    rules += [(stage + path, endpoint, methods) for path, endpoint, methods in PYPI
              if endpoint in ("simple_index", "simple_package", "file", "file_metadata")]
    return [Rule(path, endpoint=f"stages.{endpoint}", methods=methods, defaults=defaults)
            for path, endpoint, methods in rules]


def hook_rules() -> list[Rule]:
    """GitLab's project and group webhook APIs (with pypireg's deliveries)."""
    rules = []
    for scope, argument in (("projects", "project"), ("groups", "group")):
        base, prefix = f"/{scope}/<path:{argument}>/hooks", f"hooks.{argument}"
        rules += [
            Rule(base, endpoint=f"{prefix}.list", methods=GET),
            Rule(base, endpoint=f"{prefix}.add", methods=["POST"]),
            Rule(f"{base}/<hook_id>", endpoint=f"{prefix}.get", methods=GET),
            Rule(f"{base}/<hook_id>", endpoint=f"{prefix}.edit", methods=["PUT"]),
            Rule(f"{base}/<hook_id>", endpoint=f"{prefix}.delete", methods=["DELETE"]),
            Rule(f"{base}/<hook_id>/test", endpoint=f"{prefix}.test", methods=["POST"]),
            Rule(f"{base}/<hook_id>/deliveries", endpoint=f"{prefix}.deliveries",
                 methods=GET),
        ]
    return rules


def token_rules() -> list[Rule]:
    """GitLab's personal access token and deploy token APIs (and pypireg's token creation)."""
    tokens = "/personal_access_tokens"
    rules = [
        Rule(f"{tokens}/self", endpoint="tokens.self", methods=GET),
        Rule(f"{tokens}/self", endpoint="tokens.revoke_self", methods=["DELETE"]),
        Rule(f"{tokens}/self/rotate", endpoint="tokens.rotate_self", methods=["POST"]),
        Rule(tokens, endpoint="tokens.list", methods=GET),
        Rule(tokens, endpoint="tokens.create", methods=["POST"]),
        Rule(f"{tokens}/<token_id>", endpoint="tokens.revoke", methods=["DELETE"]),
        Rule(f"{tokens}/<token_id>/rotate", endpoint="tokens.rotate", methods=["POST"]),
    ]
    for scope, argument in (("projects", "project"), ("groups", "group")):
        base = f"/{scope}/<path:{argument}>/deploy_tokens"
        prefix = f"deploy_tokens.{argument}"
        rules += [
            Rule(base, endpoint=f"{prefix}.list", methods=GET),
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
        [EndpointPrefix("pypi.", pypi_rules(defaults=fixed)),
         *stage_rules("/stages", defaults=fixed),
         Rule("/", endpoint="root", defaults=fixed, methods=GET)],
        strict_slashes=False,
    )


def named_layout(layout: str, project: str | None) -> Dispatcher:
    """``create_app(layout=...)``'s: ``gitlab``, or ``flat`` with its ``project``."""
    if layout == "gitlab":
        return gitlab_layout()
    if layout == "flat":
        if not project:
            raise ValueError("the flat layout serves one project: pass project='PATH'")
        return flat_layout(project)
    raise ValueError(f"unknown layout {layout!r}: use 'gitlab' or 'flat'")


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
        self._kept: Callable[[str, str], Match] | None = None
        if isinstance(dispatcher, Map) and _path_only(dispatcher):
            @functools.lru_cache(maxsize=MATCHES_KEPT)
            def kept(method: str, path: str) -> Match:
                endpoint, arguments = dispatcher.bind("", path_info=path,
                                                      default_method=method).match()
                return str(endpoint), arguments
            self._kept = kept

    def match(self, request: RegistryRequest) -> Match:
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
