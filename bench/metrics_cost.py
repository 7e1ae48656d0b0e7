"""What the metrics cost: the cached one-file simple page and a file download, served
in-process (no network, so the registry's own time is all there is to measure), with the
registry as shipped (requests counted by endpoint, downloads counted, the storage's
operations timed, a span per request when OpenTelemetry is installed) beside the same
registry with every one of those left out, in one run, interleaved.

    python bench/metrics_cost.py [--seconds 3]

The goal (docs/monitoring.md): at most 5% slower with metrics.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from werkzeug.test import Client

import pypireg
from pypireg.app import mount
from pypireg.health import health_checks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload_memory import build_wheel  # noqa: E402


class Nothing:
    """Metrics that count nothing: every counter, method and label is a no-op."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self


def served(data: Path, *, measured: bool) -> tuple[Client, str, str]:
    registry = pypireg.create_app(data)
    if measured:
        app = pypireg.site(registry, pages=False)
    else:
        registry.metrics = Nothing()  # type: ignore[assignment]
        registry.storage = registry.storage.storage  # type: ignore[attr-defined]
        app = mount(registry, "/api/v4", beside=health_checks(registry))
    client = Client(app)
    page = "/api/v4/projects/acme%2Fbench/packages/pypi/simple/bigpkg/"
    body = client.get(page).get_data(as_text=True)
    href = body.split('href="', 1)[1].split("#", 1)[0].removeprefix("http://localhost")
    return client, page, href


def timed(client: Client, path: str, seconds: float) -> float:
    """Median microseconds of one request, over rounds of 200."""
    rounds = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rounds) < 5:
        started = time.perf_counter()
        for _ in range(200):
            response = client.get(path)
            response.close()
        rounds.append((time.perf_counter() - started) / 200 * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per page and variant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pypireg-bench-metrics-") as tmp:
        data = Path(tmp) / "data"
        registry = pypireg.create_app(data)
        registry.create_group("acme", "public")
        registry.create_project("acme/bench", "public")
        token = registry.create_token("bench", ["acme/bench:write"])
        wheel = build_wheel(Path(tmp), 1)
        Client(mount(registry, "/api/v4")).post(
            "/api/v4/projects/acme%2Fbench/packages/pypi/",
            data={"name": "bigpkg", "version": "1.0",
                  "content": (wheel.open("rb"), wheel.name)},
            headers={"Authorization": "Basic " + __import__("base64").b64encode(
                f"__token__:{token}".encode()).decode()})
        with_metrics = served(data, measured=True)
        without = served(data, measured=False)
        print(f"pypireg {pypireg.__version__}, Python {sys.version.split()[0]}; microseconds"
              " per request, median of rounds of 200, in-process")
        print(f"{'request':<28}{'without metrics':>18}{'with metrics':>16}{'cost':>10}")
        for title, pick in (("cached one-file page", 1), ("file download", 2)):
            plain, measured = [], []
            for _ in range(3):  # interleaved, so a drift of the machine hits both
                plain.append(timed(without[0], without[pick], args.seconds / 3))
                measured.append(timed(with_metrics[0], with_metrics[pick], args.seconds / 3))
            a, b = statistics.median(plain), statistics.median(measured)
            print(f"{title:<28}{a:>18.1f}{b:>16.1f}{(b / a - 1) * 100:>9.1f}%")


if __name__ == "__main__":
    main()
