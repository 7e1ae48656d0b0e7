"""S3Storage against a real S3 API (moto's server on 127.0.0.1): the storage contract, a
registry on S3, presigned downloads, listing, leftovers and memory use."""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import pypireg
from pypireg.storage import blob_key, open_storage
from pypireg.storage.s3 import MiB, S3File, S3Storage
from pypireg.testing import StorageContract

from . import s3
from .distributions import wheel_bytes, wheel_name
from .helpers import Env, basic, peak_growth, sha256, wheel_keys

KEY = "sha256/ab/cd/abcdef"


@pytest.fixture(scope="module")
def moto_url():  # type: ignore[no-untyped-def]
    with s3.threaded_server() as url:
        yield url


@pytest.fixture
def aws(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Dummy credentials and region from the environment, nothing from this machine's."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3.REGION)
    for name, value in s3.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")


def _create_bucket(url: str) -> str:
    import boto3

    name = f"pypireg-{uuid.uuid4().hex[:12]}"
    boto3.session.Session().client("s3", endpoint_url=url).create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucket(moto_url, aws) -> Any:  # type: ignore[no-untyped-def]
    """A fresh bucket for the test; moto forgets everything afterwards."""
    try:
        yield _create_bucket(moto_url)
    finally:
        s3.reset(moto_url)


@pytest.fixture
def make(moto_url, bucket):  # type: ignore[no-untyped-def]
    """``make(prefix, **options)``: an S3Storage on the test's bucket."""
    return lambda prefix="registry", **options: S3Storage(
        bucket, prefix, endpoint_url=moto_url, **options)


class TestS3Storage(StorageContract):
    @pytest.fixture
    def storage(self, make):  # type: ignore[no-untyped-def]
        return make("some/prefix")


class TestS3StoragePresigned(StorageContract):
    """At the bucket's root, answering downloads with redirects."""

    @pytest.fixture
    def storage(self, make):  # type: ignore[no-untyped-def]
        return make("", presign_downloads=True)


# -- the storage on its own --------------------------------------------------------------------


def test_a_file_above_the_threshold_goes_up_in_parts(make, tmp_path) -> None:
    storage = make(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    data = os.urandom(12 * MiB + 5)
    path = tmp_path / "big"
    path.write_bytes(data)
    storage.put_file(KEY, str(path))
    head = storage.client.head_object(Bucket=storage.bucket, Key=storage.name(KEY))
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    with storage.open(KEY) as stream:
        assert stream.read() == data


def test_open_is_a_seekable_file_streaming_ranged_gets(make) -> None:
    storage = make()
    data = bytes(range(256)) * 40
    storage.put_stream(KEY, io.BytesIO(data))
    ranges = _record_get_ranges(storage)
    with storage.open(KEY) as stream:
        assert isinstance(stream, S3File) and stream.seekable()
        assert stream.read(10) == data[:10] and stream.tell() == 10
        assert stream.seek(-6, io.SEEK_END) == len(data) - 6
        assert stream.read() == data[-6:]
        assert stream.read(5) == b""  # at the end: no request for nothing
        stream.seek(100)
        buffer = bytearray(50)
        assert stream.readinto(buffer) == 50 and bytes(buffer) == data[100:150]
    assert stream.closed
    assert ranges == [None, f"bytes={len(data) - 6}-", "bytes=100-"]


def test_from_url_takes_bucket_and_prefix(aws) -> None:
    s3.require_moto()
    storage = S3Storage.from_url("s3://my-bucket/some/prefix/", endpoint_url="http://127.0.0.1:9",
                                 presign_downloads=True)
    assert (storage.bucket, storage.prefix, storage.presign_downloads) == (
        "my-bucket", "some/prefix", True)
    assert storage.name(KEY) == f"some/prefix/{KEY}"
    assert S3Storage.from_url("s3://my-bucket", endpoint_url="http://127.0.0.1:9").name(KEY) == KEY
    for url in ("s3:///prefix", "https://my-bucket/prefix", "s3://my-bucket/p?x=1"):
        with pytest.raises(ValueError, match="s3://bucket/prefix"):
            S3Storage.from_url(url)
    minio = S3Storage.from_url("s3://my-bucket/p?endpoint_url=http://127.0.0.1:9&region=eu-1"
                               "&presign_downloads=1")
    assert minio.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert minio.client.meta.region_name == "eu-1" and minio.presign_downloads is True
    with pytest.raises(ValueError, match="AWS settings"):
        S3Storage.from_url("s3://key:secret@my-bucket/prefix")


def test_the_endpoint_can_come_from_the_environment(moto_url, bucket, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    storage = open_storage(f"s3://{bucket}/env")  # as --storage and PYPIREG_STORAGE do
    assert isinstance(storage, S3Storage) and storage.name(KEY) == f"env/{KEY}"
    assert storage.client.meta.endpoint_url == moto_url  # checked before any request
    storage.put_stream(KEY, io.BytesIO(b"via AWS_ENDPOINT_URL"))
    with storage.open(KEY) as stream:
        assert stream.read() == b"via AWS_ENDPOINT_URL"


def test_a_client_of_ones_own_takes_no_endpoint(moto_url, bucket) -> None:
    import boto3

    client = boto3.session.Session().client("s3", endpoint_url=moto_url)
    with pytest.raises(TypeError, match="client"):
        S3Storage(bucket, client=client, endpoint_url=moto_url)
    storage = S3Storage(bucket, client=client)
    storage.put_stream(KEY, io.BytesIO(b"own client"))
    assert storage.exists(KEY)


def test_keys_page_through_more_than_a_thousand(make) -> None:
    storage = make()
    expected = sorted(blob_key(f"{n:064x}") for n in range(1050))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: storage.client.put_object(
            Bucket=storage.bucket, Key=storage.name(key), Body=b"x"), expected))
    pages = []
    storage.client.meta.events.register(
        "after-call.s3.ListObjectsV2", lambda **kw: pages.append(kw["parsed"]["KeyCount"]))
    assert sorted(storage.keys()) == expected
    assert pages == [1000, 50]


def test_prefixes_keep_storages_apart(make) -> None:
    first, second, longer = make("reg"), make("other"), make("reg2")
    first.put_stream("sha256/aa/aa/one", io.BytesIO(b"first"))
    second.put_stream("sha256/aa/aa/one", io.BytesIO(b"second"))
    longer.put_stream("sha256/bb/bb/two", io.BytesIO(b"longer"))
    # Not a registry key (upper case): never listed, so gc cannot delete it.
    first.client.put_object(Bucket=first.bucket, Key="reg/NOTES.txt", Body=b"hands off")
    assert list(first.keys()) == ["sha256/aa/aa/one"]
    assert list(second.keys()) == ["sha256/aa/aa/one"]
    assert list(longer.keys()) == ["sha256/bb/bb/two"]
    first.delete("sha256/aa/aa/one")
    assert not first.exists("sha256/aa/aa/one")
    with second.open("sha256/aa/aa/one") as stream:
        assert stream.read() == b"second"
    [(key, modified)] = second.key_ages()
    assert key == "sha256/aa/aa/one" and abs(modified - time.time()) < 600


def test_sweep_aborts_only_old_multipart_uploads_under_the_prefix(make) -> None:
    storage, neighbour = make("reg"), make("elsewhere")
    client, bucket = storage.client, storage.bucket
    mine = client.create_multipart_upload(Bucket=bucket, Key=storage.name("sha256/aa/aa/half"))
    client.upload_part(Bucket=bucket, Key=storage.name("sha256/aa/aa/half"), PartNumber=1,
                       UploadId=mine["UploadId"], Body=b"part one")
    client.create_multipart_upload(Bucket=bucket, Key=neighbour.name("sha256/bb/bb/half"))
    # moto reports one fixed time for every upload's start; cut off on either side of it.
    begun = client.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["Initiated"].timestamp()
    assert storage.sweep_leftovers(begun - 1) == 0  # begun after the cutoff: may be in flight
    assert storage.sweep_leftovers(begun + 1) == 1
    assert storage.sweep_leftovers(time.time()) == 0
    left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [upload["Key"] for upload in left] == [neighbour.name("sha256/bb/bb/half")]


def test_a_missing_boto3_says_how_to_get_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'pypireg[s3]'")):
        S3Storage("my-bucket")


def test_importing_pypireg_does_not_import_boto3() -> None:
    code = "import sys, pypireg, pypireg.storage.s3; print('boto3' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_put_file_streams_from_disk_in_flat_memory(aws, tmp_path) -> None:
    """200 MiB up and back down again: the client's peak memory barely moves. moto runs in
    a process of its own here, since it keeps every object in memory."""
    size = 200 * MiB
    path = tmp_path / "large"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(size // MiB):
            piece = os.urandom(MiB)
            digest.update(piece)
            out.write(piece)
    with s3.process_server() as url:
        storage = S3Storage(_create_bucket(url), "big", endpoint_url=url)
        storage.put_stream("sha256/00/00/warm", io.BytesIO(b"warm"))  # load the client first
        _, grown = peak_growth(lambda: storage.put_file(KEY, str(path)))
        assert grown < 100 * MiB, f"put_file of 200 MiB raised peak memory by {grown >> 20} MiB"
        head = storage.client.head_object(Bucket=storage.bucket, Key=storage.name(KEY))
        assert head["ContentLength"] == size

        def read_back() -> str:
            copy = hashlib.sha256()
            with storage.open(KEY) as stream:
                while piece := stream.read(MiB):
                    copy.update(piece)
            return copy.hexdigest()

        read, grown = peak_growth(read_back)
        assert grown < 100 * MiB, f"reading 200 MiB raised peak memory by {grown >> 20} MiB"
        assert read == digest.hexdigest()


# -- a registry on S3 ----------------------------------------------------------------------------


def registry_on(storage: S3Storage, tmp_path) -> Env:
    """An Env's registry (projects, tokens), its files in S3, its catalog in memory."""
    return Env(pypireg.create_app(storage=storage, staging_dir=str(tmp_path / "staging")))


def file_url(env: Env, project: str, name: str, token: str | None = None) -> str:
    page = env.app.get(f"/projects/{project}/packages/pypi/simple/{name}/",
                       headers=basic(token) if token else {})
    href = re.search(r'href="([^"#]+)', page.text)
    assert href, page.text
    return href.group(1).removeprefix("http://localhost")


def test_a_registry_keeps_its_files_in_s3(make, tmp_path) -> None:
    storage = make()
    env = registry_on(storage, tmp_path)
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/tools", "kept", "1.0", token=env.writer, status=201)
    assert sorted(storage.keys()) == sorted(wheel_keys("pkg", "1.0") + wheel_keys("kept", "1.0"))
    data = wheel_bytes("pkg", "1.0")
    url = file_url(env, "acme/tools", "pkg")
    whole = env.app.get(url, status=200)
    assert whole.body == data
    assert wheel_name("pkg", "1.0") in whole.headers["Content-Disposition"]
    assert whole.headers["ETag"] == f'"{sha256(data)}"'

    ranges = _record_get_ranges(storage)
    part = env.app.get(url, headers={"Range": "bytes=10-19"}, status=206)
    assert part.body == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert ranges == [None, "bytes=10-"]  # werkzeug seeks: the skipped bytes are not fetched
    env.app.get(url, headers={"Range": f"bytes={len(data) + 5}-"}, status=416)

    remover = env.registry.create_token("remover", ["acme/tools:delete"])
    package = next(p for p in env.app.get("/projects/acme/tools/packages").json
                   if p["name"] == "pkg")
    env.app.delete(f"/projects/acme/tools/packages/{package['id']}", headers=basic(remover),
                   status=204)
    assert not any(storage.exists(key) for key in wheel_keys("pkg", "1.0"))
    env.app.get(url, status=404)

    storage.put_stream("sha256/00/00/orphan", io.BytesIO(b"no row refers to me"))
    report = env.registry.collect_garbage()
    assert report.blobs == 1 and report.orphans_checked
    assert sorted(storage.keys()) == wheel_keys("kept", "1.0")


def test_presigned_downloads_redirect_after_the_access_check(make, tmp_path) -> None:
    storage = make(presign_downloads=True, presign_expiry=120)
    env = registry_on(storage, tmp_path)
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/team/secret", "hidden", "1.0", token=env.writer, status=201)

    redirect = env.app.get(file_url(env, "acme/tools", "pkg"), status=302)
    location = redirect.headers["Location"]
    assert location.startswith(storage.client.meta.endpoint_url + "/")
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["120"]
    assert "no-store" in redirect.headers["Cache-Control"]
    with s3.OPENER.open(location, timeout=10) as answer:
        assert answer.read() == wheel_bytes("pkg", "1.0")
        assert wheel_name("pkg", "1.0") in answer.headers["Content-Disposition"]
        assert answer.headers["Content-Disposition"].startswith("attachment")

    head = env.app.head(file_url(env, "acme/tools", "pkg"), status=302)
    request = urllib.request.Request(head.headers["Location"], method="HEAD")
    with s3.OPENER.open(request, timeout=10) as answer:
        assert answer.headers["Content-Length"] == str(len(wheel_bytes("pkg", "1.0")))

    hidden = file_url(env, "acme/team/secret", "hidden", env.reader)
    refused = env.app.get(hidden, status=401)
    assert "Location" not in refused.headers
    env.app.get(hidden, headers=basic(env.outsider), status=404)
    allowed = env.app.get(hidden, headers=basic(env.reader), status=302)
    with s3.OPENER.open(allowed.headers["Location"], timeout=10) as answer:
        assert answer.read() == wheel_bytes("hidden", "1.0")


def _record_get_ranges(storage: S3Storage) -> list[str | None]:
    """The Range of every GetObject the storage's client sends from now on."""
    ranges: list[str | None] = []
    storage.client.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **kw: ranges.append(
            params.get("Range")))
    return ranges


def test_readiness_asks_the_bucket(make, moto_url, aws) -> None:
    make().check_ready()
    missing = S3Storage("no-such-bucket", "registry", endpoint_url=moto_url)
    with pytest.raises(Exception, match="404|Not Found|NoSuchBucket"):
        missing.check_ready()


def test_a_silent_s3_ends_each_call_instead_of_hanging(aws) -> None:
    """moto frozen with SIGSTOP: it takes connections and never answers. Each call fails
    with a timeout of its own rather than botocore's 3 attempts of 60 s, raised as
    Python's TimeoutError, and works again once S3 does."""
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    pids: list[int] = []
    with s3.process_server(pids=pids) as url:
        storage = S3Storage.from_url(f"s3://{_create_bucket(url)}/p?endpoint_url={url}"
                                     "&connect_timeout=1&read_timeout=2&max_attempts=2")
        storage.put_stream(KEY, io.BytesIO(b"before"))
        os.kill(pids[0], signal.SIGSTOP)
        try:
            for call in (lambda: storage.exists(KEY),
                         lambda: storage.put_stream(f"{KEY}2", io.BytesIO(b"during")),
                         lambda: storage.open(KEY).read()):
                outcome: list[BaseException] = []
                worker = threading.Thread(target=lambda c=call, o=outcome: o.extend(_raised(c)))
                worker.start()
                worker.join(60)  # a deadline for a hang, ten times what the settings allow
                assert not worker.is_alive(), "the call hung"
                assert outcome and isinstance(outcome[0], TimeoutError), outcome
                assert isinstance(outcome[0].__cause__, (ReadTimeoutError, ConnectTimeoutError))
        finally:
            os.kill(pids[0], signal.SIGCONT)
        with storage.open(KEY) as stream:
            assert stream.read() == b"before"


def test_a_silent_s3_is_a_504_that_leaves_nothing_and_passes(aws, tmp_path) -> None:
    """Through the registry: with moto frozen, an upload and a download each answer 504
    within the storage's timeouts, leave no row, blob or staging file, and work again
    once S3 answers."""
    pids: list[int] = []
    with s3.process_server(pids=pids) as url:
        storage = S3Storage.from_url(f"s3://{_create_bucket(url)}/p?endpoint_url={url}"
                                     "&connect_timeout=1&read_timeout=2&max_attempts=2")
        env = registry_on(storage, tmp_path)
        env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
        download = file_url(env, "acme/tools", "pkg")
        keys = sorted(storage.keys())
        os.kill(pids[0], signal.SIGSTOP)
        try:
            upload, fetch = (_within(60, call) for call in (
                lambda: env.upload_wheel("acme/tools", "pkg", "2.0", token=env.writer),
                lambda: env.app.get(download, status="*")))
        finally:
            os.kill(pids[0], signal.SIGCONT)
        message = "504 Gateway Timeout - the registry's storage did not answer in time"
        assert (upload.status_int, upload.json) == (504, {"message": message})
        assert (fetch.status_int, fetch.json) == (504, {"message": message})
        assert sorted(storage.keys()) == keys  # no blob of 2.0
        assert env.registry.catalog.value("SELECT count(*) FROM packages") == 1
        assert env.registry.catalog.value("SELECT count(*) FROM blob_reservations") == 0
        assert list((tmp_path / "staging").iterdir()) == []

        env.upload_wheel("acme/tools", "pkg", "2.0", token=env.writer, status=201)
        assert env.app.get(download).body == wheel_bytes("pkg", "1.0")


def test_an_s3_that_cannot_be_reached_is_a_503(aws, tmp_path) -> None:
    s3.require_moto()
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    storage = S3Storage.from_url(f"s3://bucket/p?endpoint_url=http://127.0.0.1:{port}")
    env = registry_on(storage, tmp_path)
    refused = env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=503)
    assert refused.json == {"message": "503 Service Unavailable - the registry's storage"
                                       " cannot be reached"}
    assert env.registry.catalog.value("SELECT count(*) FROM packages") == 0
    assert env.registry.catalog.value("SELECT count(*) FROM blob_reservations") == 0
    assert list((tmp_path / "staging").iterdir()) == []


def _within(seconds: float, call):  # type: ignore[no-untyped-def]
    """``call()``'s result, failing the test if it has not returned within ``seconds``."""
    thread = ThreadPoolExecutor(1)
    try:
        return thread.submit(call).result(timeout=seconds)
    finally:
        thread.shutdown(wait=False)  # a hung call must not hold the test up too


def _raised(call) -> list[BaseException]:  # type: ignore[no-untyped-def]
    try:
        call()
    except Exception as exc:  # the test looks at what it was
        return [exc]
    return []


def test_timeouts_have_defaults_and_come_from_the_url(aws) -> None:
    s3.require_moto()
    default = S3Storage.from_url("s3://my-bucket/p?endpoint_url=http://127.0.0.1:9").client
    config = default.meta.config
    assert (config.connect_timeout, config.read_timeout) == (5.0, 30.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    tuned = S3Storage.from_url("s3://my-bucket/p?endpoint_url=http://127.0.0.1:9"
                               "&connect_timeout=2.5&read_timeout=10&max_attempts=4").client
    assert (tuned.meta.config.connect_timeout, tuned.meta.config.read_timeout) == (2.5, 10.0)
    assert tuned.meta.config.retries["total_max_attempts"] == 4
    for bad in ("read_timeout=0", "read_timeout=soon", "max_attempts=1.5", "connect_timeout=-1"):
        with pytest.raises(ValueError, match="must be"):
            S3Storage.from_url(f"s3://my-bucket/p?{bad}")
