"""docs/quickstart.md runs as written: its shell blocks, in order, against ``pypireg serve``.

The blocks run in a plain ``bash`` (no activated virtual environment). Only what a test
must change is changed: the tools in ``.venv/bin/`` are this environment's (already
installed, so nothing is downloaded), the server listens on a free port instead of 8080,
and new environments are made from this interpreter. Every proxy variable points at a
listener that counts connections, so anything that tried the internet fails the test.
"""

from __future__ import annotations

import hashlib
import io
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from .doc_blocks import fenced
from .e2e.clients import Tripwire
from .e2e.live import client_env, start, stop
from .upstreams import FakeIndex
from .upstreams import serve as serve_index

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "quickstart.md"
BIN = Path(sys.executable).parent
# Tools that live in a virtual environment: a block must call them by a path.
VENV_TOOLS = {"pip", "pip3", "python", "twine", "uv", "pypireg", "gunicorn", "pyproject-build"}


def walkthrough() -> list[str]:
    """The shell blocks of the numbered sections (``## 1. Install`` ...), in order."""
    sections = re.split(r"^## ", DOC.read_text(), flags=re.M)[1:]
    return [block for section in sections if re.match(r"\d+\. ", section)
            for block in fenced(section)]


def commands(block: str) -> list[str]:
    """The command lines of a block: no comments, no continuation lines, no here-documents."""
    lines, heredoc, continued = [], None, False
    for line in block.splitlines():
        if heredoc is not None:
            if line == heredoc:
                heredoc = None
            continue
        if not continued and line.strip() and not line.startswith("#"):
            lines.append(line)
        continued = line.endswith("\\")
        if match := re.search(r"<<'?(\w+)'?", line):
            heredoc = match.group(1)
    return lines


def expected_output(block: str) -> list[str]:
    """The ``# ...`` lines of a block: what the commands above them print."""
    return [line[2:] for line in block.splitlines() if line.startswith("# ")]


def test_no_block_needs_an_activated_environment() -> None:
    for block in fenced(DOC.read_text()):
        for line in commands(block):
            for part in re.split(r"&&|\|\||;|\||\$\(", line):
                words = part.split()
                while words and "=" in words[0]:  # VAR=value before the command
                    words.pop(0)
                assert not words or words[0] not in VENV_TOOLS, (
                    f"{line!r} calls {words[0]} from PATH: write .venv/bin/{words[0]}")


def test_the_install_step_installs_every_tool_the_steps_use() -> None:
    install, *rest = walkthrough()
    assert install.startswith("python3 -m venv .venv\n")
    (pip_line,) = [line for line in commands(install) if ".venv/bin/pip install" in line]
    installed = set(shlex.split(pip_line)[2:])
    assert {"-e", "."} <= installed
    used = set(re.findall(r"\.venv/bin/([\w-]+)", "".join(rest)))
    used |= set(re.findall(r"\.venv/bin/python -m (\w+)", "".join(rest)))
    used -= {"python", "pypireg"}  # the interpreter itself, and pypireg from "-e ."
    named = {re.split(r"[<>=!~ ]", name)[0] for name in installed}
    assert used and used <= named, f"used {used}, installed {named}"


def public_index() -> FakeIndex:
    """The public index, as far as the quick start needs it: six 1.17.0, a real wheel."""
    module = b'__version__ = "1.17.0"\n'
    metadata = b"Metadata-Version: 2.1\nName: six\nVersion: 1.17.0\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr("six.py", module)
        wheel.writestr("six-1.17.0.dist-info/METADATA", metadata)
        wheel.writestr("six-1.17.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                       "Root-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n")
        wheel.writestr("six-1.17.0.dist-info/RECORD", "")
    data = buffer.getvalue()
    index = FakeIndex()
    index.files["/packages/six-1.17.0-py2.py3-none-any.whl"] = data
    index.json_page("six", [{"filename": "six-1.17.0-py2.py3-none-any.whl",
                             "url": "/packages/six-1.17.0-py2.py3-none-any.whl",
                             "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                             "requires-python": ">=2.7"}])
    return index


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the quick start's last step runs curl, which is not installed")
    install, serve, *steps = walkthrough()
    assert serve.strip() == (".venv/bin/pypireg serve --upstream https://pypi.org/simple/"
                             " --upstream-mode cache")

    env = client_env(tmp_path)
    env["UV_PYTHON"] = sys.executable  # the interpreter `uv venv` picks, as PATH would
    tripwire = Tripwire()  # every proxy variable points at it: nothing may go out
    env.update(tripwire.env)
    index = public_index()

    with serve_index(index) as upstream:
        def here(text: str) -> str:
            return text.replace(".venv/bin/", f"{BIN}/").replace(
                "python3 -m venv", f"{sys.executable} -m venv").replace(
                "https://pypi.org/simple/", f"{upstream.url}/simple/")

        result, banner = _walk(here(serve), steps, here, tmp_path, env, tripwire)
    assert tripwire.hits == 0, "a command tried to reach the internet"
    assert upstream.count("/simple/six/") >= 2  # the cache's fetch, and step 8's pip
    assert index.asked.is_set()  # the wheel came from the public index, once cached
    _check(result, banner, steps, tmp_path, env)


def _walk(serve: str, steps: list[str], here, tmp_path: Path,  # type: ignore[no-untyped-def]
          env: dict[str, str], tripwire: Tripwire
          ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    process, banner = start(shlex.split(serve) + ["--port", "0"], tmp_path, env,
                            "press Ctrl+C")
    try:
        assert any("created an empty registry" in line for line in banner)
        url = next(line.split(" at ")[1] for line in banner if " serving " in line)
        port = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/api/v4", url).group(1)
        script = here("\n".join(steps)).replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        assert ":8080" not in script
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=600,
                                stdin=subprocess.DEVNULL)
    finally:
        stop(process)
        tripwire.close()
    return result, banner


def _check(result: subprocess.CompletedProcess[str], banner: list[str], steps: list[str],
           tmp_path: Path, env: dict[str, str]) -> None:
    assert result.returncode == 0, f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert "  upstreams:    a cache of " in "\n".join(banner)
    out = result.stdout.splitlines()
    # installed by pip, then by uv, then by pip with the public index beside
    assert out.count("hello from my-package, with six 1.17.0") == 3
    assert "401" in out  # anonymous access to the private project
    for expected in (line for step in steps for line in expected_output(step)):
        # A line as printed, or names `ls` prints one a line when it is not on a terminal.
        assert expected in out or set(expected.split()) <= set(out), (
            f"the doc shows {expected!r}, which the commands did not print")

    # What the steps made: a private project holding the wheel and the sdist.
    show = subprocess.run([str(BIN / "pypireg"), "project", "show", "acme/tools", "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert '"visibility": "private"' in show.stdout
    assert re.search(r'"files": 2\b', show.stdout), show.stdout
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [
        "my_package-0.1.0-py3-none-any.whl", "my_package-0.1.0.tar.gz"]


def test_the_production_command_serves_the_quickstart_registry(tmp_path: Path) -> None:
    """"Running it for real": gunicorn on the data directory the walk-through made."""
    section = DOC.read_text().split("## Running it for real", 1)[1]
    (block,) = fenced(section)
    install, command = commands(block)
    assert install == ".venv/bin/pip install -e '.[server]'"  # the test extra has it too
    data = tmp_path / "pypireg-data"
    cli = str(BIN / "pypireg")
    subprocess.run([cli, "init", "--data", str(data)], check=True, capture_output=True)
    subprocess.run([cli, "project", "create", "tools", "--data", str(data)], check=True,
                   capture_output=True)
    token = subprocess.run([cli, "token", "create", "ci", "--grant", "tools:read", "--data",
                            str(data)], check=True, capture_output=True, text=True
                           ).stdout.splitlines()[-1]

    words = shlex.split(command.replace(".venv/bin/", f"{BIN}/"))
    assignments = dict(word.split("=", 1) for word in words if "=" in word.split("/")[0])
    argv = [word for word in words if "=" not in word.split("/")[0]]
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:8080"
    argv[argv.index("--bind") + 1] = "127.0.0.1:0"
    env = {**client_env(tmp_path), **assignments}
    process, log = start(argv, tmp_path, env, "Listening at: ", stderr=True)
    try:
        root = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log[-1]).group(1)
        index = f"{root}/api/v4/projects/tools/packages/pypi/simple/"
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(index, timeout=30)
        assert anonymous.value.code == 401
        request = urllib.request.Request(index, headers={"PRIVATE-TOKEN": token})
        with urllib.request.urlopen(request, timeout=30) as page:
            assert page.status == 200
            assert "Links for tools" in page.read().decode()
    finally:
        stop(process)
