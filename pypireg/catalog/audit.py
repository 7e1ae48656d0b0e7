"""The audit log: one row per change, kept for as long as the catalog."""

from __future__ import annotations

import logging
from typing import Any

from ..models import Actor, AuditEvent
from .base import CatalogBase, load_json, utcnow
from .namespaces import like_below

PROJECT = "Project"
GROUP = "Group"
INSTANCE = "Gitlab::Audit::InstanceScope"  # GitLab's entity type for the whole instance
events = logging.getLogger("pypireg.events")


class AuditQueries(CatalogBase):
    def record_event(
        self, actor: Actor, event_name: str, *, entity_type: str, entity_id: int | None,
        entity_path: str, target_type: str | None = None, target_id: str | int | None = None,
        target_details: str | None = None, details: dict[str, Any] | None = None,
    ) -> None:
        """Record one change; call it inside the change's own ``write()``, so that the
        change and its row commit together."""
        with self.write():
            self.insert("audit_events", {
                "id": self.next_id("audit_events"), "created_at": utcnow(),
                "event_name": event_name,
                "author_id": actor.token_id, "author_name": actor.name,
                "author_class": _author_class(actor), "ip_address": actor.address,
                "entity_type": entity_type, "entity_id": entity_id,
                "entity_path": entity_path, "target_type": target_type,
                "target_id": None if target_id is None else str(target_id),
                "target_details": target_details,
                "details": _with_publishing(actor, details, entity_path),
            })
            if self.event_listener is not None:
                self.event_listener(actor, event_name, entity_type=entity_type,
                                    entity_id=entity_id, entity_path=entity_path,
                                    target_details=target_details, details=details or {})
        # The same change as a log event (a JSON line with --log-format json); the id of
        # the token that made it, never a secret.
        events.info(event_name, extra={"event": {
            "event": event_name, "entity_type": entity_type, "entity_path": entity_path,
            "target_type": target_type, "target": target_details,
            "token_id": actor.token_id, "author": actor.name}})

    def audit_events(
        self, *, project_ids: list[int] | None = None, paths: list[str] | None = None,
        after: str | None = None, before: str | None = None, limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[AuditEvent], int]:
        """One page of events, newest first, and how many match.

        ``project_ids`` keeps the events in those projects; ``paths`` those in the groups
        or projects at these paths or below them (either, when both are given); neither
        keeps every event. ``after`` and ``before`` are catalog timestamps, inclusive.
        """
        where, params = ["1 = 1"], []
        scopes = []
        if project_ids is not None:
            scopes.append(f"(entity_type = '{PROJECT}' AND {self.in_ids('entity_id')})")
            params.append(self.ids(project_ids))
        for path in paths or []:
            scopes.append(f"(entity_type IN ('{PROJECT}', '{GROUP}') AND"
                          f" ({self.engine.nocase_equals('entity_path')}"
                          f" OR entity_path {self.engine.like} ? ESCAPE '\\'))")
            params += [path, like_below(path)]
        if project_ids is not None or paths is not None:
            where.append("(" + (" OR ".join(scopes) or "0 = 1") + ")")
        if after is not None:
            where.append("created_at >= ?")
            params.append(after)
        if before is not None:
            where.append("created_at <= ?")
            params.append(before)
        condition = " AND ".join(where)
        total = self.value(f"SELECT count(*) FROM audit_events WHERE {condition}", params)
        rows = self.rows(
            f"SELECT * FROM audit_events WHERE {condition} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset])
        return [AuditEvent(**{**row, "details": load_json(row["details"])}) for row in rows], total


_AUTHOR_CLASSES = {"personal": "PersonalAccessToken", "deploy": "DeployToken",
                   "job": "CiJobToken", "publisher": "TrustedPublisherToken", "cli": "Cli",
                   "host": "Host"}


def _author_class(actor: Actor) -> str:
    """GitLab's ``author_class``: the kind of token, or who else made the change."""
    return _AUTHOR_CLASSES.get(actor.kind, "User")


def _with_publishing(actor: Actor, details: dict[str, Any] | None,
                     entity_path: str) -> dict[str, Any]:
    """An event's details, with those of the trusted publishing that minted the token
    which made it, if it was: the claims of the CI run, and the publisher of the event's
    own project (never another project's, which may be private)."""
    if actor.trusted_publishing is None:
        return details or {}
    trusted = dict(actor.trusted_publishing)
    trusted["publishers"] = [found for found in trusted.get("publishers", ())
                             if found.get("project", "").lower() == entity_path.lower()]
    return {**(details or {}), "trusted_publishing": trusted}
