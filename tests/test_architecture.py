"""docs/architecture.md names modules by path: each one exists, so the page moves with the
code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"


def test_every_module_the_page_names_exists() -> None:
    named = set(re.findall(r"`(pypireg/[\w/.]+)`", DOC.read_text()))
    assert len(named) > 20  # the page names modules, and the pattern finds them
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"docs/architecture.md names what is gone: {missing}"


def test_every_package_of_the_code_is_on_the_page() -> None:
    text = DOC.read_text()
    packages = sorted(p.parent.relative_to(ROOT).as_posix() for p in
                      (ROOT / "pypireg").glob("*/__init__.py"))
    absent = [package for package in packages if f"`{package}/" not in text]
    assert not absent, f"docs/architecture.md does not say where {absent} fit"
