"""Webhooks, as methods of :class:`pypireg.Registry` (docs/webhooks.md).

A hook belongs to a project, or to a group (and so to every project below it). Each change
a hook asked for (:data:`EVENTS`) queues a delivery in the change's own transaction
(:mod:`.events`); a thread of each registry process sends them after the commit, signed as
the Standard Webhooks specification says (:mod:`.signing`), retries them for a day and
records every attempt (:mod:`.deliverer`), and never sends to an address inside this
host's networks unless ``hooks_allow_local`` is set (:mod:`.sender`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..catalog import GROUP, PROJECT, utcnow
from ..exceptions import PypiregError
from ..models import HOST, Actor, Group, Project
from .deliverer import Deliverer, test_body
from .events import EVENTS, TEST
from .sender import check_url
from .signing import new_message_id, new_secret

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..records import Hook, HookAttempt, HookDelivery

__all__ = ["EVENTS", "HookNotFound", "Webhooks", "delivery_json", "hook_json"]


class HookNotFound(PypiregError, LookupError):
    """The project or group has no hook of that id."""


class Webhooks:
    """Add, list, change, remove and test the hooks of projects and groups."""

    catalog: Catalog
    hooks_allow_local: bool
    deliverer: Deliverer

    def add_hook(self, owner: Project | Group, url: str, *, events: Iterable[str] | None = None,
                 enabled: bool = True, actor: Actor = HOST) -> Hook:
        """A new hook of ``owner`` for ``events`` (all of :data:`EVENTS` by default); its
        ``secret`` is shown only now. Raises ``ValueError`` for a URL a hook may not have
        or an event that is not one."""
        chosen = _events(events)
        check_url(url, allow_local=self.hooks_allow_local)
        with self.catalog.write():
            hook = self.catalog.add_hook(
                project_id=owner.id if isinstance(owner, Project) else None,
                group_id=owner.id if isinstance(owner, Group) else None,
                url=url, secret=new_secret(), events=chosen, enabled=enabled, now=utcnow())
            self._record_hook(actor, "hook_created", owner, hook)
        return hook

    def hooks(self, owner: Project | Group) -> list[Hook]:
        """The hooks set on ``owner`` itself, oldest first."""
        if isinstance(owner, Project):
            return self.catalog.hooks_of(project_id=owner.id)
        return self.catalog.hooks_of(group_id=owner.id)

    def hook(self, owner: Project | Group, hook_id: int) -> Hook:
        """One hook of ``owner``; raises :class:`HookNotFound`."""
        found = self.catalog.hook(hook_id)
        mine = found is not None and (
            found.project_id == owner.id if isinstance(owner, Project)
            else found.group_id == owner.id)
        if found is None or not mine:
            raise HookNotFound(f"{owner.path} has no hook {hook_id}")
        return found

    def update_hook(self, owner: Project | Group, hook_id: int, *, url: str | None = None,
                    events: Iterable[str] | None = None, enabled: bool | None = None,
                    actor: Actor = HOST) -> Hook:
        """Change a hook's URL, events or whether it is enabled; enabling a hook that was
        disabled for failing starts it afresh."""
        fields: dict[str, object] = {}
        if url is not None:
            fields["url"] = check_url(url, allow_local=self.hooks_allow_local)
        if events is not None:
            fields["events"] = _events(events)
        if enabled is not None:
            fields["enabled"] = int(enabled)
            if enabled:
                fields.update(failing_since=None, disabled_reason=None)
        with self.catalog.write():
            hook = self.hook(owner, hook_id)
            if fields:
                hook = self.catalog.update_hook(hook.id, fields)
                self._record_hook(actor, "hook_updated", owner, hook)
        if enabled:
            self.deliverer.wake()
        return hook

    def remove_hook(self, owner: Project | Group, hook_id: int, *, actor: Actor = HOST
                    ) -> Hook:
        """Remove a hook, and its deliveries with it."""
        with self.catalog.write():
            hook = self.hook(owner, hook_id)
            self.catalog.delete_hook(hook.id)
            self._record_hook(actor, "hook_deleted", owner, hook)
        return hook

    def test_hook(self, owner: Project | Group, hook_id: int) -> HookDelivery:
        """Send a ``hook.test`` event to the hook now, and return its delivery as it
        went (recorded with the others, never tried again)."""
        hook = self.hook(owner, hook_id)
        kind = "project" if isinstance(owner, Project) else "group"
        body = test_body(hook, {kind: {"id": owner.id, "path": owner.path}})
        delivery_id = self.catalog.queue_delivery(hook.id, event=TEST, body=body,
                                                  webhook_id=new_message_id(), now=utcnow(),
                                                  status="testing")
        delivery = self.catalog.delivery(delivery_id)
        assert delivery is not None  # queued just now
        self.deliverer.attempt(delivery, hook, retry=False)
        return self.catalog.delivery(delivery_id)  # type: ignore[return-value]

    def hook_deliveries(self, owner: Project | Group, hook_id: int, *, limit: int = 20,
                        offset: int = 0) -> tuple[list[HookDelivery], int]:
        """A hook's deliveries, newest first, and how many there are."""
        return self.catalog.deliveries(self.hook(owner, hook_id).id, limit=limit,
                                       offset=offset)

    def hook_attempts(self, deliveries: Iterable[HookDelivery]) -> dict[int, list[HookAttempt]]:
        return self.catalog.attempts(d.id for d in deliveries)

    def _record_hook(self, actor: Actor, event: str, owner: Project | Group, hook: Hook
                     ) -> None:
        self.catalog.record_event(
            actor, event, entity_type=PROJECT if isinstance(owner, Project) else GROUP,
            entity_id=owner.id, entity_path=owner.path, target_type="Hook",
            target_id=hook.id, target_details=shown_url(hook.url),
            details={"url": shown_url(hook.url), "events": list(hook.events),
                     "enabled": hook.enabled})


def shown_url(url: str) -> str:
    """A hook's URL as logs and the audit log show it: its scheme, host and port only (a
    chat service's URL holds its credential in the path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/..."


def _events(events: Iterable[str] | None) -> list[str]:
    if events is None:
        return list(EVENTS)
    chosen = list(dict.fromkeys(events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise ValueError(f"events must be some of {', '.join(EVENTS)}"
                         + (f"; not {', '.join(map(repr, unknown))}" if unknown else ""))
    return chosen


def hook_json(hook: Hook) -> dict[str, Any]:
    """A hook as the API and ``pypireg hook list --json`` show it (never its secret)."""
    return {"id": hook.id, "url": hook.url, "events": list(hook.events),
            "enabled": hook.enabled, "created_at": hook.created_at,
            "project_id": hook.project_id, "group_id": hook.group_id,
            "failing_since": hook.failing_since, "disabled_reason": hook.disabled_reason}


def delivery_json(delivery: HookDelivery, attempts: list[HookAttempt]) -> dict[str, Any]:
    return {"id": delivery.id, "event": delivery.event, "webhook_id": delivery.webhook_id,
            "status": delivery.status, "attempts": delivery.attempts,
            "last_status": delivery.last_status, "last_error": delivery.last_error,
            "created_at": delivery.created_at, "next_attempt_at": (
                delivery.next_attempt_at if delivery.status == "pending" else None),
            "delivered_at": delivery.delivered_at,
            "attempt_log": [{"attempted_at": a.attempted_at, "status_code": a.status_code,
                             "error": a.error, "duration_ms": a.duration_ms}
                            for a in attempts]}
