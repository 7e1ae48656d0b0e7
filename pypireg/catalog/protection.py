"""Package protection rules of a project (GitLab's shape); matching is the caller's."""

from __future__ import annotations

from typing import Any

from ..models import ProtectionRule
from .base import CatalogBase, utcnow

_COLUMNS = ("id, project_id, package_name_pattern, package_type,"
            " minimum_access_level_for_push, minimum_access_level_for_delete")


class ProtectionQueries(CatalogBase):
    def protection_rules(self, project_ids: list[int]) -> list[ProtectionRule]:
        """The rules of these projects, oldest first."""
        in_projects, params = self.in_projects("project_id", project_ids)
        return [ProtectionRule(*row) for row in self.tuples(
            f"SELECT {_COLUMNS} FROM protection_rules WHERE {in_projects} ORDER BY id", params)]

    def protection_rule(self, project_id: int, rule_id: int) -> ProtectionRule | None:
        row = self.tuples(f"SELECT {_COLUMNS} FROM protection_rules"
                          " WHERE project_id = ? AND id = ?", [project_id, rule_id])
        return next((ProtectionRule(*r) for r in row), None)

    def add_protection_rule(self, project_id: int, fields: dict[str, Any]) -> ProtectionRule:
        with self.write():
            rule_id = self.next_id("protection_rules")
            self.insert("protection_rules", {"id": rule_id, "project_id": project_id,
                                             **fields, "updated_at": utcnow()})
            self.bump_serial(project_id)  # whether a name may be forwarded upstream
        return self.protection_rule(project_id, rule_id)  # type: ignore[return-value]

    def update_protection_rule(self, rule: ProtectionRule, fields: dict[str, Any]
                               ) -> ProtectionRule:
        with self.write():
            self.update("protection_rules", rule.id, {**fields, "updated_at": utcnow()})
            self.bump_serial(rule.project_id)
        return self.protection_rule(rule.project_id, rule.id)  # type: ignore[return-value]

    def delete_protection_rule(self, rule: ProtectionRule) -> None:
        with self.write():
            self.remember_last_id("protection_rules")
            self.run("DELETE FROM protection_rules WHERE id = ?", [rule.id])
            self.bump_serial(rule.project_id)
