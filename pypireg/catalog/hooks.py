"""Webhooks: the hooks of projects and groups, the queue of their deliveries, and every
attempt at one (pypireg/hooks/ sends them).

A delivery is queued in the write transaction of the change it tells of, so a change that
commits is never without its deliveries, and one that rolls back has none. Processes
claim deliveries for a while (a lease) before sending them, in a write transaction, so
that of several processes and hosts one sends each; a hook's deliveries go one at a time,
oldest first, so a receiver sees a project's changes in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..records import Hook, HookAttempt, HookDelivery
from .base import CatalogBase, load_json

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
_HOOK_COLUMNS = ("id, project_id, group_id, url, secret, events, enabled, created_at,"
                 " failing_since, disabled_reason")
_DELIVERY_COLUMNS = ("id, hook_id, event, webhook_id, body, created_at, status, attempts,"
                     " next_attempt_at, last_status, last_error, delivered_at")


def _hook(row: dict[str, Any]) -> Hook:
    return Hook(**{**row, "events": tuple(load_json(row["events"])),
                   "enabled": bool(row["enabled"])})


class HookQueries(CatalogBase):
    # -- hooks ----------------------------------------------------------------------------

    def add_hook(self, *, project_id: int | None, group_id: int | None, url: str,
                 secret: str, events: Iterable[str], enabled: bool, now: str) -> Hook:
        with self.write():
            row = {"id": self.next_id("hooks"), "project_id": project_id,
                   "group_id": group_id, "url": url, "secret": secret,
                   "events": list(events), "enabled": int(enabled), "created_at": now,
                   "failing_since": None, "disabled_reason": None}
            self.insert("hooks", row)
        return _hook(row)

    def hook(self, hook_id: int) -> Hook | None:
        row = self.row(f"SELECT {_HOOK_COLUMNS} FROM hooks WHERE id = ?", [hook_id])
        return _hook(row) if row else None

    def hooks_of(self, *, project_id: int | None = None, group_id: int | None = None
                 ) -> list[Hook]:
        """The hooks set on one project, or on one group (not those it inherits)."""
        column, value = ("project_id", project_id) if project_id is not None else (
            "group_id", group_id)
        return [_hook(row) for row in self.rows(
            f"SELECT {_HOOK_COLUMNS} FROM hooks WHERE {column} = ? ORDER BY id", [value])]

    def hooks_for(self, project_id: int, group_paths: Iterable[str]) -> list[Hook]:
        """The enabled hooks a project's changes go to: its own and those of the live
        groups at ``group_paths`` (those above it), in one statement."""
        paths = list(group_paths)
        where, params = "project_id = ?", list[Any]([project_id])
        if paths:
            marks = ", ".join("?" * len(paths))
            where += (" OR group_id IN (SELECT id FROM groups WHERE deleted_at IS NULL"
                      f" AND path IN ({marks}))")
            params += paths
        return [_hook(row) for row in self.rows(
            f"SELECT {_HOOK_COLUMNS} FROM hooks WHERE enabled = 1 AND ({where}) ORDER BY id",
            params)]

    def update_hook(self, hook_id: int, fields: dict[str, Any]) -> Hook:
        with self.write():
            self.update("hooks", hook_id, fields)
            return self.hook(hook_id)  # type: ignore[return-value]

    def delete_hook(self, hook_id: int) -> None:
        with self.write():
            for table in ("hooks", "hook_deliveries", "hook_attempts"):
                self.remember_last_id(table)
            self.run("DELETE FROM hook_attempts WHERE delivery_id IN"
                     " (SELECT id FROM hook_deliveries WHERE hook_id = ?)", [hook_id])
            self.run("DELETE FROM hook_deliveries WHERE hook_id = ?", [hook_id])
            self.run("DELETE FROM hooks WHERE id = ?", [hook_id])

    # -- deliveries -----------------------------------------------------------------------

    def queue_delivery(self, hook_id: int, *, event: str, webhook_id: str, body: str,
                       now: str, status: str = PENDING) -> int:
        """Queue one delivery (call inside the change's ``write()``); returns its id."""
        with self.write():
            delivery = self.next_id("hook_deliveries")
            self.insert("hook_deliveries", {
                "id": delivery, "hook_id": hook_id, "event": event, "webhook_id": webhook_id,
                "body": body, "created_at": now, "status": status, "attempts": 0,
                "next_attempt_at": now, "claimed_until": None, "claimed_by": None,
                "last_status": None, "last_error": None, "delivered_at": None})
        return delivery

    def delivery(self, delivery_id: int) -> HookDelivery | None:
        row = self.row(f"SELECT {_DELIVERY_COLUMNS} FROM hook_deliveries WHERE id = ?",
                       [delivery_id])
        return HookDelivery(**row) if row else None

    def claim_deliveries(self, now: str, lease_until: str, claimant: str, limit: int
                         ) -> list[tuple[HookDelivery, Hook]]:
        """Claim up to ``limit`` deliveries that are due, each the oldest pending one of
        its hook (a hook's receiver gets them in order), unclaimed or past its lease."""
        with self.write():
            rows = self.rows(
                f"SELECT {', '.join('d.' + c.strip() for c in _DELIVERY_COLUMNS.split(','))}"
                " FROM hook_deliveries d JOIN hooks h ON h.id = d.hook_id"
                " WHERE d.status = ? AND h.enabled = 1 AND d.next_attempt_at <= ?"
                " AND (d.claimed_until IS NULL OR d.claimed_until < ?)"
                " AND d.id = (SELECT min(o.id) FROM hook_deliveries o"
                " WHERE o.hook_id = d.hook_id AND o.status = ?)"
                " ORDER BY d.id LIMIT ?", [PENDING, now, now, PENDING, limit])
            claimed = []
            for row in rows:
                self.run("UPDATE hook_deliveries SET claimed_until = ?, claimed_by = ?"
                         " WHERE id = ?", [lease_until, claimant, row["id"]])
                claimed.append((HookDelivery(**row), self.hook(row["hook_id"])))
        return claimed  # type: ignore[return-value]

    def next_due(self) -> str | None:
        """When the next delivery may be sent (None: nothing is pending): the earliest
        time a hook's oldest pending delivery is due, and not claimed by a sender."""
        return self.value(
            "SELECT min(CASE WHEN d.claimed_until > d.next_attempt_at THEN d.claimed_until"
            " ELSE d.next_attempt_at END) FROM hook_deliveries d JOIN hooks h"
            " ON h.id = d.hook_id WHERE d.status = ? AND h.enabled = 1"
            " AND d.id = (SELECT min(o.id) FROM hook_deliveries o"
            " WHERE o.hook_id = d.hook_id AND o.status = ?)", [PENDING, PENDING])

    def record_attempt(self, delivery: HookDelivery, *, now: str, status_code: int | None,
                       error: str | None, duration_ms: int, outcome: str,
                       next_attempt_at: str | None, claimant: str | None) -> bool:
        """One attempt and what it left the delivery as: delivered, failed (given up), or
        pending until ``next_attempt_at``; only by the sender whose claim it still is
        (``claimant``; None: a test's, never claimed). Returns whether it was recorded."""
        with self.write():
            claim = "claimed_by IS NULL" if claimant is None else "claimed_by = ?"
            changed = self.run(
                "UPDATE hook_deliveries SET status = ?, attempts = attempts + 1,"
                " last_status = ?, last_error = ?, next_attempt_at = ?,"
                " delivered_at = ?, claimed_until = NULL, claimed_by = NULL"
                f" WHERE id = ? AND {claim}",
                [outcome, status_code, error, next_attempt_at or now,
                 now if outcome == DELIVERED else None, delivery.id,
                 *([] if claimant is None else [claimant])])
            if changed:
                self.insert("hook_attempts", {
                    "id": self.next_id("hook_attempts"), "delivery_id": delivery.id,
                    "attempted_at": now, "status_code": status_code, "error": error,
                    "duration_ms": duration_ms})
        return bool(changed)

    def fail_pending(self, hook_id: int, why: str) -> int:
        """Give up every pending delivery of a hook (it was disabled)."""
        with self.write():
            return self.run("UPDATE hook_deliveries SET status = ?, last_error = ?,"
                            " claimed_until = NULL WHERE hook_id = ? AND status = ?",
                            [FAILED, why, hook_id, PENDING])

    def deliveries(self, hook_id: int, *, limit: int, offset: int
                   ) -> tuple[list[HookDelivery], int]:
        """A hook's deliveries, newest first, and how many it has."""
        total = self.value("SELECT count(*) FROM hook_deliveries WHERE hook_id = ?", [hook_id])
        rows = self.rows(f"SELECT {_DELIVERY_COLUMNS} FROM hook_deliveries WHERE hook_id = ?"
                         " ORDER BY id DESC LIMIT ? OFFSET ?", [hook_id, limit, offset])
        return [HookDelivery(**row) for row in rows], int(total)

    def attempts(self, delivery_ids: Iterable[int]) -> dict[int, list[HookAttempt]]:
        ids = list(delivery_ids)
        found: dict[int, list[HookAttempt]] = {i: [] for i in ids}
        if ids:
            for row in self.rows(
                    "SELECT delivery_id, attempted_at, status_code, error, duration_ms"
                    f" FROM hook_attempts WHERE {self.in_ids('delivery_id')} ORDER BY id",
                    [self.ids(ids)]):
                found[row["delivery_id"]].append(HookAttempt(**row))
        return found

    def forget_deliveries(self, older_than: str) -> int:
        """Drop deliveries that ended (delivered or given up) before ``older_than``."""
        with self.write():
            self.remember_last_id("hook_deliveries")
            self.remember_last_id("hook_attempts")
            self.run("DELETE FROM hook_attempts WHERE delivery_id IN (SELECT id FROM"
                     " hook_deliveries WHERE status != ? AND created_at < ?)",
                     [PENDING, older_than])
            return self.run("DELETE FROM hook_deliveries WHERE status != ? AND created_at < ?",
                            [PENDING, older_than])
