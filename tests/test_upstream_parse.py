"""How an upstream's page is read (pypireg/upstream/parse.py), beyond what the cache tests
show: the wheel names it takes are those packaging takes, and no spelling of an address
sends the registry inside its own networks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import parse_wheel_filename

from pypireg.upstream.parse import _identity, parse_page

JSON = "application/vnd.pypi.simple.v1+json"


def page_of(file_name: str, url: str, page_url: str = "https://index.example.org/simple/odd/"
            ) -> list:
    body = json.dumps({"files": [{"filename": file_name, "url": url,
                                  "hashes": {"sha256": "0" * 64}}]}).encode()
    return parse_page(body, JSON, page_url, "odd")[1]


@pytest.mark.parametrize("url", [
    "http://127.1/odd-1.0.tar.gz",  # forms the C library resolves to 127.0.0.1
    "http://2130706433/odd-1.0.tar.gz",
    "http://0x7f.1/odd-1.0.tar.gz",
    "http://10.1/odd-1.0.tar.gz",
    "http://127.0.0.1\\.evil.example/odd-1.0.tar.gz",  # urllib3 connects to 127.0.0.1
    "https://files.example.org:99999/odd-1.0.tar.gz",  # not a port
    "https://files.example.org:https/odd-1.0.tar.gz",
])
def test_no_spelling_of_an_internal_address_passes(url) -> None:
    assert page_of("odd-1.0.tar.gz", url) == []


@pytest.mark.parametrize(("url", "kept"), [
    ("https://bücher.example/odd-1.0.tar.gz", "https://bücher.example/odd-1.0.tar.gz"),
    ("https://files.example.org/odd-1.0.tar.gz#sha256=00", "https://files.example.org/odd-1.0.tar.gz"),
    ("https://files.example.org/o\tdd-1.0.tar.gz", "https://files.example.org/odd-1.0.tar.gz"),
    ("https://user:pw@files.example.org/a@b/odd-1.0.tar.gz",
     "https://user:pw@files.example.org/a@b/odd-1.0.tar.gz"),
])
def test_outside_addresses_are_kept_as_urljoin_gives_them(url, kept) -> None:
    assert [f.url for f in page_of("odd-1.0.tar.gz", url)] == [kept]


@pytest.mark.parametrize("file_name", [
    "foo-1.0-py3-none-any.whl",
    "Foo.Bar-1.0-py2.py3-none-any.whl",
    "foo_bar-2.0.1-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "foo-1.0-1x+y-py3-none-any.whl",  # a build tag of any characters after its digit
    "foo-1.0-py3-none-any+x.whl",
    "foo__bar-1.0-py3-none-any.whl",  # refused: a doubled underscore
    "a.b__c-1.0-py3-none-any.whl",
    "foo-1.0-3py-none-any.whl",  # refused: an interpreter tag is an identifier
    "foo-1.0-py3.-none-any.whl",  # refused: an empty tag
    "pydantic-0.18.2-py36+-none-any.whl",
    "foo-bad_ver-py3-none-any.whl",
    "foo-1.0-py3-none.whl",
    "foo-1.0-x-1-py3-none-any.whl",
])
def test_a_wheel_name_is_taken_as_packaging_takes_it(file_name) -> None:
    assert _identity(file_name, "odd") == packagings(file_name)


_TAG = st.lists(st.text(alphabet="aZ9_+", max_size=3), min_size=1, max_size=3).map(".".join)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(["foo", "Foo.Bar", "a__b", "a_b-c", ""]),
       st.sampled_from(["1.0", "2!1.0.post1", "bad_ver", ""]),
       st.none() | st.text(alphabet="1x+_", max_size=3), _TAG, _TAG, _TAG)
def test_any_wheel_name_is_taken_as_packaging_takes_it(name, version, build, python, abi,
                                                      platform) -> None:
    """Names of every shape that matters: a doubled underscore, a bad or empty version, a
    build tag with or without its digit, tags with empty parts or other characters."""
    build_tag = [build] if build is not None else []
    file_name = "-".join([name, version, *build_tag, python, abi, platform])
    assert _identity(file_name + ".whl", "odd") == packagings(file_name + ".whl")


def packagings(file_name: str) -> tuple[str, str]:
    try:
        name, version, *_ = parse_wheel_filename(file_name)
    except ValueError:
        return "", ""
    return name, str(version)
