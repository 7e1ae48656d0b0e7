"""How the pages write versions, sizes and times (Jinja filters and tests)."""

from __future__ import annotations

from datetime import timezone

from ..catalog.names import current_key
from ..times import parse_time


def is_prerelease(version: str) -> bool:
    return not current_key(version)[0]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def short_time(text: str | None) -> str:
    """A catalog stamp (``2026-12-02T08:15:00.000Z``, always UTC) as people read it:
    ``2026-12-02 08:15 UTC``."""
    if not text:
        return ""
    if len(text) == 24 and text[10] == "T" and text.endswith("Z"):  # the catalog's form
        return f"{text[:10]} {text[11:16]} UTC"
    try:
        return parse_time(text).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return text
