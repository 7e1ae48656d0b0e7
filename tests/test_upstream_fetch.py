"""First downloads of an upstream file under concurrency: one upstream fetch, every client
the complete bytes, memory flat, over real HTTP on 127.0.0.1 (docs/proxy.md)."""

from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.client import HTTPConnection, IncompleteRead
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families
from webtest import TestApp

import pypireg
from pypireg import mount
from pypireg.upstream.files import file_key

from .helpers import sha256
from .upstreams import FakeIndex, caching_registry, serve

MiB = 1024 * 1024
CLIENTS = 16
NAME = "big-1.0-py3-none-any.whl"


def big_index(data: bytes, advertised: bytes | None = None) -> FakeIndex:
    index = FakeIndex()
    index.files[f"/files/{NAME}"] = data
    index.json_page("big", [{"filename": NAME, "url": f"/files/{NAME}",
                             "hashes": {"sha256": sha256(advertised or data)}}])
    index.hold = threading.Event()
    return index


def registry(tmp_path, upstream: str) -> pypireg.Registry:  # type: ignore[no-untyped-def]
    return caching_registry(tmp_path / "data", upstream)


def released_when_all_arrived(app, hold: threading.Event, count: int):  # type: ignore[no-untyped-def]
    """``app``, letting the upstream answer only once ``count`` downloads are inside it:
    every one of them is then a first download."""
    arrived = 0
    lock = threading.Lock()

    def counted(environ, start_response):  # type: ignore[no-untyped-def]
        nonlocal arrived
        if "/files/" in environ.get("PATH_INFO", ""):
            with lock:
                arrived += 1
                if arrived == count:
                    hold.set()
        return app(environ, start_response)

    return counted


def download(url: str) -> tuple[int, int, str]:
    """Status, length and sha256 of a download, read 64 KiB at a time (never kept whole).
    An answer cut short of its Content-Length raises IncompleteRead."""
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        digest, size = hashlib.sha256(), 0
        while chunk := response.read(64 * 1024):
            digest.update(chunk)
            size += len(chunk)
        if response.length:  # what the Content-Length promised and never came
            raise IncompleteRead(b"", response.length)
        return response.status, size, digest.hexdigest()
    finally:
        connection.close()


def test_sixteen_first_downloads_fetch_once_and_get_every_byte(tmp_path):
    data = os.urandom(50 * MiB)
    index = big_index(data)
    with serve(index) as upstream:
        app = registry(tmp_path, f"{upstream.url}/simple/")
        served_app = released_when_all_arrived(mount(app, "/api/v4"), index.hold, CLIENTS)
        with serve(served_app, threads=CLIENTS + 2) as proxy:
            page = _page(proxy.url)
            url = f"{proxy.url}{urlsplit(page['files'][0]['url']).path}"
            tracemalloc.start()
            try:
                with ThreadPoolExecutor(CLIENTS) as pool:
                    results = list(pool.map(download, [url] * CLIENTS))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert results == [(200, len(data), sha256(data))] * CLIENTS
            assert upstream.count(f"/files/{NAME}") == 1
            # Less than one file, for 800 MiB sent: a bound per connection (waitress holds
            # 256 KiB for each), not per byte; the clients' own reads are included.
            assert peak < 32 * MiB, f"{peak / MiB:.0f} MiB traced for {CLIENTS} x 50 MiB"
            # Kept (once the answers have ended), and served from storage from now on.
            app.upstreams.files.settle()
            assert app.storage.exists(file_key(sha256(data)))
            assert download(url) == (200, len(data), sha256(data))
            assert upstream.count(f"/files/{NAME}") == 1
            # Every download counts in the statistics, first ones and kept ones alike.
            app.downloads.flush()
            today = datetime.now(timezone.utc).date().isoformat()
            assert app.catalog.upstream_downloads("big", today, today) == CLIENTS + 1
            assert app.catalog.upstream_downloads(None, today, today) == CLIENTS + 1
            assert app.catalog.upstream_downloads("other", today, today) == 0
            app.purge_upstream_cache("big")  # its statistics go with it
            assert app.catalog.upstream_downloads(None, "2000-01-01", "2999-01-01") == 0


def test_two_registries_on_one_catalog_fetch_once(tmp_path):
    """As gunicorn's workers do: the second waits for what the first stores."""
    data = os.urandom(8 * MiB)
    index = big_index(data)
    with serve(index) as upstream:
        first = registry(tmp_path, f"{upstream.url}/simple/")
        second = registry(tmp_path, f"{upstream.url}/simple/")
        assert first.upstreams.files.owner != second.upstreams.files.owner  # type: ignore[union-attr]
        arrived = threading.Semaphore(0)

        def arriving(app):  # type: ignore[no-untyped-def]
            def counted(environ, start_response):  # type: ignore[no-untyped-def]
                if "/files/" in environ.get("PATH_INFO", ""):
                    arrived.release()
                return app(environ, start_response)
            return counted

        with serve(arriving(mount(first, "/api/v4"))) as one, \
                serve(arriving(mount(second, "/api/v4"))) as two:
            path = urlsplit(_page(one.url)["files"][0]["url"]).path
            with ThreadPoolExecutor(4) as pool:
                futures = [pool.submit(download, f"{base}{path}")
                           for base in (one.url, two.url, one.url, two.url)]
                for _ in range(4):
                    assert arrived.acquire(timeout=30)
                index.hold.set()
                results = [f.result() for f in futures]
    assert results == [(200, len(data), sha256(data))] * 4
    assert upstream.count(f"/files/{NAME}") == 1


def test_forged_bytes_cut_every_answer_short(tmp_path):
    honest = os.urandom(4 * MiB)
    forged = honest[:-1] + bytes([honest[-1] ^ 1])
    index = big_index(forged, advertised=honest)
    with serve(index) as upstream:
        app = registry(tmp_path, f"{upstream.url}/simple/")
        with serve(released_when_all_arrived(mount(app, "/api/v4"), index.hold, 4)) as proxy:
            url = f"{proxy.url}{urlsplit(_page(proxy.url)['files'][0]['url']).path}"
            with ThreadPoolExecutor(4) as pool:
                futures = [pool.submit(download, url) for _ in range(4)]
                for future in futures:
                    with pytest.raises(IncompleteRead) as cut:
                        future.result()
                    assert cut.value.expected >= 1  # at least the byte held back
            # Then, for a while, the failure itself, before any byte.
            assert download(url)[0] == 502
    assert not app.storage.exists(file_key(sha256(honest)))
    assert upstream.count(f"/files/{NAME}") == 1


class HeldStorage:
    """A storage whose ``put_file`` waits for ``release`` (then fails, if ``failing``)."""

    def __init__(self, storage: object, failing: bool = False) -> None:
        self.storage, self.failing = storage, failing
        self.storing, self.release = threading.Event(), threading.Event()

    def put_file(self, key: str, path: str) -> None:
        self.storing.set()
        assert self.release.wait(30)
        if self.failing:
            raise OSError(28, "No space left on device")
        self.storage.put_file(key, path)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.storage, name)


@pytest.mark.parametrize("failing", [False, True], ids=["stored", "storing fails"])
def test_a_first_download_ends_once_verified_while_the_file_is_stored(tmp_path, failing):
    """The client waits for neither the disk nor the catalog: its answer ends once the
    bytes match the page's sha256, while the file is stored. A request meanwhile waits
    for the file to be stored and is answered from storage; if storing fails, the answer
    sent stands, nothing is kept, the request meanwhile is told to try again (a 503), and
    the next one fetches the file again: only the upstream's failures are remembered."""
    data = os.urandom(2 * MiB)
    index = big_index(data)
    index.hold.set()
    with serve(index) as upstream:
        app = registry(tmp_path, f"{upstream.url}/simple/")
        files = app.upstreams.files
        held = files.storage = HeldStorage(files.storage, failing)
        with serve(mount(app, "/api/v4")) as proxy, ThreadPoolExecutor(2) as pool:
            url = f"{proxy.url}{urlsplit(_page(proxy.url)['files'][0]['url']).path}"
            assert download(url) == (200, len(data), sha256(data))
            assert held.storing.wait(30)  # the answer ended; storing waits for release
            assert not app.storage.exists(file_key(sha256(data)))
            meanwhile = pool.submit(download, url)
            with pytest.raises(TimeoutError):
                meanwhile.result(timeout=0.5)  # a bound on a wait that must not end
            held.release.set()
            if failing:
                assert meanwhile.result(timeout=30)[0] == 503
                assert download(url) == (200, len(data), sha256(data))  # fetched again
            else:
                assert meanwhile.result(timeout=30) == (200, len(data), sha256(data))
            assert files.settle(30)
            scraped = TestApp(pypireg.site(app)).get(
                "/-/metrics", extra_environ={"REMOTE_ADDR": "127.0.0.1"}).text
        assert app.storage.exists(file_key(sha256(data))) is not failing
        assert upstream.count(f"/files/{NAME}") == (2 if failing else 1)
        counted = {result: sum(
            sample.value for family in text_string_to_metric_families(scraped)
            for sample in family.samples if sample.name == "pypireg_upstream_requests_total"
            and sample.labels == {"kind": "file", "result": result})
            for result in ("fetched", "error", "unkept")}
        assert counted == ({"fetched": 0, "error": 0, "unkept": 2} if failing
                           else {"fetched": 1, "error": 0, "unkept": 0}), counted


def _page(base: str) -> dict:  # type: ignore[type-arg]
    import json
    from urllib.request import Request, urlopen

    request = Request(f"{base}/api/v4/projects/acme/packages/pypi/simple/big/",
                      headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urlopen(request, timeout=30) as answer:  # noqa: S310 - a test server on 127.0.0.1
        return json.loads(answer.read())
