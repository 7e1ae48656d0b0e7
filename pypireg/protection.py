"""Protected packages, as GitLab has them: a project's rules name packages (by a pattern
with ``*`` wildcards, matched on normalized names) that only callers of a minimum access
level may push or delete, and that deploy tokens may never push. The rules are kept and
matched here; whether a caller holds the level a rule asks is decided in access.py, with
GitLab's levels.

The CLI and a host's own calls (:data:`~pypireg.models.HOST`) act as administrators.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import access
from .catalog import PROJECT, CatalogError
from .defaults import DELETE_LEVELS, PUSH_LEVELS
from .dists import normalize
from .exceptions import PypiregError
from .models import HOST, Actor, Project, ProtectionRule

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from .app import Registry
    from .catalog import Catalog

LEVELS = access.LEVELS  # lowest first
PACKAGE_TYPES = ("pypi",)
MAX_PATTERN = 255
_PATTERN = re.compile(r"[A-Za-z0-9._*-]+")
FIELDS = ("package_name_pattern", "package_type", "minimum_access_level_for_push",
          "minimum_access_level_for_delete")


class InvalidRule(PypiregError, ValueError):
    """A rule's field is missing or has a value GitLab would refuse; the message says
    which. ``conflict`` marks what GitLab answers with 422 (a duplicate pattern, or a rule
    that restricts nothing) rather than 400."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def matches(pattern: str, normalized_name: str) -> bool:
    """Whether a (normalized) pattern names a normalized package name: ``*`` is any run
    of characters, everything else stands for itself."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, normalized_name) is not None


def normal_pattern(pattern: str) -> str:
    """A pattern as names are normalized (``My_Pkg*`` -> ``my-pkg*``)."""
    return "*".join(normalize(part) if part else "" for part in pattern.split("*"))


def check_fields(fields: dict[str, Any], current: ProtectionRule | None) -> dict[str, Any]:
    """The rule's stored fields from the given ones (all of them for a new rule), each
    checked as GitLab checks it; raises :class:`InvalidRule`."""
    checked: dict[str, Any] = {} if current is None else {
        name: getattr(current, name) for name in FIELDS}
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidRule(f"{unknown[0]} is not a field of a rule: give {', '.join(FIELDS)}")
    for name in ("package_name_pattern", "package_type"):
        if current is None and fields.get(name) in (None, ""):
            raise InvalidRule(f"{name} is missing")
    if "package_name_pattern" in fields:
        pattern = fields["package_name_pattern"]
        if (not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern)
                or len(pattern) > MAX_PATTERN or not pattern.strip("*")):
            raise InvalidRule(
                f"package_name_pattern is invalid: at most {MAX_PATTERN} letters, digits,"
                " '.', '-', '_' and '*' wildcards, with at least one character besides '*'")
        checked["package_name_pattern"] = normal_pattern(pattern)
    if "package_type" in fields:
        if fields["package_type"] not in PACKAGE_TYPES:
            raise InvalidRule("package_type does not have a valid value: this registry holds"
                              f" {', '.join(PACKAGE_TYPES)} packages")
        checked["package_type"] = fields["package_type"]
    for name, allowed in (("minimum_access_level_for_push", PUSH_LEVELS),
                          ("minimum_access_level_for_delete", DELETE_LEVELS)):
        if name in fields:
            value = fields[name] or None
            if value is not None and value not in allowed:
                raise InvalidRule(f"{name} does not have a valid value: give one of"
                                  f" {', '.join(allowed)}, or null")
            checked[name] = value
    if not (checked.get("minimum_access_level_for_push")
            or checked.get("minimum_access_level_for_delete")):
        raise InvalidRule("a rule must set minimum_access_level_for_push or"
                          " minimum_access_level_for_delete", conflict=True)
    return checked


def rule_json(rule: ProtectionRule) -> dict[str, Any]:
    return rule._asdict()


# -- enforcement ---------------------------------------------------------------------------


def check_push(registry: Registry, request: Request, project: Project,
               normalized_name: str) -> None:
    """Refuse (403, naming the rule) a push of a protected name by a caller below the
    rule's level, or by any deploy token."""
    _check(registry, request, project, normalized_name, "push")


def check_delete(registry: Registry, request: Request, project: Project,
                 normalized_name: str) -> None:
    _check(registry, request, project, normalized_name, "delete")


def protects(catalog: Catalog, project_ids: list[int], normalized_name: str) -> bool:
    """Whether a rule of these projects names the package, for any action."""
    return any(matches(rule.package_name_pattern, normalized_name)
               for rule in catalog.protection_rules(project_ids))


def _check(registry: Registry, request: Request, project: Project, normalized_name: str,
           action: str) -> None:
    column = f"minimum_access_level_for_{action}"
    rules = [rule for rule in registry.catalog.protection_rules([project.id])
             if getattr(rule, column) and matches(rule.package_name_pattern, normalized_name)]
    if not rules:
        return
    strictest = max(rules, key=lambda rule: LEVELS.index(getattr(rule, column)))
    needed = getattr(strictest, column)
    named = (f"Package protected: {normalized_name} matches protection rule {strictest.id}"
             f" ({strictest.package_name_pattern!r}) of {project.path}")
    access.require_level(registry, request, project, needed, action, why=named)


# -- administration (methods of Registry) --------------------------------------------------


class ProtectionRules:
    """A project's protection rules, changed and audited in one place for the HTTP API,
    the CLI and a host's code."""

    catalog: Catalog

    def protection_rules(self, project: Project) -> list[ProtectionRule]:
        return self.catalog.protection_rules([project.id])

    def add_protection_rule(self, project: Project, *, actor: Actor = HOST,
                            **fields: Any) -> ProtectionRule:
        """A new rule from GitLab's fields (:data:`FIELDS`); raises :class:`InvalidRule`
        with the reason for a bad or duplicate one."""
        with self.catalog.write():
            checked = check_fields(fields, None)
            self._refuse_duplicate(project, checked, None)
            rule = self.catalog.add_protection_rule(project.id, checked)
            self._record_rule(actor, "package_protection_rule_created", project, rule)
        return rule

    def update_protection_rule(self, project: Project, rule_id: int, *, actor: Actor = HOST,
                               **fields: Any) -> ProtectionRule:
        """Change the named fields of a rule; raises :class:`CatalogError` for a rule the
        project does not have, :class:`InvalidRule` for a bad value."""
        with self.catalog.write():
            rule = self._rule(project, rule_id)
            checked = check_fields(fields, rule)
            self._refuse_duplicate(project, checked, rule)
            updated = self.catalog.update_protection_rule(rule, checked)
            if updated != rule:
                self._record_rule(actor, "package_protection_rule_updated", project, updated)
        return updated

    def remove_protection_rule(self, project: Project, rule_id: int, *,
                               actor: Actor = HOST) -> ProtectionRule:
        with self.catalog.write():
            rule = self._rule(project, rule_id)
            self.catalog.delete_protection_rule(rule)
            self._record_rule(actor, "package_protection_rule_deleted", project, rule)
        return rule

    def _rule(self, project: Project, rule_id: int) -> ProtectionRule:
        rule = self.catalog.protection_rule(project.id, rule_id)
        if rule is None:
            raise CatalogError(f"no protection rule {rule_id} in {project.path}")
        return rule

    def _refuse_duplicate(self, project: Project, checked: dict[str, Any],
                          current: ProtectionRule | None) -> None:
        for other in self.catalog.protection_rules([project.id]):
            if (other != current and other.package_type == checked["package_type"]
                    and other.package_name_pattern == checked["package_name_pattern"]):
                raise InvalidRule(f"package_name_pattern {other.package_name_pattern!r} has"
                                  f" already been taken (rule {other.id})", conflict=True)

    def _record_rule(self, actor: Actor, event: str, project: Project,
                     rule: ProtectionRule) -> None:
        self.catalog.record_event(
            actor, event, entity_type=PROJECT, entity_id=project.id, entity_path=project.path,
            target_type="PackageProtectionRule", target_id=rule.id,
            target_details=rule.package_name_pattern, details=rule_json(rule))
