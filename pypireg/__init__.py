"""pypireg: a private Python package registry for any WSGI application."""

from __future__ import annotations

from .app import Registry, create_app, mount
from .auth import Grant, TokenAuth, TokenPrincipal
from .catalog import Catalog, CatalogError
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
from .site import site
from .storage import FileSystemStorage, MemoryStorage
from .ui import UI, create_ui

__version__ = "0.1.0"

__all__ = [
    "Actor", "AuditEvent", "AuthProvider", "Catalog", "CatalogError", "ChecksReadiness",
    "CleanupPolicy", "Dispatcher", "FileSystemStorage", "Grant", "Group", "Limits",
    "MemoryStorage", "Package", "PackageFile", "Principal", "Project", "Registry",
    "ServesDownloads", "Storage", "TokenAuth", "TokenPrincipal", "UI", "create_app",
    "create_ui", "flat_layout", "gitlab_layout", "health_checks", "mount", "site",
]
