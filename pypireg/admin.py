"""What an administrator does to a registry, as methods of :class:`pypireg.Registry`.

The CLI and the HTTP views call these same methods, so every change is checked and
audited in one place. Each takes an ``actor`` (who the audit log names): views pass the
caller, the CLI passes :data:`pypireg.models.CLI`, and a host's own code gets
:data:`pypireg.models.HOST` by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from . import cleanup
from .auth import (
    Grant,
    TokenRecord,
    find_token,
    issue_token,
    list_tokens,
    revoke_token,
    rotate_token,
)
from .auth.tokens import EVERYTHING
from .catalog import GROUP, INSTANCE, PROJECT, CatalogError
from .defaults import DELIVERIES_KEPT, MINTED_TOKENS_KEPT
from .dists import canonical_version, normalize
from .maintenance import STAGING_MAX_AGE, GarbageReport, collect_garbage, release_blobs
from .models import (
    HOST,
    MAX_REASON,
    NAME_STATUS_ORDER,
    Actor,
    AuditEvent,
    CleanupPolicy,
    Group,
    NameStatus,
    Project,
    Removal,
)
from .times import ago
from .upstream.files import SETTLE_ON_EXIT

if TYPE_CHECKING:
    from .catalog import Catalog
    from .limits import Limits
    from .models import Package, PackageFile, Usage, Visibility
    from .protocols import Storage
    from .upstream import Upstreams


class Administration:
    """Namespaces, tokens, packages, the audit log and retention."""

    catalog: Catalog
    storage: Storage
    staging_dir: str
    limits: Limits
    download_stats_days: int
    expire_stages: Callable[..., int]  # pypireg.stages.Staging's, run by gc
    upstreams: Upstreams | None

    # -- namespaces ------------------------------------------------------------------------

    def create_group(self, path: str, visibility: Visibility = "private", *,
                     actor: Actor = HOST) -> Group:
        with self.catalog.write():
            group = self.catalog.create_group(path, visibility)
            self._record(actor, "group_created", group, details={"visibility": visibility})
        return group

    def create_project(self, path: str, visibility: Visibility = "private", *,
                       actor: Actor = HOST) -> Project:
        with self.catalog.write():
            project = self.catalog.create_project(path, visibility)
            self._record(actor, "project_created", project, details={"visibility": visibility})
        return project

    def list_projects(self) -> list[Usage]:
        """Every project with its live packages, files and bytes."""
        return self.catalog.project_usage()

    def list_groups(self) -> list[Usage]:
        """Every group with what the projects below it hold."""
        return self.catalog.group_usage()

    def set_visibility(self, path: str, visibility: Visibility, *,
                       actor: Actor = HOST) -> Group | Project:
        """Make a group or project public or private; refused (:class:`CatalogError`, with
        the reason) where it would be more visible than its parent, or a group would be
        private with public things inside it."""
        with self.catalog.write():
            before = self.catalog.project_by_path(path) or self.catalog.group_by_path(path)
            found = self.catalog.set_visibility(path, visibility)
            if before is not None and before.visibility != visibility:
                self._record(actor, "visibility_changed", found,
                             details={"from": before.visibility, "to": visibility})
        return found

    def delete_namespace(self, path: str, *, force: bool = False,
                         actor: Actor = HOST) -> int:
        """Delete a project, or a group with everything below it; returns how many packages
        went with it. Refused (:class:`CatalogError`) while it holds packages, unless
        ``force``: they are then soft-deleted, and gc frees their files."""
        with self.catalog.write():
            found = self.catalog.project_by_path(path) or self.catalog.group_by_path(path)
            packages = self.catalog.delete_namespace(path, force=force)
            if found is not None:
                kind = "project" if isinstance(found, Project) else "group"
                self._record(actor, f"{kind}_deleted", found, details={"packages": packages})
        return packages

    # -- tokens of the built-in TokenAuth --------------------------------------------------

    def create_token(
        self, name: str, grants: Iterable[Grant | str], kind: str = "personal", *,
        expires_at: str | None = None, actor: Actor = HOST,
    ) -> str:
        """Create a token; returns its secret, shown this once (only a hash is kept).

        ``expires_at`` is a catalog timestamp: :func:`pypireg.auth.expiry` makes one from
        ``30d`` or ``2027-01-31``.
        """
        return self.issue_token(name, grants, kind, expires_at=expires_at, actor=actor)[1]

    def issue_token(
        self, name: str, grants: Iterable[Grant | str], kind: str = "personal", *,
        expires_at: str | None = None, actor: Actor = HOST,
    ) -> tuple[TokenRecord, str]:
        """:meth:`create_token`, returning the token's record with its secret."""
        parsed = [g if isinstance(g, Grant) else Grant.parse(g) for g in grants]
        with self.catalog.write():
            record, secret = issue_token(self.catalog, name, parsed, kind, expires_at)
            self._record_token(actor, "token_created", record)
        return record, secret

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, revoked and expired ones too; never a secret."""
        return list_tokens(self.catalog)

    def revoke_token(self, token_id: int, *, actor: Actor = HOST) -> TokenRecord:
        """Revoke at once: the token reads as bad credentials from the next request on."""
        with self.catalog.write():
            was_active = find_token(self.catalog, token_id).active
            record = revoke_token(self.catalog, token_id)
            if was_active:
                self._record_token(actor, "token_revoked", record)
        return record

    def rotate_token(self, token_id: int, *, expires_at: str | None = None,
                     actor: Actor = HOST) -> tuple[TokenRecord, str]:
        """A new secret (and id) in place of an active token, which is revoked at once."""
        with self.catalog.write():
            record, secret = rotate_token(self.catalog, token_id, expires_at)
            self._record_token(actor, "token_rotated", record,
                               details={"old_token_id": token_id})
        return record, secret

    # -- packages --------------------------------------------------------------------------

    def delete_package(self, package: Package, *, actor: Actor = HOST) -> None:
        """Soft-delete a package (gone from pages at once) and drop blobs nothing else uses."""
        with self.catalog.write():
            keys = self.catalog.destroy_package(package)
            self._record_package(actor, "package_deleted", package)
        release_blobs(self.catalog, self.storage, keys)

    def delete_package_file(self, package: Package, package_file: PackageFile, *,
                            actor: Actor = HOST) -> None:
        with self.catalog.write():
            keys = self.catalog.destroy_file(package, package_file)
            self._record_package(actor, "package_file_deleted", package, package_file)
        release_blobs(self.catalog, self.storage, keys)

    def yank(self, project: str | int, name: str, version: str, *, reason: str = "",
             file_name: str | None = None, actor: Actor = HOST) -> int:
        """Yank a version, or one of its files (PEP 592); returns how many files changed."""
        package = self._live_package(project, name, version)
        return self.set_yanked(package, yanked=True, reason=reason, file_name=file_name,
                               actor=actor)

    def unyank(self, project: str | int, name: str, version: str, *,
               file_name: str | None = None, actor: Actor = HOST) -> int:
        package = self._live_package(project, name, version)
        return self.set_yanked(package, yanked=False, file_name=file_name, actor=actor)

    def set_yanked(self, package: Package, *, yanked: bool, reason: str = "",
                   file_name: str | None = None, actor: Actor = HOST) -> int:
        """Yank or unyank a package's files, or the one named; returns how many changed."""
        if file_name is not None:
            named = self.catalog.live_file_named(package.project_id, file_name)
            if named is None or named.package_id != package.id:
                raise CatalogError(f"no file {file_name!r} in {package.name} {package.version}")
        with self.catalog.write():
            changed = self.catalog.set_yanked(package, yanked=yanked, reason=reason,
                                              file_name=file_name)
            if changed:
                self._record_package(
                    actor, "package_yanked" if yanked else "package_unyanked", package,
                    details={"files": changed, "reason": reason if yanked else "",
                             "file_name": file_name})
        return changed

    def name_status(self, project: Project, name: str) -> NameStatus:
        """A package name's PEP 792 status in the project (``active`` unless set)."""
        return self.catalog.name_status([project.id], normalize(name))

    def set_name_status(self, project: Project, name: str, status: str, *, reason: str = "",
                        actor: Actor = HOST) -> bool:
        """Set a package name's PEP 792 status (one of :data:`NAME_STATUS_ORDER`), with a
        reason shown to clients; returns whether it changed. ``archived`` and
        ``quarantined`` refuse new uploads, ``quarantined`` also withholds the files.
        Raises :class:`CatalogError` for an unknown status, a reason over
        :data:`MAX_REASON` characters, or a name the project has never held."""
        if status not in NAME_STATUS_ORDER:
            raise CatalogError(f"status {status!r} is not one of {', '.join(NAME_STATUS_ORDER)}")
        if len(reason) > MAX_REASON:
            raise CatalogError(f"reason is longer than {MAX_REASON} characters")
        normalized = normalize(name)
        with self.catalog.write():
            if not self.catalog.name_known([project.id], normalized):
                raise CatalogError(f"no package named {name!r} in {project.path}")
            before = self.catalog.set_name_status(project.id, normalized, status, reason)
            if before is not None:
                self._record(actor, "name_status_changed", project, target_type="PackageName",
                             target_id=0, target_details=normalized,
                             details={"name": normalized, "from": before.status, "to": status,
                                      "reason": reason if status != "active" else ""})
        return before is not None

    def _live_package(self, project_ref: str | int, name: str, version: str) -> Package:
        project = self.catalog.project(project_ref)
        if project is None:
            raise CatalogError(f"no project {project_ref!r}")
        package = self.catalog.live_package(project.id, normalize(name),
                                            canonical_version(version))
        if package is None:
            raise CatalogError(f"no version {version} of {name!r} in {project.path}")
        return package

    # -- the audit log ---------------------------------------------------------------------

    def audit_events(
        self, *, project: Project | None = None, group: Group | None = None,
        projects: Iterable[Project] | None = None, path: str | None = None,
        after: str | None = None, before: str | None = None, limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[AuditEvent], int]:
        """One page of the audit log, newest first, and how many events match: all of
        them, or those of one project, of one group (with everything below it), of the
        given ``projects``, or of whatever was ever at ``path`` or below it (deleted
        projects and groups included). ``after`` and ``before`` are catalog timestamps."""
        project_ids = [project.id] if project is not None else (
            [p.id for p in projects] if projects is not None else None)
        paths = [group.path] if group is not None else [path] if path is not None else None
        return self.catalog.audit_events(project_ids=project_ids, paths=paths, after=after,
                                         before=before, limit=limit, offset=offset)

    # -- retention -------------------------------------------------------------------------

    def cleanup_policy(self, project: Project) -> CleanupPolicy:
        return cleanup.policy_from_row(self.catalog.cleanup_policy(project.id))

    def set_cleanup_policy(self, project: Project, *, actor: Actor = HOST,
                           **fields: Any) -> CleanupPolicy:
        """Change the named fields of a project's policy (see :class:`CleanupPolicy`);
        raises :class:`pypireg.cleanup.InvalidPolicy` with the reason for a bad value."""
        with self.catalog.write():
            if self.catalog.project(project.id) is None:
                raise CatalogError(f"project {project.path!r} was deleted")
            current = self.cleanup_policy(project)
            policy = cleanup.make_policy(current, fields)
            changed = {name: value for name, value in policy.__dict__.items()
                       if getattr(current, name) != value}
            if changed:  # an identical PUT changes nothing, and records nothing
                self.catalog.set_cleanup_policy(project.id, policy.__dict__)
                self._record(actor, "cleanup_policy_updated", project, details=changed)
        return policy

    def cleanup(self, project: Project | None = None, *, dry_run: bool = False,
                actor: Actor = HOST) -> list[Removal]:
        """Apply the cleanup policy of one project (or of every project that has one):
        soft-delete what it removes, or with ``dry_run`` only list it. gc frees the files."""
        projects = [project] if project is not None else [
            p for p in map(self.catalog.project, self.catalog.projects_with_cleanup_policies())
            if p is not None]
        removals = [r for p in projects for r in cleanup.plan(
            self.catalog, p, self.cleanup_policy(p))]
        if dry_run:
            return removals
        done = []
        for removal in removals:
            with self.catalog.write():
                package = self.catalog.package(removal.project_id, removal.package_id)
                if package is None:
                    continue  # deleted meanwhile
                self.catalog.destroy_package(package)
                self._record_package(actor, "package_deleted", package,
                                     details={"reason": "cleanup policy"})
                done.append(removal)
        return done

    def collect_garbage(self, staging_max_age: float = STAGING_MAX_AGE, *,
                        actor: Actor = HOST) -> GarbageReport:
        """What ``pypireg gc`` runs: every stored cleanup policy, expired stages
        (:meth:`pypireg.stages.Staging.expire_stages`), then
        :func:`pypireg.maintenance.collect_garbage`."""
        cleaned = self.cleanup(actor=actor)
        stages = self.expire_stages(actor=actor)
        report = collect_garbage(
            self.catalog, self.storage, self.staging_dir, staging_max_age=staging_max_age,
            limits=self.limits,
        )
        report.cleaned = len(cleaned)
        report.stages = stages
        oldest = datetime.now(timezone.utc).date() - timedelta(days=self.download_stats_days - 1)
        report.download_days = self.catalog.forget_downloads(oldest.isoformat())
        report.minted_tokens = self.catalog.forget_minted_tokens(ago(MINTED_TOKENS_KEPT))
        report.hook_deliveries = self.catalog.forget_deliveries(ago(DELIVERIES_KEPT))
        return report

    def purge_upstream_cache(self, name: str | None = None) -> tuple[int, int, int]:
        """What ``pypireg cache purge`` runs: forget the cached upstream pages and files (of
        one package name, or all) and delete their bytes; returns how many pages, files
        and blobs went. The next request fetches them again (docs/proxy.md). What this
        process is storing is stored first (another process's, stored after, is a blob no
        row names: gc sweeps it)."""
        if self.upstreams is not None:
            self.upstreams.files.settle(SETTLE_ON_EXIT)
        pages, files, keys = self.catalog.purge_upstream(normalize(name) if name else None)
        return pages, files, release_blobs(self.catalog, self.storage, keys)

    # -- recording -------------------------------------------------------------------------

    def _record(self, actor: Actor, event: str, entity: Group | Project, *,
                target_type: str | None = None, target_id: int | None = None,
                target_details: str | None = None, details: dict[str, Any] | None = None,
                ) -> None:
        kind = PROJECT if isinstance(entity, Project) else GROUP
        self.catalog.record_event(
            actor, event, entity_type=kind, entity_id=entity.id, entity_path=entity.path,
            target_type=target_type or kind, target_id=entity.id if target_id is None
            else target_id, target_details=target_details or entity.path, details=details)

    def _record_package(self, actor: Actor, event: str, package: Package,
                        package_file: PackageFile | None = None, *,
                        details: dict[str, Any] | None = None) -> None:
        project = self.catalog.project(package.project_id)
        if project is None:
            return
        what = {"name": package.name, "version": package.version, **(details or {})}
        if package_file is not None:
            self._record(actor, event, project, target_type="PackageFile",
                         target_id=package_file.id, target_details=package_file.file_name,
                         details={**what, "sha256": package_file.sha256})
        else:
            self._record(actor, event, project, target_type="Package", target_id=package.id,
                         target_details=f"{package.name} {package.version}", details=what)

    def _record_token(self, actor: Actor, event: str, record: TokenRecord, *,
                      details: dict[str, Any] | None = None) -> None:
        """A token's event belongs to the project or group its grants name, when they name
        exactly one; else to the whole registry."""
        paths = {g.path.lower() for g in record.grants}
        entity = None
        if len(paths) == 1 and EVERYTHING not in paths:
            path = record.grants[0].path
            entity = self.catalog.project_by_path(path) or self.catalog.group_by_path(path)
        what = {"kind": record.kind, "grants": [f"{g.path}:{g.access}" for g in record.grants],
                "expires_at": record.expires_at, **(details or {})}
        if entity is not None:
            self._record(actor, event, entity, target_type="Token", target_id=record.id,
                         target_details=record.name, details=what)
        else:
            self.catalog.record_event(
                actor, event, entity_type=INSTANCE, entity_id=None, entity_path="",
                target_type="Token", target_id=record.id, target_details=record.name,
                details=what)
