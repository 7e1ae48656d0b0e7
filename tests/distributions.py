"""Small but real wheels and sdists, built in memory for the tests to upload.

Every test that needs a distribution builds it here, from its name and version, so that no
test keeps archive bytes of its own; what an archive must not be (bombs, traversals,
members that lie) is built by tests/archives.py instead.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile


def wheel_metadata(name: str, version: str, requires_python: str = "",
                   requires: tuple[str, ...] = ()) -> str:
    """The METADATA that :func:`wheel_bytes` puts in its wheel."""
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    return metadata


def wheel_bytes(name: str, version: str, requires_python: str = "", payload: str = "",
                requires: tuple[str, ...] = ()) -> bytes:
    """A small but real wheel: a module plus dist-info METADATA, WHEEL and RECORD;
    ``requires``, its Requires-Dist."""
    module = name.replace("-", "_").replace(".", "_").lower()
    dist_info = f"{module}-{version}.dist-info"
    metadata = wheel_metadata(name, version, requires_python, requires)
    members = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n{payload}",
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL":
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/RECORD": "",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, text in members.items():
            # A fixed timestamp: the same arguments always give the same bytes.
            wheel.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def wheel_name(name: str, version: str) -> str:
    """The file name of :func:`wheel_bytes`'s wheel."""
    return f"{name.replace('-', '_').replace('.', '_').lower()}-{version}-py3-none-any.whl"


def wheel_file(file_name: str, metadata: str, tag: str = "py3-none-any") -> bytes:
    """A real wheel under ``file_name`` with ``metadata``, whole, as its METADATA: for a
    test that writes the metadata itself, or a tag or name :func:`wheel_bytes` does not."""
    dist_info = "-".join(file_name.split("-")[:2]) + ".dist-info"
    module = file_name.split("-")[0]
    purelib = "true" if tag.endswith("-none-any") else "false"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{module}/__init__.py", "")
        archive.writestr(f"{dist_info}/METADATA", metadata)
        archive.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nGenerator: tests\n"
                         f"Root-Is-Purelib: {purelib}\nTag: {tag}\n")
        archive.writestr(f"{dist_info}/RECORD", "")
    return buffer.getvalue()


def described_wheel(name: str, version: str, metadata: str = "", body: str = ""
                    ) -> tuple[str, bytes]:
    """A wheel whose METADATA has ``metadata`` headers and ``body`` as its description, as
    the web pages show it; returns its file name and its bytes."""
    module = name.replace("-", "_").lower()
    text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{metadata}"
    if body:
        text += "\n" + body
    file_name = f"{module}-{version}-py3-none-any.whl"
    return file_name, wheel_file(file_name, text)


# A description that tries each way of running script in a page: the pages must show it
# inert (tests/test_ui.py in-process, tests/e2e/test_browser.py in a real browser).
HOSTILE_README = """\
# Hostile

<script>window.ran = 1</script>
<img src="x" onerror="window.ran = 2">
[click](javascript:window.ran=3)
<a href="javascript:window.ran=4">also</a>
<iframe src="https://example.com"></iframe>
"""


def sdist_bytes(name: str, version: str, requires_python: str = "",
                metadata_version: str = "2.2") -> bytes:
    """A small but real sdist: ``<name>-<version>/PKG-INFO`` and a module, gzipped tar."""
    base = f"{name.replace('-', '_').replace('.', '_').lower()}-{version}"
    pkg_info = f"Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\n"
    if requires_python:
        pkg_info += f"Requires-Python: {requires_python}\n"
    buffer = io.BytesIO()
    # A fixed time in the gzip header too: the same arguments always give the same bytes.
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as archive:
        for member, text in ((f"{base}/PKG-INFO", pkg_info), (f"{base}/setup.py", "")):
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size, info.mtime = len(data), 1577836800
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
