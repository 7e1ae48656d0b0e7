"""Distribution formats newer than the registry's own tests: Emscripten platform tags (PEP
783) and Metadata 2.5 (PEP 794's Import-Name) are accepted like any other; wheel variants
(the draft wheel-variant PEPs) are refused with a message that says so."""

from __future__ import annotations

import pytest

from .distributions import wheel_file
from .helpers import Env, sha256

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def upload(env: Env, file_name: str, data: bytes, name: str, version: str):
    return env.upload("acme/tools", file_name, data, token=env.writer, name=name,
                      version=version, sha256_digest=sha256(data))


def test_an_emscripten_wheel_is_a_wheel_like_any_other(env: Env) -> None:
    tag = "cp313-cp313-pyemscripten_2025_0_wasm32"
    file_name = f"wasmy-1.0-{tag}.whl"
    data = wheel_file(file_name, "Metadata-Version: 2.4\nName: wasmy\nVersion: 1.0\n", tag)
    assert upload(env, file_name, data, "wasmy", "1.0").status_int == 201

    page = env.app.get("/projects/acme%2Ftools/packages/pypi/simple/wasmy/",
                       headers=JSON).json
    assert [f["filename"] for f in page["files"]] == [file_name]
    assert page["files"][0]["hashes"] == {"sha256": sha256(data)}
    assert page["files"][0]["core-metadata"]  # its METADATA was read and is served


def test_metadata_2_5_with_import_names_is_accepted_and_served(env: Env) -> None:
    metadata = ("Metadata-Version: 2.5\nName: importy\nVersion: 1.0\n"
                "Import-Name: importy\nImport-Name: importy.extras\nImport-Namespace: ns\n"
                "Requires-Python: >=3.9\nSummary: names its imports\n")
    file_name = "importy-1.0-py3-none-any.whl"
    data = wheel_file(file_name, metadata)
    assert upload(env, file_name, data, "importy", "1.0").status_int == 201

    page = env.app.get("/projects/acme%2Ftools/packages/pypi/simple/importy/",
                       headers=JSON).json
    (entry,) = page["files"]
    assert entry["requires-python"] == ">=3.9"
    assert entry["core-metadata"] == {"sha256": sha256(metadata.encode())}
    served = env.app.get(entry["url"].removeprefix("http://localhost") + ".metadata")
    assert served.body == metadata.encode()


@pytest.mark.parametrize(("file_name", "label"), [
    ("varied-1.0-py3-none-any-x86_64_v3.whl", "x86_64_v3"),
    ("varied-1.0-py3-none-any-null.whl", "null"),
    ("varied-1.0-1-cp313-cp313-linux_x86_64-cu128.whl", "cu128"),  # with a build tag
])
def test_a_wheel_variant_is_refused_as_one(env: Env, file_name: str, label: str) -> None:
    data = wheel_file(file_name, "Metadata-Version: 2.1\nName: varied\nVersion: 1.0\n")
    response = upload(env, file_name, data, "varied", "1.0")
    assert response.status_int == 400
    message = response.json["message"]
    assert "wheel variants are not accepted yet" in message
    assert f"label '{label}'" in message
    assert "build number" not in message
    assert env.registry.catalog.value("SELECT count(*) FROM package_files") == 0


def test_a_name_with_an_unescaped_dash_is_no_variant(env: Env) -> None:
    file_name = "my-pkg-1.0-1-py3-none-any.whl"  # 7 parts, but "my-pkg-1.0-1-py3-none" is none
    data = wheel_file(file_name, "Metadata-Version: 2.1\nName: my-pkg\nVersion: 1.0\n")
    response = upload(env, file_name, data, "my-pkg", "1.0")
    assert response.status_int == 400
    assert "variant" not in response.json["message"]
    assert "Invalid wheel filename" in response.json["message"]


def test_a_variants_index_is_refused_as_one(env: Env) -> None:
    response = upload(env, "varied-1.0-variants.json", b'{"variants": {}}', "varied", "1.0")
    assert response.status_int == 400
    assert "variants index" in response.json["message"]
    assert "wheel variants are not accepted yet" in response.json["message"]


def test_a_build_tag_is_still_a_build_tag(env: Env) -> None:
    file_name = "built-1.0-2-py3-none-any.whl"
    data = wheel_file(file_name, "Metadata-Version: 2.1\nName: built\nVersion: 1.0\n")
    assert upload(env, file_name, data, "built", "1.0").status_int == 201
