"""An OIDC issuer for the trusted publishing tests: a test certificate authority of its
own, its discovery document and key set served over https on 127.0.0.1, and identity
tokens signed with its RSA and EC keys, shaped as GitHub Actions' and GitLab CI's are."""

from __future__ import annotations

import datetime
import ipaddress
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Authority:
    """A test CA, and a certificate it signed for 127.0.0.1 and localhost."""

    ca_file: Path  # the CA's certificate, for clients to trust (SSL_CERT_FILE)
    cert_file: Path
    key_file: Path


def authority(directory: Path) -> Authority:
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pypireg test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=True, content_commitment=False, key_encipherment=False,
              data_encipherment=False, key_agreement=False, key_cert_sign=True,
              crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    found = Authority(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    found.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    found.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    found.key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return found


class Issuer:
    """Keys, and the tokens they sign; ``url`` once :func:`serve` runs it."""

    def __init__(self) -> None:
        self.url = ""
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.kids = {"rsa": f"rsa-{uuid.uuid4().hex[:8]}", "ec": f"ec-{uuid.uuid4().hex[:8]}"}
        self.fetches = 0  # how often the key set was asked for
        self.key_set: bytes | None = None  # what /jwks answers instead of the keys
        self.pause = 0.0  # seconds /jwks waits before it answers
        self.trickle = 0.0  # seconds between the bytes of /jwks's answer
        # GitHub Actions' token request (/actions-token): a job's secret, and the claims of
        # the tokens it answers with (the audience asked for is added).
        self.actions_secret = uuid.uuid4().hex
        self.actions_claims: dict[str, Any] = {}

    def jwks(self) -> dict[str, Any]:
        keys = []
        for name, algorithm, key in (("rsa", jwt.algorithms.RSAAlgorithm, self.rsa),
                                     ("ec", jwt.algorithms.ECAlgorithm, self.ec)):
            data = json.loads(algorithm.to_jwk(key.public_key()))
            data.update(kid=self.kids[name], use="sig")
            keys.append(data)
        return {"keys": keys}

    def token(self, claims: dict[str, Any], *, key: str = "rsa", lifetime: int = 300,
              headers: dict[str, Any] | None = None) -> str:
        """A token of these claims (``iss``, ``iat``, ``nbf``, ``exp`` and ``jti`` made
        unless given), signed with the RSA key (RS256) or the EC one (ES256)."""
        now = int(time.time())
        body = {"iss": self.url, "iat": now, "nbf": now - 5, "exp": now + lifetime,
                "jti": str(uuid.uuid4()), **claims}
        body = {name: value for name, value in body.items() if value is not None}
        signer, algorithm = (self.rsa, "RS256") if key == "rsa" else (self.ec, "ES256")
        return jwt.encode(body, signer, algorithm=algorithm,
                          headers={"kid": self.kids[key], **(headers or {})})

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/actions-token":  # as GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL
            if request.headers.get("Authorization", "").lower() != (
                    f"bearer {self.actions_secret}"):
                return Response("no", 401)(environ, start_response)
            token = self.token({**self.actions_claims, "aud": request.args["audience"]})
            body = {"count": 1, "value": token}
        elif request.path == "/.well-known/openid-configuration":
            body = {"issuer": self.url, "jwks_uri": f"{self.url}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
        elif request.path == "/jwks":
            self.fetches += 1
            time.sleep(self.pause)  # an issuer that is slow to answer (when asked to be)
            raw = self.key_set if self.key_set is not None else json.dumps(self.jwks()).encode()
            if self.trickle:
                return Response(self._trickled(raw), mimetype="application/json")(
                    environ, start_response)
            return Response(raw, mimetype="application/json")(environ, start_response)
        else:
            return Response("not found", 404)(environ, start_response)
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)


    def _trickled(self, raw: bytes) -> Iterator[bytes]:
        for byte in raw:
            time.sleep(self.trickle)
            yield bytes([byte])


@contextmanager
def serve(issuer: Issuer, ca: Authority, path: str = "") -> Iterator[Issuer]:
    """``issuer`` over https on 127.0.0.1 (its URL with ``path``, as a self-managed GitLab
    under a relative URL has it), stopped when the block ends."""
    inner = issuer.app

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if path and environ["PATH_INFO"].startswith(path):
            environ["PATH_INFO"] = environ["PATH_INFO"][len(path):]
        return inner(environ, start_response)

    with https(app, ca) as port:
        issuer.url = f"https://127.0.0.1:{port}{path}"
        yield issuer


@contextmanager
def https(app: Any, ca: Authority) -> Iterator[int]:
    """A WSGI app over https on 127.0.0.1, with the certificate ``ca`` signed; yields its
    port, and stops it when the block ends."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca.cert_file, ca.key_file)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def github_claims(issuer: Issuer, *, repository: str = "acme/tools",
                  workflow: str = "release.yml", ref: str = "refs/tags/v1.0",
                  owner_id: str = "131804563", environment: str | None = "pypi",
                  event_name: str = "push", audience: Any = "pypireg") -> dict[str, Any]:
    """Claims as GitHub Actions writes them for a job of ``workflow`` in ``repository``."""
    sha = "8c13517721d6ae11cac357e58b9c81e988dc86e4"
    job = f"{repository}/.github/workflows/{workflow}@{ref}"
    return {"aud": audience, "sub": f"repo:{repository}:ref:{ref}", "repository": repository,
            "repository_owner": repository.split("/")[0], "repository_owner_id": owner_id,
            "repository_id": "632596897", "job_workflow_ref": job, "workflow_ref": job,
            "ref": ref, "ref_type": "tag", "sha": sha, "event_name": event_name,
            "run_id": "21561244697", "run_attempt": "1", "environment": environment,
            "actor": "octocat", "runner_environment": "github-hosted"}


def gitlab_claims(issuer: Issuer, *, project_path: str = "acme/tools",
                  ci_config_path: str = ".gitlab-ci.yml", ref_path: str = "refs/tags/v1.0",
                  environment: str | None = None, audience: Any = "pypireg") -> dict[str, Any]:
    """Claims as a GitLab (the issuer's) writes them for a job of ``project_path``."""
    from pypireg.oidc import gitlab_host

    sha = "93969f556a29853b507bdcd9dec6b4217a4ea2e7"
    ref = ref_path.rsplit("/", 1)[-1]
    return {"aud": audience, "sub": f"project_path:{project_path}:ref_type:tag:ref:{ref}",
            "namespace_path": project_path.rsplit("/", 1)[0], "project_path": project_path,
            "project_id": "55235664", "pipeline_id": "123", "job_id": "456", "ref": ref,
            "ref_type": "tag", "ref_path": ref_path, "sha": sha,
            "ci_config_ref_uri":
                f"{gitlab_host(issuer.url)}/{project_path}//{ci_config_path}@{ref_path}",
            "ci_config_sha": sha, "environment": environment}
