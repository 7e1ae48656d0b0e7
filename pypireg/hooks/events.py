"""From the audit log's changes to webhook events: each change the catalog records is
told to :class:`HookEvents` inside its own transaction, which queues a delivery for every
enabled hook of the project (and of the groups above it) that asked for that event."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.routing import BuildError
from werkzeug.test import EnvironBuilder

from ..catalog import PROJECT, utcnow
from ..models import groups_above
from .signing import new_message_id

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..models import Actor, Project
    from ..protocols import Dispatcher

# The events a hook may ask for (docs/webhooks.md), and the audit log's changes each is.
EVENTS = ("package.published", "package.deleted", "file.deleted", "package.yanked",
          "package.unyanked", "status.changed", "protection.changed")
TEST = "hook.test"  # what `POST .../hooks/:id/test` sends
_SIMPLE = {"package_deleted": "package.deleted", "package_file_deleted": "file.deleted",
           "package_yanked": "package.yanked", "package_unyanked": "package.unyanked",
           "name_status_changed": "status.changed",
           "package_protection_rule_created": "protection.changed",
           "package_protection_rule_updated": "protection.changed",
           "package_protection_rule_deleted": "protection.changed"}
_TOLD = {*_SIMPLE, "package_published", "stage_published"}  # the changes hooks hear of


class HookEvents:
    """The catalog's ``event_listener``: queues the deliveries of each change (``wake`` is
    called once some are queued, to have them sent soon after the change commits)."""

    def __init__(self, catalog: Catalog, dispatcher: Dispatcher, wake: Callable[[], None]
                 ) -> None:
        self.catalog, self.dispatcher, self.wake = catalog, dispatcher, wake

    def __call__(self, actor: Actor, event_name: str, *, entity_type: str,
                 entity_id: int | None, entity_path: str, target_details: str | None,
                 details: Mapping[str, Any]) -> None:
        if entity_type != PROJECT or entity_id is None or event_name not in _TOLD:
            return
        if event_name == "package_published" and details.get("stage"):
            return  # told once for the whole stage, by its stage_published
        project = self.catalog.project(entity_id)
        if project is None:
            return
        hooks = self.catalog.hooks_for(project.id, groups_above(project.path))
        if not hooks:
            return
        queued = 0
        for kind, data in self._events(actor, event_name, project, target_details, details):
            body = json.dumps({"type": kind, "timestamp": utcnow(), "data": data})
            for hook in hooks:
                if kind in hook.events:
                    self.catalog.queue_delivery(hook.id, event=kind, body=body,
                                                webhook_id=new_message_id(), now=utcnow())
                    queued += 1
        if queued:
            self.wake()

    def _events(self, actor: Actor, event_name: str, project: Project,
                target: str | None, details: Mapping[str, Any]
                ) -> list[tuple[str, dict[str, Any]]]:
        base = {"project": {"id": project.id, "path": project.path},
                "actor": {"name": actor.name, "kind": actor.kind}}
        url = self._file_urls(actor, project)
        if event_name == "package_published":
            return [("package.published", {
                **base, "package": details.get("name"), "version": details.get("version"),
                "files": [{"file_name": target, "sha256": details.get("sha256"),
                           "size": details.get("size"),
                           "url": url(details.get("sha256", ""), target or "")}]})]
        if event_name == "stage_published":
            by_version: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for each in details.get("published", []):
                by_version.setdefault((each["name"], each["version"]), []).append({
                    "file_name": each["file_name"], "sha256": each["sha256"],
                    "size": each["size"], "url": url(each["sha256"], each["file_name"])})
            return [("package.published", {**base, "package": name, "version": version,
                                           "files": files, "stage": target})
                    for (name, version), files in by_version.items()]
        kind = _SIMPLE[event_name]
        data: dict[str, Any] = {**base}
        if kind == "protection.changed":
            data.update(change=event_name.rsplit("_", 1)[1], rule=dict(details))
        elif kind == "status.changed":
            data.update(package=details.get("name"), status=details.get("to"),
                        previous_status=details.get("from"), reason=details.get("reason", ""))
        else:
            data.update(package=details.get("name"), version=details.get("version"))
            if kind == "file.deleted":
                data["files"] = [{"file_name": target, "sha256": details.get("sha256")}]
            elif kind in ("package.yanked", "package.unyanked"):
                data.update(reason=details.get("reason", ""), file_name=details.get(
                    "file_name"), files_changed=details.get("files"))
            elif details.get("reason"):
                data["reason"] = details["reason"]
        return [(kind, data)]

    def _file_urls(self, actor: Actor, project: Project) -> Callable[[str, str], str | None]:
        """A file's download URL, as the caller who made the change reaches the registry
        (None for a change from the command line or a host's code: no URL is known)."""
        base = actor.base_url
        if not base:
            return lambda sha256, file_name: None
        environ = EnvironBuilder(base_url=base).get_environ()
        adapter = self.dispatcher.bind_to_environ(environ)

        def url(sha256: str, file_name: str) -> str | None:
            try:
                return adapter.build("pypi.file", {"project": project.path, "sha256": sha256,
                                                   "filename": file_name},
                                     force_external=True)
            except BuildError:  # a host's layout without downloads
                return None

        return url
