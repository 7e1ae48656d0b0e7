"""The README's quick start is exactly two commands, and CI runs the second."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the quick start has a sh code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_two_commands_run_then_test() -> None:
    run, test = quick_start()
    assert run.endswith("pypireg serve")
    assert test.endswith("pytest")


def test_ci_runs_the_readme_test_command() -> None:
    _, test = quick_start()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci
