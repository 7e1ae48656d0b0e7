"""The fenced code blocks of the docs, read the one way every test that runs them reads
them: the pages are tested by running their own blocks, so a page and its test cannot
drift apart. Also the examples of docs/protocols.md, which several tests run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = ROOT / "docs" / "protocols.md"


def fenced(text: str, lang: str = "sh") -> list[str]:
    """The bodies of the ```` ```lang ```` blocks in ``text``, in order."""
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def section(doc: Path, title: str) -> str:
    """The ``## title`` section of ``doc``, up to the next ``## `` heading."""
    text = doc.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def blocks(doc: Path, lang: str = "sh", within: str | None = None) -> list[str]:
    """The ``lang`` blocks of ``doc``, or of its section ``within``."""
    return fenced(section(doc, within) if within else doc.read_text(), lang)


def block(doc: Path, lang: str, marker: str, within: str | None = None) -> str:
    """The one ``lang`` block of ``doc`` (or of its section ``within``) that holds
    ``marker``."""
    found = [b for b in blocks(doc, lang, within) if marker in b]
    where = f"{doc.name}, {within}" if within else doc.name
    assert len(found) == 1, f"{len(found)} {lang} blocks with {marker!r} in {where}"
    return found[0]


def example_code(marker: str, kind: str = "python") -> str:
    """The ``kind`` block of docs/protocols.md that contains ``marker``."""
    return block(PROTOCOLS, kind, marker)


def example(marker: str, tmp_path: Path) -> dict:
    """Run the python block of docs/protocols.md that contains ``marker``, with its paths
    under ``tmp_path``; return its names."""
    namespace: dict = {}
    exec(example_code(marker).replace("/var/lib/", f"{tmp_path}/"), namespace)  # noqa: S102
    return namespace
