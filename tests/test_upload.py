"""Uploads: what twine sends, GitLab's answers, and every bad input refused cleanly."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

import pypireg
from pypireg.storage import MemoryStorage, blob_key

from .distributions import sdist_bytes, wheel_bytes, wheel_name
from .helpers import (
    API,
    Env,
    blobs,
    multipart,
    raw_post,
    sha256,
    staged,
    stored_state,
    wheel_keys,
)


def test_upload_creates_package_and_file(env: Env) -> None:
    data = wheel_bytes("My.Pkg", "1.0", ">=3.8")
    response = env.upload(
        "acme/tools", wheel_name("My.Pkg", "1.0"), data, token=env.writer,
        name="My.Pkg", version="1.0", requires_python=">=3.8",
        md5_digest=hashlib.md5(data).hexdigest(), sha256_digest=sha256(data),
        summary="s" * 300, description="d" * 5000, keywords="k" * 2000,
        author_email="dev@example.com", filetype="bdist_wheel", pyversion="py3",
        protocol_version="1", **{":action": "file_upload"},
    )
    assert response.status_int == 201
    assert response.json == {"message": "201 Created"}
    package = env.registry.catalog.rows("SELECT * FROM packages")[0]
    assert (package["name"], package["normalized_name"], package["version"]) == (
        "My.Pkg", "my-pkg", "1.0")
    metadata = json.loads(package["metadata"])
    assert len(metadata["summary"]) == 255
    assert len(metadata["description"]) == 4000
    assert len(metadata["keywords"]) == 1024
    assert metadata["author_email"] == "dev@example.com"
    file = env.registry.catalog.rows("SELECT * FROM package_files")[0]
    assert file["sha256"] == sha256(data)
    assert file["md5"] == hashlib.md5(data).hexdigest()
    assert file["sha1"] == hashlib.sha1(data).hexdigest()
    assert file["size"] == len(data)
    assert file["requires_python"] == ">=3.8"
    assert env.registry.storage.open(blob_key(sha256(data))).read() == data
    assert staged(env) == []


def test_put_form_works_like_post(env: Env) -> None:
    data = wheel_bytes("pkg", "2.0")
    response = env.upload("acme/tools", wheel_name("pkg", "2.0"), data, token=env.writer,
                          method="PUT", name="pkg", version="2.0")
    assert response.status_int == 201
    page = env.app.get(API.format(project="acme/tools") + "/simple/pkg/")
    assert wheel_name("pkg", "2.0") in page.text


def test_upload_by_numeric_id_and_second_file_joins_the_version(env: Env) -> None:
    env.upload_wheel(env.public.id, "pkg", "1.0", token=env.writer, status=201)
    sdist = sdist_bytes("pkg", "1.0")
    env.upload(env.public.id, "pkg-1.0.tar.gz", sdist, token=env.writer,
               name="pkg", version="1.0", status=201)
    assert env.registry.catalog.value("SELECT count(*) FROM packages") == 1
    assert env.registry.catalog.value("SELECT count(*) FROM package_files") == 2


def test_identical_reupload_succeeds_and_changes_nothing(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    before = stored_state(env)
    again = env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer)
    assert again.status_int == 200
    assert stored_state(env) == before


def test_same_filename_other_bytes_is_refused_with_file_already_exists(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    before = stored_state(env)
    clash = env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, payload="# other")
    assert clash.status_int == 400
    assert "File already exists" in clash.json["message"]
    assert "File already exists" in clash.status  # twine prints the reason phrase
    assert stored_state(env) == before


def test_identical_bytes_in_two_projects_share_one_blob(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/team/secret", "pkg", "1.0", token=env.writer, status=201)
    assert blobs(env) == wheel_keys("pkg", "1.0")
    assert env.registry.catalog.value("SELECT count(*) FROM package_files") == 2


def test_versions_equal_under_pep440_are_one_package(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    data = sdist_bytes("pkg", "1.0.0")
    env.upload(env.public.id, "pkg-1.0.0.tar.gz", data, token=env.writer,
               name="pkg", version="1.0.0", status=201)
    assert env.registry.catalog.value("SELECT count(*) FROM packages") == 1


GOOD = wheel_bytes("pkg", "1.0")
GOOD_NAME = wheel_name("pkg", "1.0")


@pytest.mark.parametrize(
    ("file_name", "fields", "expected"),
    [
        (GOOD_NAME, {"version": "1.0"}, "'name' field is missing"),
        (GOOD_NAME, {"name": "pkg"}, "'version' field is missing"),
        (GOOD_NAME, {"name": "other", "version": "1.0"}, "not 'other'"),
        (GOOD_NAME, {"name": "pkg", "version": "2.0"}, "for version 1.0, not 2.0"),
        ("pkg-1.0-py3-none-any.whl", {"name": "pkg", "version": "one"}, "not a valid PEP 440"),
        ("pkg-one-py3-none-any.whl", {"name": "pkg", "version": "1.0"}, "Invalid wheel"),
        ("pkg-1.0.exe", {"name": "pkg", "version": "1.0"}, "neither a wheel"),
        ("../pkg-1.0-py3-none-any.whl", {"name": "pkg", "version": "1.0"}, "must not contain a"),
        ("a/pkg-1.0-py3-none-any.whl", {"name": "pkg", "version": "1.0"}, "must not contain a"),
        (GOOD_NAME, {"name": "-pkg-", "version": "1.0"}, "not a valid package name"),
        (GOOD_NAME, {"name": "pkg", "version": "1.0", "sha256_digest": "abc"},
         "sha256_digest 'abc' is not a hexadecimal digest"),
        (GOOD_NAME, {"name": "pkg", "version": "1.0", "sha256_digest": "0" * 64},
         "sha256_digest does not match"),
        (GOOD_NAME, {"name": "pkg", "version": "1.0", "md5_digest": "0" * 32},
         "md5_digest does not match"),
        (GOOD_NAME, {"name": "pkg", "version": "1.0", "md5_digest": "xyz"},
         "md5_digest 'xyz' is not a hexadecimal digest"),
        (GOOD_NAME, {"name": "pkg", "version": "1.0", "requires_python": "=>3.8"},
         "not a valid version specifier"),
    ],
)
def test_bad_upload_fields_are_refused_and_store_nothing(
    env: Env, file_name: str, fields: dict, expected: str
) -> None:
    env.upload_wheel("acme/tools", "pkg", "0.9", token=env.writer, status=201)
    before = stored_state(env)
    response = env.upload("acme/tools", file_name, GOOD, token=env.writer, **fields)
    assert response.status_int == 400, response.text
    assert expected in response.json["message"]
    assert response.json["message"].startswith("400 Bad request - ")
    assert stored_state(env) == before


def test_empty_file_is_refused(env: Env) -> None:
    response = env.upload("acme/tools", GOOD_NAME, b"", token=env.writer,
                          name="pkg", version="1.0")
    assert response.status_int == 400
    assert "is empty" in response.json["message"]
    assert blobs(env) == []


def test_windows_path_in_filename_is_refused(env: Env) -> None:
    # A quoted multipart filename escapes its backslash: this arrives as a\\pkg-1.0-....
    body, content_type = multipart({"name": "pkg", "version": "1.0"}, "a\\\\" + GOOD_NAME, GOOD)
    response = raw_post(env, body, content_type)
    assert response.status_code == 400
    assert "must not contain a path" in response.json["message"]
    assert blobs(env) == []


def test_no_content_part_is_refused(env: Env) -> None:
    response = raw_post(env, *multipart({"name": "pkg", "version": "1.0"}))
    assert response.status_code == 400
    assert "no 'content' file part" in response.json["message"]


def test_content_sent_as_plain_field_is_refused(env: Env) -> None:
    response = raw_post(env, *multipart({"name": "pkg", "version": "1.0", "content": "inline"}))
    assert response.status_code == 400
    assert "no 'content' file part" in response.json["message"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (GOOD, "application/octet-stream"),  # curl --upload-file
        (b"name=pkg&version=1.0", "application/x-www-form-urlencoded"),
        (b"{}", "application/json"),
    ],
)
def test_non_multipart_body_is_refused(env: Env, body: bytes, content_type: str) -> None:
    response = raw_post(env, body, content_type)
    assert response.status_code == 400
    assert "expected a multipart/form-data body" in response.json["message"]
    assert blobs(env) == [] and staged(env) == []


def test_multipart_without_boundary_is_refused(env: Env) -> None:
    response = raw_post(env, b"whatever", "multipart/form-data")
    assert response.status_code == 400
    assert "has no boundary" in response.json["message"]


@pytest.mark.parametrize("cut", [10, 200, -40, -3])
def test_truncated_body_is_refused_and_leaves_nothing(env: Env, cut: int) -> None:
    env.upload_wheel("acme/tools", "pkg", "0.9", token=env.writer, status=201)
    before = stored_state(env)
    body, content_type = multipart({"name": "pkg", "version": "1.0"}, GOOD_NAME, GOOD)
    # The client announced the whole body but the connection ended early.
    response = raw_post(env, body[:cut], content_type, content_length=len(body))
    assert response.status_code == 400
    assert "ended before the announced Content-Length" in response.json["message"]
    assert stored_state(env) == before


def test_body_ending_without_closing_boundary_is_refused(env: Env) -> None:
    body, content_type = multipart({"name": "pkg", "version": "1.0"}, GOOD_NAME, GOOD)
    response = raw_post(env, body[:-12], content_type)
    assert response.status_code == 400
    assert "malformed multipart body" in response.json["message"]
    assert blobs(env) == [] and staged(env) == []


def test_size_limit_is_a_clear_413(tmp_path) -> None:
    sdist = sdist_bytes("pkg", "1.0")
    # A data dir this time; the limit is exactly the sdist's size.
    env = Env(pypireg.create_app(tmp_path, max_upload_size=len(sdist)))
    response = env.upload("acme/tools", "pkg-1.0.tar.gz", sdist + b"\0", token=env.writer,
                          name="pkg", version="1.0")
    assert response.status_int == 413
    assert "File is too large" in response.json["message"]
    assert f"{len(sdist)} bytes" in response.json["message"]
    assert blobs(env) == [] and staged(env) == []
    small = env.upload("acme/tools", "pkg-1.0.tar.gz", sdist, token=env.writer,
                       name="pkg", version="1.0")
    assert small.status_int == 201


def test_declared_length_over_the_limit_is_refused_before_reading(tmp_path) -> None:
    env = Env(pypireg.create_app(tmp_path, max_upload_size=1000))
    response = raw_post(env, b"-", "multipart/form-data; boundary=XX", content_length=10**12)
    assert response.status_code == 413
    assert "File is too large" in response.json["message"]


def test_unknown_project_is_404(env: Env) -> None:
    response = env.upload_wheel("acme/nope", "pkg", "1.0", token=env.writer)
    assert response.status_int == 404
    assert response.json == {"message": "404 Project Not Found"}
    response = env.upload_wheel(999, "pkg", "1.0", token=env.writer)
    assert response.status_int == 404


class FailingStorage(MemoryStorage):
    """Stores each blob, then fails, as a disk filling up during fsync would."""

    fail = True

    def put_file(self, key: str, path: str) -> None:
        super().put_file(key, path)
        if self.fail:
            raise OSError("disk full")

    def put_stream(self, key, stream) -> None:  # type: ignore[no-untyped-def]
        super().put_stream(key, stream)
        if self.fail:
            raise OSError("disk full")


def test_storage_failure_rolls_back_row_and_blob(tmp_path) -> None:
    storage = FailingStorage()
    env = Env(pypireg.create_app(storage=storage, staging_dir=str(tmp_path)))
    response = env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer)
    assert response.status_int == 500
    assert env.registry.catalog.value("SELECT count(*) FROM package_files") == 0
    assert env.registry.catalog.value("SELECT count(*) FROM packages") == 0
    assert storage.keys() == []
    assert staged(env) == []
    page = env.app.get(API.format(project="acme/tools") + "/simple/pkg/", status=404)
    assert page.json == {"message": "404 Package Not Found"}


def test_failed_upload_keeps_a_blob_another_file_uses(tmp_path) -> None:
    storage = FailingStorage()
    env = Env(pypireg.create_app(storage=storage, staging_dir=str(tmp_path)))
    data = wheel_bytes("pkg", "1.0")
    storage.fail = False
    env.upload_wheel("acme/team/secret", "pkg", "1.0", token=env.writer, status=201)
    metadata_key = env.registry.catalog.value("SELECT metadata_key FROM package_files")
    storage.delete(metadata_key)  # so that the next upload has a blob to store, and it fails
    storage.fail = True
    # The file's blob exists (the other project's), so the upload only stores the
    # metadata, and that fails.
    assert env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer).status_int == 500
    assert env.registry.catalog.value("SELECT count(*) FROM package_files") == 1
    # Both kept: the other file's row names the file's blob and the metadata's.
    assert sorted(storage.keys()) == sorted([blob_key(sha256(data)), metadata_key])


def test_failed_upload_leaves_no_blob_that_nothing_uses(tmp_path) -> None:
    storage = FailingStorage()
    env = Env(pypireg.create_app(storage=storage, staging_dir=str(tmp_path)))
    data = wheel_bytes("pkg", "1.0")
    MemoryStorage.put_stream(storage, blob_key(sha256(data)), io.BytesIO(data))  # no failure
    assert env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer).status_int == 500
    assert env.registry.catalog.value("SELECT count(*) FROM package_files") == 0
    # The metadata blob it made is gone, and so is the file's, which nothing used.
    assert storage.keys() == []


def test_upload_to_filesystem_storage_moves_the_staged_file(fs_env: Env) -> None:
    data = wheel_bytes("pkg", "1.0")
    fs_env.upload_wheel("acme/tools", "pkg", "1.0", token=fs_env.writer, status=201)
    storage = fs_env.registry.storage
    assert storage.path(blob_key(sha256(data))).read_bytes() == data  # type: ignore[attr-defined]
    assert staged(fs_env) == []


def test_reason_phrase_stays_printable_ascii(env: Env) -> None:
    response = env.upload("acme/tools", "pkg-1.0-é\u2028.whl", GOOD, token=env.writer,
                          name="pkg", version="1.0")
    assert response.status_int == 400
    assert "é" in response.json["message"]  # the JSON body keeps the real name
    reason = response.status.split(" ", 1)[1]
    assert reason.isascii() and reason.isprintable()
