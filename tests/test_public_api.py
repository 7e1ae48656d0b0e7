"""What a host may use of pypireg, pinned: the exported names, the signatures of the
exported callables and classes and of the protocols' methods (recorded in
tests/fixtures/public-api.json), and one base for every error a host may catch. A change
here is a change for every host: record it on purpose, with
``PYPIREG_RECORD_API=1 pytest tests/test_public_api.py``, and say it in CHANGELOG.md."""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
from pathlib import Path

import pypireg
from pypireg import protocols

RECORD = Path(__file__).parent / "fixtures" / "public-api.json"
PROTOCOLS = [name for name, value in vars(protocols).items()
             if inspect.isclass(value) and getattr(value, "_is_protocol", False)
             and value.__module__ == protocols.__name__]


def described() -> dict[str, object]:
    api: dict[str, object] = {"__all__": sorted(pypireg.__all__)}
    for name in sorted(pypireg.__all__):
        value = getattr(pypireg, name)
        if inspect.isclass(value) and name in PROTOCOLS:
            continue
        if inspect.isclass(value):
            methods = {attr: _spelled(inspect.signature(member)) for attr, member
                       in inspect.getmembers(value, inspect.isfunction)
                       if not attr.startswith("_")}  # inherited ones too (mixins)
            methods.update({attr: "property" for attr, member
                            in inspect.getmembers(value, lambda m: isinstance(
                                m, (property, functools.cached_property)))
                            if not attr.startswith("_")})
            api[name] = {"signature": _signature(value), "methods": methods}
        elif callable(value):
            api[name] = _spelled(inspect.signature(value))
    for name in PROTOCOLS:
        cls = getattr(protocols, name)
        api[f"protocols.{name}"] = {
            attr: _spelled(inspect.signature(member)) for attr, member in sorted(vars(cls).items())
            if not attr.startswith("_") and inspect.isfunction(member)}
    return api


def _signature(cls: type) -> str:
    try:
        return _spelled(inspect.signature(cls))
    except (TypeError, ValueError):
        return "(...)"


def _spelled(signature: inspect.Signature) -> str:
    """As written, without the addresses of the functions a default holds."""
    return re.sub(r" at 0x[0-9a-f]+", "", str(signature))


def test_the_public_api_is_as_recorded() -> None:
    api = described()
    if os.environ.get("PYPIREG_RECORD_API"):
        RECORD.write_text(json.dumps(api, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(RECORD.read_text())
    changed = sorted(key for key in {*api, *recorded} if api.get(key) != recorded.get(key))
    assert not changed, (
        f"the public API changed in {changed}: if that is meant, record it with"
        " PYPIREG_RECORD_API=1 pytest tests/test_public_api.py and say it in CHANGELOG.md")


def test_every_exported_name_resolves() -> None:
    for name in pypireg.__all__:
        assert getattr(pypireg, name) is not None, name
    assert set(pypireg.__all__) <= set(dir(pypireg))


def test_every_error_a_host_may_catch_is_a_pypireg_error() -> None:
    from pypireg.archives import ArchiveError
    from pypireg.attestations import InvalidAttestation
    from pypireg.auth import InvalidGrant
    from pypireg.catalog import CatalogError, CatalogReadOnly, CatalogUnavailable, NotEmpty
    from pypireg.cleanup import InvalidPolicy
    from pypireg.dists import InvalidDistribution
    from pypireg.protection import InvalidRule
    from pypireg.uploads import UploadRefused
    from pypireg.wsgi import ConfigError

    for error in (ArchiveError, InvalidAttestation, InvalidGrant, CatalogError,
                  CatalogReadOnly, CatalogUnavailable, NotEmpty, InvalidPolicy,
                  InvalidDistribution, InvalidRule, UploadRefused, ConfigError):
        assert issubclass(error, pypireg.PypiregError), error
    for was_value_error in (InvalidGrant, InvalidPolicy, InvalidRule, ConfigError):
        assert issubclass(was_value_error, ValueError)  # what hosts caught before
