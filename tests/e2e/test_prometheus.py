"""A real Prometheus (Debian's, installed by .ci/run) scraping pypireg under gunicorn with
two workers, their counts added up by prometheus_client's multiprocess mode: after known
uploads and downloads, Prometheus' own HTTP API gives the exact counts; a caller that is
neither allowed nor holds the token gets a 404."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ..helpers import basic, missing
from ..upstreams import free_port
from .live import BIN, start, stop, upload_form, writer_token

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
DOWNLOADS = 7
TOKEN = "scrape-secret"


def query(base: str, expression: str) -> float | None:
    """The value of an instant query, or None while Prometheus has no sample."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as answer:
        result = json.load(answer)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def until(base: str, expression: str, wanted: float, within: float = 60) -> float | None:
    """Ask Prometheus again (it scrapes every second) until the query gives ``wanted``,
    for at most ``within`` seconds; the last answer."""
    deadline = time.monotonic() + within
    found = None
    while time.monotonic() < deadline:
        found = query(base, expression)
        if found == wanted:
            break
        time.sleep(0.2)  # polling Prometheus for a condition, with a deadline
    return found


def test_prometheus_scrapes_every_worker(tmp_path: Path) -> None:
    if not os.path.exists(PROMETHEUS):
        missing("prometheus", "apt-get install prometheus (as .ci/run does)")
    data = tmp_path / "data"
    token = writer_token(data, init=True)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = {**os.environ, "PYPIREG_DATA": str(data), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "PYPIREG_METRICS_ALLOW": "192.0.2.1", "PYPIREG_METRICS_TOKEN": TOKEN}
    gunicorn, _ = start([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                         "--no-control-socket", "pypireg.wsgi:application"],
                        tmp_path, env, "Booting worker", stderr=True)
    prometheus = None
    try:
        api = f"http://127.0.0.1:{port}/api/v4/projects/acme%2Ftools/packages/pypi"
        body, kind = upload_form("lib", "1.0")
        urllib.request.urlopen(urllib.request.Request(
            api + "/", data=body, headers={**basic(token), "Content-Type": kind})).close()
        page = urllib.request.urlopen(urllib.request.Request(
            api + "/simple/lib/", headers=basic(token))).read().decode()
        href = page.split('href="', 1)[1].split("#", 1)[0]
        for _ in range(DOWNLOADS):  # a new connection each: both workers serve some
            urllib.request.urlopen(urllib.request.Request(href, headers=basic(token))).read()
        # Neither allowed nor holding the token: as if there were nothing there.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/metrics")
        assert refused.value.code == 404
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n  - job_name: pypireg\n    metrics_path: /-/metrics\n"
            f"    authorization:\n      credentials: {TOKEN}\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        web = free_port()
        prometheus, _ = start([PROMETHEUS, f"--config.file={config}",
                               f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{web}"],
                              tmp_path, dict(os.environ), "Server is ready", stderr=True)
        base = f"http://127.0.0.1:{web}"
        assert until(base, 'sum(pypireg_downloads_total{scope="project"})', DOWNLOADS) \
            == DOWNLOADS
        assert query(base, "sum(pypireg_uploads_total)") == 1
        assert query(base, 'sum(pypireg_http_requests_total{endpoint="pypi.file",'
                           'status="2xx"})') == DOWNLOADS
        assert query(base, "pypireg_packages") == 1
        assert query(base, 'up{job="pypireg"}') == 1
    finally:
        if prometheus is not None:
            stop(prometheus)
        stop(gunicorn)
    assert len(list(metrics_dir.iterdir())) >= 2  # both workers wrote their counts there
