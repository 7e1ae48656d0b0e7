"""URL layouts: werkzeug ``Map``s whose endpoint and argument names are the contract.

A host may serve another layout by passing any dispatcher with the same endpoints (the
names in ``views.VIEWS``, with the arguments docs/protocols.md lists).
"""

from __future__ import annotations

from werkzeug.routing import Map, Rule


def gitlab_layout() -> Map:
    """GitLab's API paths, relative to the mount point (``pypireg serve`` uses ``/api/v4``).

    ``project`` is a numeric id or a full path; ``acme%2Ftools`` arrives decoded as
    ``acme/tools``, hence the path converter. Pages are declared with a trailing slash
    (PEP 503's form) and ``strict_slashes=False`` also matches them without one.
    """
    pypi = "/projects/<path:project>/packages/pypi"
    return Map(
        [
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
            Rule(f"{pypi}/", endpoint="pypi.upload", methods=["POST", "PUT"]),
        ],
        strict_slashes=False,
    )
