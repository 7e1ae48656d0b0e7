"""Whole tables out of one catalog and into another (``pypireg migrate``), ids kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from .base import CatalogBase

# Parents before children, so that every foreign key finds its row.
TABLES = ("groups", "projects", "packages", "package_files", "tokens", "audit_events",
          "cleanup_policies", "package_names", "package_details", "name_statuses",
          "protection_rules", "file_provenance", "download_counts", "trusted_publishers")
_KEYS = {"cleanup_policies": "project_id", "package_details": "package_id",
         "file_provenance": "file_id", "download_counts": "key"}
BATCH = 1000


class CopyQueries(CatalogBase):
    def registry_id(self) -> str:
        """A name for this registry that a copy of it remembers, made on first use."""
        with self.write():
            found = self.value("SELECT value FROM meta WHERE key = 'registry_id'")
            if found is None:
                found = uuid.uuid4().hex
                self.upsert("meta", {"key": "registry_id", "value": found}, key="key")
        return str(found)

    def copied_from(self) -> str | None:
        return self.value("SELECT value FROM meta WHERE key = 'copied_from'")

    def is_empty(self) -> bool:
        return not any(self.value(f"SELECT count(*) FROM {table}") for table in TABLES)

    def table_size(self, table: str) -> int:
        return int(self.value(f"SELECT count(*) FROM {table}"))

    def export_rows(self, table: str) -> Iterator[list[dict[str, Any]]]:
        """The table's rows, in batches, in key order."""
        key = _KEYS.get(table, "id")
        last: Any = None
        while True:
            after = "" if last is None else f" WHERE {key} > ?"
            batch = self.rows(f"SELECT * FROM {table}{after} ORDER BY {key} LIMIT {BATCH}",
                              [] if last is None else [last])
            if not batch:
                return
            yield batch
            last = batch[-1][key]

    def import_rows(self, table: str, rows: list[dict[str, Any]], source: str) -> int:
        """Insert the rows this catalog does not hold yet (by key); returns how many."""
        if not rows:
            return 0
        key = _KEYS.get(table, "id")
        columns = list(rows[0])
        marks = ", ".join("?" * len(columns))
        with self.write():
            before = self.table_size(table)
            self.run_many(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                f" ON CONFLICT ({key}) DO NOTHING", [[row[c] for c in columns] for row in rows])
            self.upsert("meta", {"key": "copied_from", "value": source}, key="key")
            return self.table_size(table) - before

    def last_ids(self) -> dict[str, str]:
        """The ids a catalog remembers as given (``next_id`` never gives them again)."""
        return {row["key"]: row["value"] for row in self.rows(
            "SELECT key, value FROM meta WHERE key LIKE 'last_id:%'")}

    def keep_last_ids(self, last_ids: dict[str, str]) -> None:
        with self.write():
            for key, value in last_ids.items():
                self.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
                         " DO UPDATE SET value = excluded.value"
                         " WHERE CAST(excluded.value AS BIGINT) > CAST(meta.value AS BIGINT)",
                         [key, value])
