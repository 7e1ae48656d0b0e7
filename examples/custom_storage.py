"""A storage backend written only against pypireg's documented Storage protocol.

Files live inside one SQLite database, cut into 1 MiB chunks, so a backup of the registry
is two files (catalog and blobs) and large files never sit in memory whole. Reading streams
chunk by chunk. It also implements the optional ListsKeys, so `pypireg gc` can sweep it.

    registry = pypireg.create_app("./data", storage=SQLiteChunkStorage("./data/blobs.db"))
"""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Iterator
from typing import IO

CHUNK = 1024 * 1024


class SQLiteChunkStorage:
    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS chunks ("
                " key TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,"
                " PRIMARY KEY (key, seq))"
            )

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(self.path, timeout=30)
        return conn

    def put_file(self, key: str, path: str) -> None:
        with open(path, "rb") as f:
            self.put_stream(key, f)

    def put_stream(self, key: str, stream: IO[bytes]) -> None:
        # One transaction: readers see the old chunks or all the new ones.
        with self._connection() as conn:
            conn.execute("DELETE FROM chunks WHERE key = ?", (key,))
            seq = 0
            while chunk := stream.read(CHUNK):
                conn.execute("INSERT INTO chunks VALUES (?, ?, ?)", (key, seq, chunk))
                seq += 1
            if seq == 0:
                conn.execute("INSERT INTO chunks VALUES (?, 0, ?)", (key, b""))

    def open(self, key: str) -> IO[bytes]:
        if not self.exists(key):
            raise KeyError(key)
        return io.BufferedReader(_ChunkReader(self._connection(), key), CHUNK)

    def delete(self, key: str) -> None:
        with self._connection() as conn:
            conn.execute("DELETE FROM chunks WHERE key = ?", (key,))

    def exists(self, key: str) -> bool:
        row = self._connection().execute(
            "SELECT 1 FROM chunks WHERE key = ? LIMIT 1", (key,)).fetchone()
        return row is not None

    def keys(self) -> Iterator[str]:
        rows = self._connection().execute("SELECT DISTINCT key FROM chunks ORDER BY key")
        return (key for (key,) in rows.fetchall())


class _ChunkReader(io.RawIOBase):
    """Reads a key's chunks one at a time, in order."""

    def __init__(self, conn: sqlite3.Connection, key: str) -> None:
        self._conn, self._key = conn, key
        self._seq, self._buffer = 0, b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[no-untyped-def]
        if not self._buffer:
            row = self._conn.execute(
                "SELECT data FROM chunks WHERE key = ? AND seq = ?", (self._key, self._seq)
            ).fetchone()
            if row is None:
                return 0
            self._buffer, self._seq = row[0], self._seq + 1
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n
