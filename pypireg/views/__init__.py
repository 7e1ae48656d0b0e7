"""Views: plain functions ``view(registry, request, **args) -> Response``, by endpoint name
(simple pages answer with a :class:`~pypireg.views.pages.PageResponse`, a lighter WSGI
response)."""

from __future__ import annotations

from collections.abc import Callable

from werkzeug.wrappers import Response

from . import (
               audit,
               cleanup,
               downloads,
               packages,
               protection,
               publishers,
               pypi,
               root,
               stages,
               statuses,
               tokens,
)
from .pages import PageResponse

View = Callable[..., "Response | PageResponse"]

VIEWS: dict[str, View] = {
    "root": root.api_root,
    "pypi.simple_index": pypi.simple_index,
    "pypi.simple_package": pypi.simple_package,
    "pypi.file": pypi.download,
    "pypi.file_metadata": pypi.file_metadata,
    "pypi.file_provenance": pypi.file_provenance,
    "pypi.upload": pypi.upload,
    "pypi.group.simple_index": pypi.group_simple_index,
    "pypi.group.simple_package": pypi.group_simple_package,
    "pypi.group.file": pypi.group_download,
    "pypi.group.file_metadata": pypi.group_file_metadata,
    "pypi.group.file_provenance": pypi.group_file_provenance,
    "api.project_packages": packages.project_packages,
    "api.group_packages": packages.group_packages,
    "api.package": packages.package,
    "api.delete_package": packages.delete_package,
    "api.package_files": packages.package_files,
    "api.delete_package_file": packages.delete_package_file,
    "api.yank": packages.yank,
    "api.unyank": packages.unyank,
    "api.project_downloads": downloads.project_downloads,
    "api.package_downloads": downloads.package_downloads,
    "api.name_status": statuses.name_status,
    "api.set_name_status": statuses.set_name_status,
    "api.protection_rules": protection.list_rules,
    "api.create_protection_rule": protection.create_rule,
    "api.update_protection_rule": protection.update_rule,
    "api.delete_protection_rule": protection.delete_rule,
    "stages.list": stages.list_stages,
    "stages.create": stages.create_stage,
    "stages.get": stages.show_stage,
    "stages.upload": stages.upload,
    "stages.publish": stages.publish,
    "stages.discard": stages.discard,
    "stages.simple_index": stages.simple_index,
    "stages.simple_package": stages.simple_package,
    "stages.file": stages.download,
    "stages.file_metadata": stages.file_metadata,
    "publishers.list": publishers.list_publishers,
    "publishers.create": publishers.create_publisher,
    "publishers.get": publishers.publisher,
    "publishers.delete": publishers.delete_publisher,
    "api.cleanup_policy": cleanup.cleanup_policy,
    "api.update_cleanup_policy": cleanup.update_cleanup_policy,
    "audit.project": audit.project_audit_events,
    "audit.group": audit.group_audit_events,
    "tokens.self": tokens.self_token,
    "tokens.revoke_self": tokens.revoke_self,
    "tokens.rotate_self": tokens.rotate_self,
    "tokens.list": tokens.personal_tokens,
    "tokens.create": tokens.create_personal_token,
    "tokens.revoke": tokens.revoke_personal_token,
    "tokens.rotate": tokens.rotate_personal_token,
    "deploy_tokens.project.list": tokens.project_deploy_tokens,
    "deploy_tokens.project.create": tokens.create_project_deploy_token,
    "deploy_tokens.project.revoke": tokens.revoke_project_deploy_token,
    "deploy_tokens.group.list": tokens.group_deploy_tokens,
    "deploy_tokens.group.create": tokens.create_group_deploy_token,
    "deploy_tokens.group.revoke": tokens.revoke_group_deploy_token,
}
