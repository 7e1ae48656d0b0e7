"""``pypireg serve`` on a bad day, driven by real clients: started on a read-only data
directory, and held by clients that send their requests a byte at a time."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ..conftest import wheel_bytes, wheel_name
from ..disks import read_only
from ..test_read_only import written_before
from .conftest import Clients, serve_command


def test_serve_on_a_read_only_data_directory_installs_and_refuses_uploads(
        tmp_path: Path, clients: Clients) -> None:
    token = written_before(tmp_path / "data")
    with read_only(tmp_path / "data", tmp_path / "mounted") as data, \
            serve_command("--data", str(data)) as (url, banner):
        assert any(" serving " in line for line in banner)
        host = urlsplit(url).netloc
        index = (f"http://__token__:{token}@{host}/api/v4/projects/acme%2Ftools"
                 "/packages/pypi/simple")
        python = clients.new_venv("venv")
        clients.pip_install(python, index, "pkg")
        assert clients.run_python(python, "import pkg; print(pkg.VERSION)") == "1.0"

        wheel = tmp_path / wheel_name("pkg", "2.0")
        wheel.write_bytes(wheel_bytes("pkg", "2.0"))
        refused = clients.twine_upload(f"{url}/projects/acme%2Ftools/packages/pypi", token,
                                       wheel, check=False)
        assert refused.returncode != 0
        said = " ".join((refused.stdout + refused.stderr).split())  # twine wraps lines
        assert "HTTPError: 503" in said
        assert "the registry is read-only: the catalog file is read-only" in said
        with urllib.request.urlopen(url.removesuffix("/api/v4") + "/-/readiness") as answer:
            ready = json.load(answer)
        assert ready["catalog_check"][0]["read_only"] is True
