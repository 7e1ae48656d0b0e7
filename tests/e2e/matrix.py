"""The clients of the client matrix (tests/e2e/test_client_matrix.py): which versions, on
which Python, and where each is found.

The matrix runs offline, like every test, so the clients it needs beyond the test extra are
brought in beforehand from the package index, by running this file (CI's .ci/run does)::

    python3 tests/e2e/matrix.py        # into .clients/, or $PYPIREG_CLIENTS

It downloads the pip wheels (each test bootstraps its pip into a new virtual environment of
the Python that pip version supports) and installs the other older clients into environments
of their own. The interpreters are the machine's: pyenv's 3.6 to 3.13 and Debian's python3,
as this machine's image has them. This file imports only the standard library, so the
machine's python3 (with its pip) runs it before anything else is installed.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = Path(os.environ.get("PYPIREG_CLIENTS") or ROOT / ".clients")
WHEELS = CLIENTS / "wheels"
HOW = "python3 tests/e2e/matrix.py (it needs the package index)"


@dataclass(frozen=True)
class Pip:
    """A pip, and the Python it runs on: a minor version found at run time, or a path."""

    label: str  # the test's id
    spec: str  # the requirement its version satisfies
    python: str
    own: bool = False  # the interpreter's own pip (its venv module installs it), no wheel


# Oldest first. pip asks for JSON pages from 22.2 on, and reads PEP 658 metadata from 22.3
# on: 22.3 to 23.1 under the old name only (which pypireg no longer sends, docs/standards.md),
# 23.2 on under PEP 714's.
PIPS = (
    Pip("20.3.4", "pip==20.3.4", "3.9"),  # the last for Python 2 and 3.5, in old images
    Pip("21.3.1", "pip==21.3.1", "3.6"),  # the last for Python 3.6 (Ubuntu 18.04, RHEL 8)
    Pip("22.0.4", "pip==22.0.4", "3.10"),  # Ubuntu 22.04 ships 22.0.2
    Pip("22.3.1", "pip==22.3.1", "3.7"),  # Python 3.11.0's ensurepip
    Pip("debian-23.0.1", "pip==23.0.1", "/usr/bin/python3.11", own=True),  # Debian 12's
    Pip("23.1.2", "pip==23.1.2", "3.8"),  # the last that reads only the old metadata name
    Pip("24.0", "pip==24.0", "3.12"),  # Ubuntu 24.04's
    Pip("25.x", "pip>=25,<26", "3.11"),
    Pip("newest", "pip", "3.13"),
)


@dataclass(frozen=True)
class Tool:
    """A client: in an environment of its own under ``CLIENTS``, or, without requirements,
    the test extra's, in the tests' own environment."""

    name: str  # the test's id; the command is what comes before the dash
    requirements: tuple[str, ...] = ()

    @property
    def bin(self) -> Path:
        command = self.name.partition("-")[0]
        if not self.requirements:
            return Path(sys.executable).parent / command
        return CLIENTS / self.name / "bin" / command


TOOLS = (
    Tool("uv-0.5.0", ("uv==0.5.0",)),  # the oldest docs/clients.md names
    Tool("uv-newest"),
    # twine 4 reads its own licence through importlib-metadata, which 8.0 no longer allows:
    # a twine 4 that starts has the importlib-metadata of its time.
    Tool("twine-4", ("twine>=4,<5", "importlib-metadata<8")),
    Tool("twine-5", ("twine>=5,<6",)),
    Tool("twine-6.1"),  # the newest that allows --skip-existing for other indexes than PyPI
    Tool("twine-newest", ("twine",)),
    Tool("poetry-1.8", ("poetry>=1.8,<1.9",)),
    Tool("poetry-newest"),
)


def tools(command: str) -> list[Tool]:
    return [t for t in TOOLS if t.name.partition("-")[0] == command]


def find_python(wanted: str) -> Path | None:
    """An interpreter of ``wanted`` ("3.9", or a path): pyenv's, then /usr/bin's and
    /usr/local/bin's, then the PATH's; each is asked its version (a pyenv shim of a
    version not selected fails that)."""
    if wanted.startswith("/"):
        candidates = [wanted]
    else:
        pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
        candidates = sorted(glob.glob(f"{pyenv}/versions/{wanted}.*/bin/python{wanted}"),
                            reverse=True)
        candidates += [f"/usr/bin/python{wanted}", f"/usr/local/bin/python{wanted}"]
        candidates += [found for found in [shutil.which(f"python{wanted}")] if found]
    for candidate in candidates:
        if _reports(candidate, None if wanted.startswith("/") else wanted):
            return Path(candidate)
    return None


def _reports(python: str, version: str | None) -> bool:
    if not os.access(python, os.X_OK):
        return False
    try:
        said = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=60)
    except OSError:
        return False
    return said.returncode == 0 and (version is None or said.stdout.strip() == version)


def pip_wheel(spec: str) -> Path | None:
    """The newest downloaded pip wheel that ``spec`` allows (needs ``packaging``)."""
    from packaging.requirements import Requirement
    from packaging.utils import parse_wheel_filename

    allowed = Requirement(spec).specifier
    found = []
    for wheel in WHEELS.glob("pip-*.whl"):
        _, version, _, _ = parse_wheel_filename(wheel.name)
        if allowed.contains(version, prereleases=False):
            found.append((version, wheel))
    return max(found)[1] if found else None


def provision() -> None:
    """Download every pip wheel and build every tool's environment (again: the newest
    releases may have moved)."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    for pip in PIPS:
        if not pip.own:
            _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                  "--only-binary", ":all:", "--dest", str(WHEELS), pip.spec])
    for each in TOOLS:
        if not each.requirements:
            continue
        where = CLIENTS / each.name
        if not (where / "bin" / "python").exists():
            _run([sys.executable, "-m", "venv", str(where)])
        _run([str(where / "bin" / "python"), "-m", "pip", "install", "--quiet",
              "--upgrade", "--disable-pip-version-check", *each.requirements])
        version = _run([str(each.bin), "--version"], capture=True).strip().splitlines()[0]
        print(f"{each.name}: {re.sub(r'[()]', '', version)}")
    print(f"pip wheels: {', '.join(sorted(w.name for w in WHEELS.glob('pip-*.whl')))}")
    missing = [p.python for p in PIPS if find_python(p.python) is None]
    if missing:
        print(f"interpreters not found (the matrix needs them): {', '.join(missing)}")


def _run(argv: list[str], capture: bool = False) -> str:
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, text=True,
                          stdout=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}")
    return done.stdout or ""


if __name__ == "__main__":
    provision()
