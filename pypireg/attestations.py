"""PEP 740 attestations: checked when uploaded (``twine upload --attestations``, ``uv
publish``), kept with their file, and served as a provenance object (PyPI's Integrity API).

What is always checked: each attestation has PEP 740's shape (version 1, a base64
certificate, transparency log entries, an envelope whose statement is an in-toto v1
Statement and whose signature is base64), and its statement's subject names exactly this
file with its sha256. The publisher the provenance names is then read from the signing
certificate's claims (GitHub, GitLab or Google identities, as PyPI's Trusted Publishers
name them): what the certificate says, for installers to verify.

With :class:`TrustedPublishers` configured (``create_app(trusted_publishers=...)``, which
needs ``pypireg[attestations]``), each attestation is also verified as PyPI verifies it,
by the pypi-attestations library: its signature, its certificate's chain to Sigstore's
root (the trust root bundled with sigstore, offline) and its transparency log entry, and
its signer must be one of the configured publishers, which the provenance then names.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from .exceptions import PypiregError

MAX_ATTESTATIONS = 16  # per file
MAX_ATTESTATION_SIZE = 256 * 1024  # bytes of one attestation's JSON
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"

# Fulcio's certificate extensions (https://github.com/sigstore/fulcio, docs/oid-info.md).
_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_SOURCE_REPOSITORY_URI = ObjectIdentifier("1.3.6.1.4.1.57264.1.12")
_BUILD_CONFIG_URI = ObjectIdentifier("1.3.6.1.4.1.57264.1.18")
_GITHUB = "https://token.actions.githubusercontent.com"
_GITLAB = "https://gitlab.com"
_GOOGLE = "https://accounts.google.com"


class InvalidAttestation(PypiregError, ValueError):
    """The ``attestations`` field cannot be kept; the message says why."""


def check_attestations(text: str, file_name: str, sha256: str) -> list[dict[str, Any]]:
    """The attestations of an upload's ``attestations`` field (a JSON list), each checked
    to have PEP 740's shape and to attest this file; raises :class:`InvalidAttestation`."""
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidAttestation("attestations is not valid JSON") from None
    if not isinstance(found, list) or not found:
        raise InvalidAttestation("attestations must be a JSON list of attestation objects")
    if len(found) > MAX_ATTESTATIONS:
        raise InvalidAttestation(f"attestations holds more than {MAX_ATTESTATIONS}")
    for number, attestation in enumerate(found, 1):
        try:
            _check(attestation, file_name, sha256)
        except InvalidAttestation as exc:
            raise InvalidAttestation(f"attestation {number} of {len(found)}: {exc}") from None
    return found


def _check(attestation: Any, file_name: str, sha256: str) -> None:
    if not isinstance(attestation, dict) or attestation.get("version") != 1:
        raise InvalidAttestation("not an attestation object of version 1 (PEP 740)")
    if len(json.dumps(attestation)) > MAX_ATTESTATION_SIZE:
        raise InvalidAttestation(f"larger than {MAX_ATTESTATION_SIZE // 1024} KiB")
    material = attestation.get("verification_material")
    if not isinstance(material, dict):
        raise InvalidAttestation("verification_material is missing")
    _base64(material.get("certificate"), "verification_material.certificate")
    entries = material.get("transparency_entries")
    if not isinstance(entries, list) or not entries or not all(
            isinstance(entry, dict) for entry in entries):
        raise InvalidAttestation("verification_material.transparency_entries must be a"
                                 " non-empty list of objects")
    envelope = attestation.get("envelope")
    if not isinstance(envelope, dict):
        raise InvalidAttestation("envelope is missing")
    _base64(envelope.get("signature"), "envelope.signature")
    raw = _base64(envelope.get("statement"), "envelope.statement")
    try:
        statement = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidAttestation("envelope.statement is not JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise InvalidAttestation(f"envelope.statement is not an in-toto Statement"
                                 f" ({STATEMENT_TYPE})")
    if not isinstance(statement.get("predicateType"), str):
        raise InvalidAttestation("the statement has no predicateType")
    subjects = statement.get("subject")
    wanted = {"name": file_name, "digest": {"sha256": sha256}}
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(
            subjects[0], dict) or {"name": subjects[0].get("name"), "digest": {
                "sha256": (subjects[0].get("digest") or {}).get("sha256")}} != wanted:
        raise InvalidAttestation(f"its statement's subject is not this file: it must name"
                                 f" {file_name} with sha256 {sha256}")


def _base64(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise InvalidAttestation(f"{name} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAttestation(f"{name} is not base64") from None


class TrustedPublishers:
    """Verification of attestations against Sigstore, for signers of these identities:
    ``{"kind": "GitHub", "repository": "owner/repo", "workflow": "release.yml"}``,
    ``{"kind": "GitLab", "repository": "group/project", "workflow_filepath":
    ".gitlab-ci.yml"}`` or ``{"kind": "Google", "email": "..."}`` (PyPI's Trusted
    Publisher fields). Raises ValueError for a publisher of another shape, or when
    pypi-attestations is not installed."""

    def __init__(self, publishers: Sequence[Mapping[str, Any]]) -> None:
        try:
            import pypi_attestations
        except ImportError:
            raise ValueError("verifying attestations needs pypi-attestations: install"
                             " pypireg[attestations]") from None
        kinds = {"GitHub": pypi_attestations.GitHubPublisher,
                 "GitLab": pypi_attestations.GitLabPublisher,
                 "Google": pypi_attestations.GooglePublisher}
        self._library = pypi_attestations
        self.publishers = []
        for fields in publishers:
            kind = kinds.get(str(fields.get("kind")))
            if kind is None:
                raise ValueError(f"trusted publisher {dict(fields)!r}: kind must be one of"
                                 f" {', '.join(kinds)}")
            known = kind.model_fields  # type: ignore[attr-defined]  # pydantic's, untyped here
            unknown = sorted(set(fields) - set(known))
            if unknown:  # pydantic would drop it: a misspelt field would verify less
                raise ValueError(f"trusted publisher {dict(fields)!r}: unknown field"
                                 f" {', '.join(map(repr, unknown))}; {fields['kind']} takes"
                                 f" {', '.join(known)}")
            try:
                self.publishers.append(kind(**fields))
            except Exception as exc:  # pydantic's ValidationError
                raise ValueError(f"trusted publisher {dict(fields)!r}: {exc}") from None
        if not self.publishers:
            raise ValueError("trusted_publishers is empty: pass None to verify nothing")

    def verify(self, attestation: dict[str, Any], file_name: str, sha256: str
               ) -> dict[str, Any]:
        """The configured publisher that signed this attestation of this file; raises
        :class:`InvalidAttestation` with the reason when none did."""
        library = self._library
        try:
            parsed = library.Attestation.model_validate(attestation)
        except Exception as exc:  # pydantic's ValidationError
            raise InvalidAttestation(f"not an attestation: {exc}") from None
        dist = library.Distribution(name=file_name, digest=sha256)
        reasons = []
        for publisher in self.publishers:
            try:
                parsed.verify(publisher, dist, offline=True)
            except library.VerificationError as exc:
                reasons.append(str(exc))
                continue
            return publisher.model_dump(mode="json")
        raise InvalidAttestation("not verified as signed by a trusted publisher: "
                                 + "; ".join(reasons))


# -- the provenance object -------------------------------------------------------------------


def provenance(attestations: list[dict[str, Any]], file_name: str = "", sha256: str = "",
               trusted: TrustedPublishers | None = None) -> dict[str, Any]:
    """PEP 740's provenance object: the attestations in bundles, one per publisher (the
    verified one with ``trusted``, else the one each certificate names)."""
    bundles: list[dict[str, Any]] = []
    for number, attestation in enumerate(attestations, 1):
        if trusted is None:
            publisher = publisher_of(attestation["verification_material"]["certificate"])
        else:
            try:
                publisher = trusted.verify(attestation, file_name, sha256)
            except InvalidAttestation as exc:
                raise InvalidAttestation(
                    f"attestation {number} of {len(attestations)}: {exc}") from None
        bundle = next((b for b in bundles if b["publisher"] == publisher), None)
        if bundle is None:
            bundles.append({"publisher": publisher, "attestations": [attestation]})
        else:
            bundle["attestations"].append(attestation)
    return {"version": 1, "attestation_bundles": bundles}


def publisher_of(certificate: str) -> dict[str, Any]:
    """The Trusted Publisher a signing certificate names, in PyPI's shape; an identity
    of another issuer (or an unreadable certificate) keeps what the certificate says in
    ``claims``."""
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(certificate))
        claims = {"issuer": _extension(cert, _ISSUER_V2) or _extension(cert, _ISSUER_V1,
                                                                        raw=True),
                  "identity": _identity(cert),
                  "source_repository": _extension(cert, _SOURCE_REPOSITORY_URI),
                  "build_config": _extension(cert, _BUILD_CONFIG_URI)}
    except ValueError:
        return {"kind": "unknown", "claims": {}}
    issuer, repository = claims["issuer"], claims["source_repository"] or ""
    config = (claims["build_config"] or "").partition("@")[0]
    if issuer == _GITHUB and repository.startswith("https://github.com/"):
        return {"kind": "GitHub", "repository": repository.removeprefix("https://github.com/"),
                "workflow": config.rpartition("/")[2], "environment": None}
    if issuer == _GITLAB and repository.startswith(f"{_GITLAB}/"):
        slug = repository.removeprefix(f"{_GITLAB}/")
        return {"kind": "GitLab", "repository": slug,
                "workflow_filepath": config.removeprefix(f"{repository}//"),
                "environment": None}
    if issuer == _GOOGLE and claims["identity"]:
        return {"kind": "Google", "email": claims["identity"]}
    return {"kind": issuer or "unknown", "claims": {k: v for k, v in claims.items() if v}}


def _extension(cert: x509.Certificate, oid: ObjectIdentifier, *, raw: bool = False
               ) -> str | None:
    """A Fulcio extension's text: DER UTF8String (v2), or raw bytes (v1)."""
    try:
        value = cert.extensions.get_extension_for_oid(oid).value.value  # type: ignore[attr-defined]
    except x509.ExtensionNotFound:
        return None
    if raw:
        return bytes(value).decode("utf-8", "replace")
    if len(value) >= 2 and value[0] == 0x0C:  # UTF8String, short or long form length
        length, start = value[1], 2
        if length & 0x80:
            count = length & 0x7F
            length, start = int.from_bytes(value[2:2 + count], "big"), 2 + count
        return bytes(value[start:start + length]).decode("utf-8", "replace")
    return None


def _identity(cert: x509.Certificate) -> str | None:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    found = (names.value.get_values_for_type(x509.RFC822Name)
             or names.value.get_values_for_type(x509.UniformResourceIdentifier))
    return str(found[0]) if found else None
