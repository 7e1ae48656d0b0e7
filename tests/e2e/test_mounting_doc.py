"""docs/mounting.md's shell blocks, as written: each server it starts answers, and the flat
layout's publish-then-install commands work against the server its block starts. Only the
ports (a free one for 8080), the data paths and the tools' paths change."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from ..doc_blocks import block, blocks
from .clients import build, dist_dir
from .live import BIN, client_env, pip_shim, start, stop

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "mounting.md"


def local(line: str) -> list[str]:
    """A block's command line with this machine's tools and a free port."""
    line = line.split("  #", 1)[0]
    words = shlex.split(line)
    tools = {"python": sys.executable, "pypireg": str(BIN / "pypireg"),
             "gunicorn": str(BIN / "gunicorn")}
    words[0] = tools.get(words[0], words[0])
    words = [str(ROOT / w) if w.startswith("examples/") else w for w in words]
    words = [w.replace("127.0.0.1:8080", "127.0.0.1:0") for w in words]
    if "--port" in words:
        words[words.index("--port") + 1] = "0"
    elif words[0].endswith("pypireg"):
        words += ["--port", "0"]
    return words


def get(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def test_the_servers_of_the_page_answer(tmp_path) -> None:
    env = {**client_env(tmp_path), "PYPIREG_DATA": str(tmp_path / "pypireg-data")}
    # The bare WSGI server example.
    serve_py = block(DOC, "sh", "examples/serve.py", "Alone on a WSGI server")
    process, log = start(local(serve_py.strip()), tmp_path, env, "serving ")
    try:
        url = log[-1].split(" at ")[1]
        assert get(url)[0] == 200  # the API's root
    finally:
        stop(process)

    # gunicorn, given the application of the page's first block as wsgi.py.
    (first,) = blocks(DOC, "python")[:1]
    (tmp_path / "wsgi.py").write_text(first.replace("/var/lib/", f"{tmp_path}/"))
    gunicorn = block(DOC, "sh", "gunicorn", "Alone on a WSGI server")
    process, log = start(local(gunicorn.strip()), tmp_path, {**env, "PYTHONPATH": "."},
                         "Listening at: ", stderr=True)
    try:
        root = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log[-1]).group(1)
        assert get(f"{root}/api/v4")[0] == 200
    finally:
        stop(process)

    # pypireg serve with trusted hosts.
    (trusted,) = blocks(DOC, "sh", "Trusted hosts")
    process, log = start(local(trusted.strip()), tmp_path, env, "press Ctrl+C")
    try:
        url = next(line.split(" at ")[1] for line in log if " serving " in line)
        assert get(url, "pypi.example.com")[0] == 200
        assert get(url, "ci.build.example.com")[0] == 200
        status, body = get(url, "attacker.test")
        assert status == 400 and b"is not trusted" in body
    finally:
        stop(process)


def test_the_flat_layout_blocks_publish_and_install(tmp_path) -> None:
    serve, commands = blocks(DOC, "sh", "A flat, pypiserver-style layout")
    env = {**client_env(tmp_path), "PYPIREG_DATA": str(tmp_path / "pypireg-data")}
    process, log = start(local(serve.strip()), tmp_path, env, "press Ctrl+C")
    try:
        assert "created private group team" in log
        url = next(line.split(" at ")[1] for line in log if " serving " in line)
        dist_dir(tmp_path, build(tmp_path / "build", "0.1.0"))
        venv = tmp_path / "app"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        shims = pip_shim(tmp_path / "shims", venv / "bin" / "python")
        script = commands.replace("127.0.0.1:8080", url.removeprefix("http://").rstrip("/"))
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                              env={**env, "PATH": f"{shims}:{BIN}:{os.environ['PATH']}"},
                              capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
    finally:
        stop(process)
    assert done.returncode == 0, done.stdout + done.stderr
    said = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import my_package; print(my_package.hello())"],
                          capture_output=True, text=True, check=True)
    assert said.stdout.strip() == "hello from my-package 0.1.0"
