"""pypireg: a private Python package registry for any WSGI application.

The names below are imported when first used, so that a command line or a host that
needs one part (``pypireg --version``, ``pypireg.storage``) does not load them all.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each exported name, and the module that defines it.
_EXPORTS = {
    "Registry": ".app", "create_app": ".app", "mount": ".website",
    "Grant": ".auth", "TokenAuth": ".auth", "TokenPrincipal": ".auth",
    "Catalog": ".catalog", "CatalogError": ".catalog",
    "PypiregError": ".exceptions",
    "health_checks": ".health",
    "Limits": ".limits",
    "Actor": ".models", "AuditEvent": ".models", "CleanupPolicy": ".models",
    "Group": ".models", "Package": ".models", "PackageFile": ".models",
    "Principal": ".models", "Project": ".models",
    "AuthProvider": ".protocols", "ChecksReadiness": ".protocols",
    "Dispatcher": ".protocols", "ServesDownloads": ".protocols", "Storage": ".protocols",
    "flat_layout": ".routing", "gitlab_layout": ".routing",
    "site": ".website", "token_exchange": ".exchange",
    "FileSystemStorage": ".storage", "MemoryStorage": ".storage",
    "UI": ".ui", "create_ui": ".ui",
}

__all__ = [
    "Actor", "AuditEvent", "AuthProvider", "Catalog", "CatalogError", "ChecksReadiness",
    "CleanupPolicy", "Dispatcher", "FileSystemStorage", "Grant", "Group", "Limits",
    "MemoryStorage", "Package", "PackageFile", "Principal", "Project", "PypiregError", "Registry",
    "ServesDownloads", "Storage", "TokenAuth", "TokenPrincipal", "UI", "create_app",
    "create_ui", "flat_layout", "gitlab_layout", "health_checks", "mount", "site",
    "token_exchange",
]


if not TYPE_CHECKING:  # type checkers read the imports below instead

    def __getattr__(name: str) -> Any:
        if name in _EXPORTS:
            value = getattr(import_module(_EXPORTS[name], __name__), name)
        elif find_spec(f"{__name__}.{name}") is not None:  # pypireg.auth, as it always was
            value = import_module(f".{name}", __name__)
        else:
            raise AttributeError(f"module 'pypireg' has no attribute {name!r}")
        globals()[name] = value  # the next use finds it at once
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from .app import Registry, create_app
    from .auth import Grant, TokenAuth, TokenPrincipal
    from .catalog import Catalog, CatalogError
    from .exceptions import PypiregError
    from .exchange import token_exchange
    from .health import health_checks
    from .limits import Limits
    from .models import (
        Actor,
        AuditEvent,
        CleanupPolicy,
        Group,
        Package,
        PackageFile,
        Principal,
        Project,
    )
    from .protocols import AuthProvider, ChecksReadiness, Dispatcher, ServesDownloads, Storage
    from .routing import flat_layout, gitlab_layout
    from .storage import FileSystemStorage, MemoryStorage
    from .ui import UI, create_ui
    from .website import mount, site
