"""PEP 658 metadata for upstream wheels whose pages offer none (docs/proxy.md): said on the
page from the start, read from the upstream's wheel in a few ranges when asked for, byte
for byte the wheel's METADATA, kept, and said with its sha256 from then on; a wheel
without one, or a hostile one, gives a 404 at bounded cost, never a 5xx."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from webtest import TestApp

import pypireg
from pypireg import mount
from pypireg.upstream.extract import MAX_BYTES, TAIL

from . import archives
from .distributions import wheel_bytes, wheel_metadata
from .helpers import peak_growth
from .upstreams import FakeIndex, caching_registry, serve

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
PAGE = "/api/v4/projects/acme/packages/pypi/simple/{}/"


def index_of(files: dict[str, bytes], project: str = "acme-lib", *, sizes: bool = True
             ) -> FakeIndex:
    """An index whose page of ``project`` lists ``files`` (by name), none with metadata."""
    index = FakeIndex()
    for name, data in files.items():
        index.files[f"/files/{name}"] = data
    index.json_page(project, [{"filename": name, "url": f"/files/{name}",
                               "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                               **({"size": len(data)} if sizes else {})}
                              for name, data in files.items()])
    return index


@pytest.fixture
def wheel() -> bytes:
    return wheel_bytes("acme-lib", "1.0", payload="x" * 200_000, requires=("acme-core>=1",))


@pytest.fixture
def cached(tmp_path, wheel) -> Iterator[tuple[FakeIndex, TestApp, pypireg.Registry]]:
    index = index_of({"acme_lib-1.0-py3-none-any.whl": wheel,
                      "acme_lib-1.0.tar.gz": b"an sdist's bytes"})
    with serve(index) as up:
        registry = caching_registry(tmp_path / "data", f"{up.url}/simple/")
        yield index, TestApp(mount(registry, "/api/v4")), registry


def page(app: TestApp, project: str = "acme-lib") -> dict[str, dict]:
    files = app.get(PAGE.format(project), headers=JSON).json["files"]
    return {f["filename"]: f for f in files}


def local(url: str) -> str:
    return url.split("http://localhost:80", 1)[-1]


def downloaded(app: TestApp, registry: pypireg.Registry, url: str) -> bytes:
    """A download's bytes, once the registry has kept the file and read its metadata
    (its answer ends as soon as the bytes are verified)."""
    body = app.get(url).body
    registry.upstreams.files.settle()
    return body


def test_a_wheels_metadata_is_read_in_ranges_and_said_with_its_digest(cached, wheel) -> None:
    index, app, registry = cached
    before = page(app)
    wheel_entry = before["acme_lib-1.0-py3-none-any.whl"]
    assert wheel_entry["core-metadata"] is True  # said from the start, for pip and uv
    assert before["acme_lib-1.0.tar.gz"]["core-metadata"] is False
    html = app.get(PAGE.format("acme-lib")).text
    assert 'data-core-metadata="true"' in html
    etag = app.get(PAGE.format("acme-lib"), headers=JSON).headers["ETag"]

    answer = app.get(local(wheel_entry["url"]) + ".metadata")
    expected = wheel_metadata("acme-lib", "1.0", requires=("acme-core>=1",)).encode()
    assert answer.body == expected  # byte for byte the wheel's METADATA
    assert not index.whole and 1 <= len(index.ranges) <= 3
    assert sum(index.sent.values()) < len(wheel) / 2
    digest = hashlib.sha256(expected).hexdigest()
    assert page(app)["acme_lib-1.0-py3-none-any.whl"]["core-metadata"] == {"sha256": digest}
    assert app.get(PAGE.format("acme-lib"), headers=JSON).headers["ETag"] != etag
    ranges = len(index.ranges)
    assert app.get(local(wheel_entry["url"]) + ".metadata").body == expected
    assert len(index.ranges) == ranges  # kept: not read again
    app.get(local(before["acme_lib-1.0.tar.gz"]["url"]) + ".metadata", status=404)
    # Read again from the wheel once it is kept whole: the same digest, the same page.
    etag = app.get(PAGE.format("acme-lib"), headers=JSON).headers["ETag"]
    assert app.get(local(wheel_entry["url"])).body == wheel
    assert app.get(PAGE.format("acme-lib"), headers=JSON).headers["ETag"] == etag


def test_a_small_wheel_of_a_page_without_sizes_from_a_strict_upstream(tmp_path) -> None:
    # Its end is asked for as a suffix, longer than the wheel; this upstream answers 416
    # (as werkzeug's servers do) with the size, which the second range then uses.
    small = wheel_bytes("acme-lib", "1.0")
    index = index_of({"acme_lib-1.0-py3-none-any.whl": small}, sizes=False)
    index.clamps_suffixes = False
    with serve(index) as up:
        app = TestApp(mount(caching_registry(tmp_path / "data", f"{up.url}/simple/"),
                            "/api/v4"))
        url = local(page(app)["acme_lib-1.0-py3-none-any.whl"]["url"])
        assert app.get(url + ".metadata").body == wheel_metadata("acme-lib", "1.0").encode()
        assert index.ranges == [("/files/acme_lib-1.0-py3-none-any.whl", 0, len(small))]
        assert not index.whole


def test_the_digest_stays_when_the_page_is_fetched_again(tmp_path, wheel) -> None:
    index = index_of({"acme_lib-1.0-py3-none-any.whl": wheel})
    with serve(index) as up:
        registry = pypireg.create_app(tmp_path / "data", upstream=f"{up.url}/simple/",
                                      upstream_mode="cache", upstream_ttl=0)
        registry.create_project("acme", "public")
        app = TestApp(mount(registry, "/api/v4"))
        url = local(page(app)["acme_lib-1.0-py3-none-any.whl"]["url"])
        data = app.get(url + ".metadata").body
        requests = index.page_requests
        entry = page(app)["acme_lib-1.0-py3-none-any.whl"]  # fetched again (a TTL of 0)
        assert index.page_requests > requests
        assert entry["core-metadata"] == {"sha256": hashlib.sha256(data).hexdigest()}


def test_a_wheel_kept_whole_gets_its_metadata_from_its_own_bytes(cached, wheel) -> None:
    index, app, registry = cached
    url = local(page(app)["acme_lib-1.0-py3-none-any.whl"]["url"])
    assert downloaded(app, registry, url) == wheel
    assert page(app)["acme_lib-1.0-py3-none-any.whl"]["core-metadata"] == {
        "sha256": hashlib.sha256(app.get(url + ".metadata").body).hexdigest()}
    assert not index.ranges  # read from the verified file, not the upstream


def test_an_upstream_without_ranges_has_its_wheel_kept_whole_to_read_it(tmp_path,
                                                                       wheel) -> None:
    index = index_of({"acme_lib-1.0-py3-none-any.whl": wheel})
    index.serves_ranges = False
    with serve(index) as up:
        registry = caching_registry(tmp_path / "data", f"{up.url}/simple/")
        app = TestApp(mount(registry, "/api/v4"))
        url = local(page(app)["acme_lib-1.0-py3-none-any.whl"]["url"])
        assert app.get(url + ".metadata").body.startswith(b"Metadata-Version: 2.1\n")
        assert app.get(url).body == wheel  # kept by then
        assert index.whole["/files/acme_lib-1.0-py3-none-any.whl"] == 2  # the range, then all


def hostile(where: Path, make) -> bytes:  # type: ignore[no-untyped-def]
    where.mkdir()
    return make(where).read_bytes()


@pytest.mark.parametrize("make", [
    archives.zip_bomb_metadata, archives.oversized_metadata, archives.encrypted_metadata,
    archives.multi_disk, archives.corrupt_deflate,
    lambda path: archives.many_zip_members(path, 200_000, declared=10),
    lambda path: archives.wheel(path, archives.ZipEntry(b"evil-1.0.dist-info/WHEEL")),
], ids=["bomb", "oversized", "encrypted", "multi-disk", "corrupt", "lying-count",
        "no-metadata"])
def test_a_hostile_wheel_gives_no_metadata_at_bounded_cost(tmp_path, make) -> None:
    data = hostile(tmp_path / "made", make)
    index = index_of({archives.WHEEL_NAME: data}, project="evil")
    with serve(index) as up:
        registry = caching_registry(tmp_path / "data", f"{up.url}/simple/")
        app = TestApp(mount(registry, "/api/v4"))
        url = local(page(app, "evil")[archives.WHEEL_NAME]["url"])
        answer, growth = peak_growth(lambda: app.get(url + ".metadata", status="*"))
        assert answer.status_int == 404, answer.text  # never a 5xx
        assert growth < 64 * 1024 * 1024
        assert page(app, "evil")[archives.WHEEL_NAME]["core-metadata"] is False
        # At most the bounded ranges, then the whole file once (fetched and verified, to
        # show that it has no metadata).
        assert index.whole[f"/files/{archives.WHEEL_NAME}"] <= 1
        assert sum(index.sent.values()) <= len(data) + MAX_BYTES + TAIL


def test_a_lying_central_directory_is_no_metadata(tmp_path) -> None:
    # The central directory points METADATA's local header past the end of the file.
    with zipfile.ZipFile(tmp_path / "w.whl", "w") as made:
        made.writestr("evil-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: evil\n")
    raw = bytearray((tmp_path / "w.whl").read_bytes())
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 42:central + 46] = (10**9).to_bytes(4, "little")  # its local header's offset
    index = index_of({archives.WHEEL_NAME: bytes(raw)}, project="evil")
    with serve(index) as up:
        app = TestApp(mount(caching_registry(tmp_path / "data", f"{up.url}/simple/"),
                            "/api/v4"))
        url = local(page(app, "evil")[archives.WHEEL_NAME]["url"])
        assert app.get(url + ".metadata", status="*").status_int == 404


# -- the ranges fail or lie: the whole file says ---------------------------------------------


def served_metadata(tmp_path: Path, index: FakeIndex, name: str
                    ) -> Iterator[tuple[TestApp, pypireg.Registry, str]]:
    with serve(index) as up:
        registry = caching_registry(tmp_path / "data", f"{up.url}/simple/")
        app = TestApp(mount(registry, "/api/v4"))
        yield app, registry, local(page(app)[name]["url"])


WHEEL = "acme_lib-1.0-py3-none-any.whl"


@pytest.mark.parametrize("trouble", ["refused", "cut off", "many members"])
def test_ranges_that_will_not_do_read_the_whole_file(tmp_path, wheel, trouble) -> None:
    if trouble == "many members":  # a central directory past the ranges' bounds
        buffer = tmp_path / "big.whl"
        with zipfile.ZipFile(buffer, "w") as made:
            for n in range(12_000):
                made.writestr(f"acme_lib/data/file_{n:05}_with_a_long_enough_name.txt", "")
            made.writestr("acme_lib-1.0.dist-info/METADATA",
                          wheel_metadata("acme-lib", "1.0"))
        wheel = buffer.read_bytes()
    index = index_of({WHEEL: wheel})
    if trouble == "refused":
        index.range_status = 403
    elif trouble == "cut off":  # the end record comes, then the upstream fails
        buffer = tmp_path / "far.whl"
        with zipfile.ZipFile(buffer, "w") as made:  # METADATA first, far from the end
            made.writestr("acme_lib-1.0.dist-info/METADATA",
                          wheel_metadata("acme-lib", "1.0"))
            made.writestr("acme_lib/big.bin", os.urandom(300_000))
        wheel = buffer.read_bytes()
        index = index_of({WHEEL: wheel})
        index.ranges_left = 1
    for app, _, url in served_metadata(tmp_path, index, WHEEL):
        data = app.get(url + ".metadata").body
        assert data.startswith(b"Metadata-Version: 2.1\nName: acme-lib\n")
        assert index.whole[f"/files/{WHEEL}"] == 1  # fetched whole, verified, kept
        entry = page(app)[WHEEL]
        assert entry["core-metadata"] == {"sha256": hashlib.sha256(data).hexdigest()}
        assert app.get(url).body == wheel and index.whole[f"/files/{WHEEL}"] == 1


def test_metadata_read_in_ranges_is_replaced_by_the_verified_wheels(tmp_path, wheel) -> None:
    # The upstream's ranges come from another wheel of the same size than the one its page
    # names: what they give is not kept once the wheel itself is downloaded and verified.
    forged = wheel_bytes("acme-lib", "1.0", payload="x" * 200_000, requires=("evil-pkgs>=1",))
    assert len(forged) == len(wheel) and forged != wheel
    index = index_of({WHEEL: wheel})
    index.range_files[f"/files/{WHEEL}"] = forged
    for app, registry, url in served_metadata(tmp_path, index, WHEEL):
        assert b"evil-pkgs" in app.get(url + ".metadata").body  # what the ranges gave
        assert downloaded(app, registry, url) == wheel  # verified, and kept
        real = app.get(url + ".metadata").body
        assert b"acme-core" in real and b"evil-pkgs" not in real
        assert page(app)[WHEEL]["core-metadata"] == {"sha256": hashlib.sha256(real).hexdigest()}


def test_a_wheel_kept_before_its_metadata_was_read_is_read_from_storage(tmp_path,
                                                                       wheel) -> None:
    index = index_of({WHEEL: wheel})
    with serve(index) as up:
        registry = caching_registry(tmp_path / "data", f"{up.url}/simple/")
        app = TestApp(mount(registry, "/api/v4"))
        url = local(page(app)[WHEEL]["url"])
        downloaded(app, registry, url)  # kept whole
        # As a catalog from before metadata was read from wheels has it.
        registry.catalog.run("UPDATE upstream_files SET metadata_sha256 = NULL,"
                             " metadata_key = NULL")
    # The upstream is gone: the kept wheel says.
    data = app.get(url + ".metadata").body
    assert data == wheel_metadata("acme-lib", "1.0", requires=("acme-core>=1",)).encode()


def test_metadata_read_in_ranges_is_answered_before_it_is_kept(cached, wheel) -> None:
    """On a cold cache the catalog's write lock is busy, and a resolver waits for each
    answer before it asks for the next: the bytes go out first, and keeping them (a blob
    stored, the catalog told) is done as the answer closes."""
    from werkzeug.test import EnvironBuilder

    index, app, registry = cached
    url = local(page(app)["acme_lib-1.0-py3-none-any.whl"]["url"]) + ".metadata"
    expected = wheel_metadata("acme-lib", "1.0", requires=("acme-core>=1",)).encode()
    status: list[str] = []
    answer = mount(registry, "/api/v4")(EnvironBuilder(url).get_environ(),
                                        lambda s, h, e=None: status.append(s))
    assert b"".join(answer) == expected and status == ["200 OK"]
    assert page(app)["acme_lib-1.0-py3-none-any.whl"]["core-metadata"] is True  # not kept yet
    answer.close()  # type: ignore[attr-defined]
    digest = hashlib.sha256(expected).hexdigest()
    assert page(app)["acme_lib-1.0-py3-none-any.whl"]["core-metadata"] == {"sha256": digest}
    ranges = len(index.ranges)
    assert app.get(url).body == expected and len(index.ranges) == ranges  # kept: no fetch


def test_metadata_not_kept_yet_is_read_once_and_gives_way_to_the_verified_wheels(
        cached, wheel) -> None:
    """Until the first answer closes, its bytes answer whoever else asks (no ranges read
    again); and keeping them then does not record them over what the verified wheel gave
    meanwhile."""
    from werkzeug.test import EnvironBuilder

    from pypireg.upstream.extract import RANGES_PREFIX

    index, app, registry = cached
    entry = page(app)["acme_lib-1.0-py3-none-any.whl"]
    expected = wheel_metadata("acme-lib", "1.0", requires=("acme-core>=1",)).encode()
    first = mount(registry, "/api/v4")(EnvironBuilder(local(entry["url"]) + ".metadata"
                                                      ).get_environ(), lambda *_: None)
    assert b"".join(first) == expected
    ranges = len(index.ranges)
    assert app.get(local(entry["url"]) + ".metadata").body == expected
    assert len(index.ranges) == ranges  # the first one's bytes, not read again
    assert downloaded(app, registry, local(entry["url"])) == wheel  # its metadata verified
    row = registry.catalog.upstream_file(hashlib.sha256(wheel).hexdigest(), entry["filename"])
    assert row is not None and row.metadata_key and not row.metadata_key.startswith(
        RANGES_PREFIX)
    verified = row.metadata_key
    first.close()  # type: ignore[attr-defined]
    row = registry.catalog.upstream_file(hashlib.sha256(wheel).hexdigest(), entry["filename"])
    assert row is not None and row.metadata_key == verified
    assert page(app)[entry["filename"]]["core-metadata"] == {
        "sha256": hashlib.sha256(expected).hexdigest()}


def test_metadata_whose_answer_never_closes_is_read_again_later(cached, monkeypatch) -> None:
    """Bytes read in ranges answer others only for as long as keeping them may take
    (UNKEPT_FOR): an answer a server never closes does not leave them answering from
    memory, never kept, for good."""
    from werkzeug.test import EnvironBuilder

    from pypireg.upstream import extract

    monkeypatch.setattr(extract, "UNKEPT_FOR", 0.0)
    index, app, registry = cached
    url = local(page(app)["acme_lib-1.0-py3-none-any.whl"]["url"]) + ".metadata"
    never_closed = mount(registry, "/api/v4")(EnvironBuilder(url).get_environ(),
                                              lambda *_: None)
    first = b"".join(never_closed)
    ranges = len(index.ranges)
    assert app.get(url).body == first and len(index.ranges) > ranges  # read again, kept
    ranges = len(index.ranges)
    assert app.get(url).body == first and len(index.ranges) == ranges
