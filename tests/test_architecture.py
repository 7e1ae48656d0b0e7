"""docs/architecture.md names modules by path: each one exists, so the page moves with the
code. And the tests' own layout: what tests share lives in helper modules, never in a test
module or a conftest.py that another module imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
TESTS = ROOT / "tests"


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


def _test_or_conftest(dotted: str) -> bool:
    return any(part.startswith("test_") or part == "conftest" for part in dotted.split("."))


def imports_of_tests_and_conftests(source: str) -> list[tuple[int, str]]:
    """``(line, module)`` for each import in ``source`` of a test module (``test_*``) or a
    conftest, however it is written: ``from .test_x import y``, ``from . import conftest``,
    ``import tests.test_x``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names
                      if _test_or_conftest(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if _test_or_conftest(module):
                found.append((node.lineno, module))
            else:
                found += [(node.lineno, f"{module}{'' if module.endswith('.') else '.'}"
                           f"{alias.name}") for alias in node.names
                          if _test_or_conftest(alias.name)]
    return found


def test_no_module_of_the_tests_imports_a_test_module_or_a_conftest() -> None:
    """A test module imports helper modules (tests/helpers.py and the others beside it)
    only, and so does every conftest.py and helper module: importing a test module would
    collect its tests twice and tie one test file to another's internals, and a conftest is
    pytest's to load."""
    modules = sorted(TESTS.rglob("*.py"))
    assert TESTS / "conftest.py" in modules and TESTS / "e2e" / "test_serve.py" in modules
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {module}"
                 for path in modules
                 for line, module in imports_of_tests_and_conftests(path.read_text())]
    assert not offenders, "move what these import into a helper module:\n" + "\n".join(
        offenders)
