"""Three ``pypireg serve`` processes on one PostgreSQL catalog and one S3 bucket, as
docs/scaling.md lays them out: real twine, pip and uv spread over them, races decided by
the database, and a process killed mid-upload leaving nothing that gc does not clear."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .. import s3
from ..distributions import wheel_bytes, wheel_name
from ..helpers import basic
from .live import Clients, run

PROJECT = "acme/tools"
BUCKET = "pypireg-nodes"
MIXED_SECONDS = float(os.environ.get("PYPIREG_MIXED_SECONDS", "30"))
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Cluster:
    catalog: str
    storage: str
    env: dict[str, str]
    urls: list[str]  # http://127.0.0.1:PORT/api/v4, one per node
    processes: list[subprocess.Popen]
    token: str
    root: Path

    def cli(self, *argv: str) -> str:
        result = run([sys.executable, "-m", "pypireg", *argv, "--catalog", self.catalog,
                      "--storage", self.storage, "--data", str(self.root / "cli")],
                     env=self.env)
        return result.stdout.splitlines()[-1]

    def api(self, node: int, path: str, method: str = "GET") -> tuple[int, bytes]:
        request = urllib.request.Request(f"{self.urls[node]}{path}", method=method,
                                         headers=basic(self.token))
        try:
            with OPENER.open(request, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def upload(self, node: int, name: str, version: str, data: bytes) -> tuple[int, bytes]:
        boundary = "pypireg-boundary"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n'
                 f"{value}\r\n".encode() for field, value in (("name", name),
                                                              ("version", version))]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="content";'
                     f' filename="{wheel_name(name, version)}"\r\n\r\n'.encode() + data
                     + f"\r\n--{boundary}--\r\n".encode())
        request = urllib.request.Request(
            f"{self.urls[node]}/projects/acme%2Ftools/packages/pypi", data=b"".join(parts),
            method="POST", headers={**basic(self.token), "Content-Type":
                                    f"multipart/form-data; boundary={boundary}"})
        try:
            with OPENER.open(request, timeout=120) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def start_node(catalog: str, storage: str, data: Path, env: dict[str, str]
               ) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "pypireg", "serve", "--port", "0", "--catalog", catalog,
         "--storage", storage, "--data", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    for line in process.stdout:  # type: ignore[union-attr]
        if " serving " in line:
            return process, line.rstrip().split(" at ")[1]
    raise RuntimeError(f"pypireg serve exited with {process.wait()}")


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("nodes")
    with s3.process_server() as endpoint, postgres_server.database() as catalog:
        env = {**os.environ, **s3.CREDENTIALS, "AWS_ENDPOINT_URL": endpoint,
               "AWS_DEFAULT_REGION": s3.REGION, "NO_PROXY": "127.0.0.1"}
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name=s3.REGION,
                     aws_access_key_id="testing", aws_secret_access_key="testing",
                     ).create_bucket(Bucket=BUCKET)
        storage = f"s3://{BUCKET}/registry"
        base = Cluster(catalog, storage, env, [], [], "", root)
        base.cli("init")
        base.cli("group", "create", "acme")
        base.cli("project", "create", PROJECT)
        base.token = base.cli("token", "create", "ci", "--grant", "acme:delete")
        try:
            for n in range(3):
                process, url = start_node(catalog, storage, root / f"node{n}", env)
                base.processes.append(process)
                base.urls.append(url)
            yield base
        finally:
            for process in base.processes:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=30)


def test_twine_uploads_through_one_node_pip_and_uv_install_through_the_others(
        cluster: Cluster, clients: Clients, greet_dists) -> None:
    clients.twine_upload(f"{cluster.urls[0]}/projects/acme%2Ftools/packages/pypi",
                         cluster.token, *greet_dists["1.0"])
    for node, install in ((1, clients.pip_install), (2, clients.uv_install)):
        index = cluster.urls[node].replace("http://", f"http://ci:{cluster.token}@")
        python = clients.new_venv(f"node{node}")
        install(python, f"{index}/projects/acme%2Ftools/packages/pypi/simple", "acme.greet")
        assert clients.greet(python) == "hello from acme.greet 1.0"
    pages = {cluster.api(node, "/projects/acme%2Ftools/packages/pypi/simple/acme-greet/")[1]
             .replace(cluster.urls[node].encode(), b"BASE") for node in range(3)}
    assert len(pages) == 1  # the same page from every node, but for its own address


def test_sixteen_uploads_of_one_filename_over_three_nodes_have_one_winner(
        cluster: Cluster) -> None:
    variants = [wheel_bytes("race", "1.0", payload=f"# variant {v}") for v in (0, 1)]
    barrier = threading.Barrier(16)
    answers: list[tuple[int, int]] = []

    def contend(n: int) -> None:
        barrier.wait()
        status, _ = cluster.upload(n % 3, "race", "1.0", variants[n % 2])
        answers.append((n % 2, status))

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (winner,) = [variant for variant, status in answers if status == 201]
    assert sorted(s for v, s in answers if v == winner) == [200] * 7 + [201]
    assert [s for v, s in answers if v != winner] == [400] * 8
    digest = hashlib.sha256(variants[winner]).hexdigest()
    for node in range(3):
        status, body = cluster.api(
            node, f"/projects/acme%2Ftools/packages/pypi/files/{digest}/race-1.0-py3-none-any.whl")
        assert status == 200 and hashlib.sha256(body).hexdigest() == digest


def test_mixed_work_over_the_nodes_gives_no_5xx_and_loses_nothing(cluster: Cluster) -> None:
    """Uploads, page reads, downloads and deletes from four clients at once, for a while;
    afterwards every listed file downloads, through every node, with its sha256."""
    deadline = time.monotonic() + MIXED_SECONDS
    statuses: list[int] = []

    def client(seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        while time.monotonic() < deadline:
            node, n = rng.randrange(3), n + 1
            choice = rng.random()
            if choice < 0.4:
                status, _ = cluster.upload(node, "mixed", f"{seed}.{n}",
                                           wheel_bytes("mixed", f"{seed}.{n}"))
            elif choice < 0.8:
                status, _ = cluster.api(node, "/projects/acme%2Ftools/packages/pypi/simple/"
                                              "mixed/")
            else:
                status, body = cluster.api(node, "/projects/acme%2Ftools/packages?"
                                                 "package_name=mixed&per_page=5")
                listed = json.loads(body) if status == 200 else []
                if listed:
                    status, _ = cluster.api(rng.randrange(3), "/projects/acme%2Ftools/packages/"
                                            f"{rng.choice(listed)['id']}", "DELETE")
            statuses.append(status)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses and not [s for s in statuses if s >= 500]
    assert 201 in statuses and 204 in statuses
    status, body = cluster.api(0, "/projects/acme%2Ftools/packages?package_name=mixed"
                                  "&per_page=100")
    for package in json.loads(body):
        status, files = cluster.api(1, f"/projects/acme%2Ftools/packages/{package['id']}"
                                       "/package_files")
        for file in json.loads(files):
            node = file["id"] % 3
            status, data = cluster.api(node, "/projects/acme%2Ftools/packages/pypi/files/"
                                             f"{file['file_sha256']}/{file['file_name']}")
            assert status == 200 and hashlib.sha256(data).hexdigest() == file["file_sha256"]


def test_a_node_killed_mid_upload_leaves_nothing_that_gc_does_not_clear(
        cluster: Cluster, tmp_path) -> None:
    """A 64 MiB upload to a fourth node, killed with SIGKILL once it has reserved its blob
    and is storing it in S3: nothing is ever listed, and gc from another process clears the
    reservation, the unfinished multipart upload and any blob."""
    process, url = start_node(cluster.catalog, cluster.storage, tmp_path / "doomed",
                              cluster.env)
    try:
        victim = Cluster(cluster.catalog, cluster.storage, cluster.env, [url], [process],
                         cluster.token, cluster.root)
        big = wheel_bytes("doomed", "1.0", payload="# " + os.urandom(48 * 2**20).hex())

        def send() -> None:
            # The server dies under it, as it should.
            with contextlib.suppress(OSError, http.client.HTTPException):
                victim.upload(0, "doomed", "1.0", big)

        sender = threading.Thread(target=send)
        sender.start()
        import psycopg

        with psycopg.connect(cluster.catalog, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while not conn.execute("SELECT count(*) FROM blob_reservations").fetchone()[0]:
                assert time.monotonic() < deadline, "the upload never reserved its blob"
                time.sleep(0.01)  # polling for the moment to kill, not for an outcome
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            sender.join(timeout=60)
            for node in range(3):
                status, _ = cluster.api(node, "/projects/acme%2Ftools/packages/pypi/simple/"
                                              "doomed/")
                assert status == 404  # never listed, whatever the node
            report = cluster.cli("gc", "--staging-age", "0")
            assert int(report) >= 1
            assert conn.execute("SELECT count(*) FROM blob_reservations").fetchone()[0] == 0
            live = {row[0] for row in conn.execute(
                "SELECT storage_key FROM package_files UNION"
                " SELECT metadata_key FROM package_files WHERE metadata_key IS NOT NULL")}
        import boto3

        client = boto3.client("s3", endpoint_url=cluster.env["AWS_ENDPOINT_URL"],
                              region_name=s3.REGION, aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        stored = {item["Key"].removeprefix("registry/") for page in client.get_paginator(
            "list_objects_v2").paginate(Bucket=BUCKET) for item in page.get("Contents", [])}
        assert stored == live  # nothing but what live files use
        assert not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
