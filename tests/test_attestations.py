"""PEP 740: attestations checked and kept at upload, announced on both page forms, and
served by the Integrity API route; with a real attestation (tests/fixtures/attestations)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from pypi_simple import ProjectPage

import pypireg

from .helpers import Env, basic, sha256

FIXTURES = Path(__file__).parent / "fixtures" / "attestations"
SDIST = "gitlab_oidc_project-0.0.3.tar.gz"
DATA = (FIXTURES / SDIST).read_bytes()
ATTESTATION = json.loads((FIXTURES / f"{SDIST}.publish.attestation").read_text())
V1_JSON = "application/vnd.pypi.simple.v1+json"
INTEGRITY = "application/vnd.pypi.integrity.v1+json"
PAGE = "/projects/acme%2Ftools/packages/pypi/simple/gitlab-oidc-project/"


def upload(env: Env, attestations: object | None, *, project: str = "acme/tools",
           data: bytes = DATA, file_name: str = SDIST):
    fields = {"name": "gitlab-oidc-project", "version": "0.0.3", "sha256_digest": sha256(data)}
    if attestations is not None:
        fields["attestations"] = (attestations if isinstance(attestations, str)
                                  else json.dumps(attestations))
    return env.upload(project, file_name, data, token=env.writer, **fields)


def statement_with(**changes: object) -> dict:
    """The real attestation with its statement changed (its signature no longer fits,
    which pypireg does not check; the shape and subject it does)."""
    attestation = copy.deepcopy(ATTESTATION)
    statement = json.loads(base64.b64decode(attestation["envelope"]["statement"]))
    statement.update(changes)
    attestation["envelope"]["statement"] = base64.b64encode(
        json.dumps(statement).encode()).decode()
    return attestation


def test_an_attested_upload_serves_its_provenance(env: Env) -> None:
    assert upload(env, [ATTESTATION]).status_int == 201
    entry = env.app.get(PAGE, headers={"Accept": V1_JSON}).json["files"][0]
    url = entry["provenance"]
    file_url = entry["url"]
    assert url == file_url + "/provenance"
    assert url.startswith("http://localhost/")  # absolute, as PEP 740 asks
    html = env.app.get(PAGE).text
    assert f'data-provenance="{url}"' in html
    answer = env.app.get(url.removeprefix("http://localhost"))
    assert answer.headers["Content-Type"] == INTEGRITY
    assert answer.json == {"version": 1, "attestation_bundles": [{
        "publisher": {"kind": "GitLab", "repository": "facutuesca/gitlab-oidc-project",
                      "workflow_filepath": ".gitlab-ci.yml", "environment": None},
        "attestations": [ATTESTATION]}]}
    # pypi-simple finds the same URL in both forms.
    base = "http://localhost" + PAGE
    pages = (ProjectPage.from_json_data(env.app.get(PAGE, headers={"Accept": V1_JSON}).json,
                                        base),
             ProjectPage.from_html("gitlab-oidc-project", html, base))
    assert [page.packages[0].provenance_url for page in pages] == [url, url]
    # Content negotiation as PyPI's Integrity API: its own type, JSON or anything.
    path = url.removeprefix("http://localhost")
    for accept in (INTEGRITY, "application/json", "*/*"):
        assert env.app.get(path, headers={"Accept": accept}).status_int == 200
    refused = env.app.get(path, headers={"Accept": "text/html"}, status=406)
    assert INTEGRITY in refused.status  # (an HTML error page: the client asked for HTML)
    again = env.app.get(path, headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_int == 304


def test_a_file_without_attestations_has_no_provenance(env: Env) -> None:
    assert upload(env, None).status_int == 201
    entry = env.app.get(PAGE, headers={"Accept": V1_JSON}).json["files"][0]
    assert entry["provenance"] is None
    assert "data-provenance" not in env.app.get(PAGE).text
    env.app.get(PAGE.replace("simple/gitlab-oidc-project/", "files/")
                + f"{sha256(DATA)}/{SDIST}/provenance", status=404)


@pytest.mark.parametrize(("attestations", "says"), [
    ("[not json", "attestations is not valid JSON"),
    ("{}", "must be a JSON list"),
    ([], "must be a JSON list"),
    ([ATTESTATION] * 17, "more than 16"),
    ([{**ATTESTATION, "version": 2}], "attestation 1 of 1: not an attestation object"),
    ([ATTESTATION, {"version": 1}], "attestation 2 of 2: verification_material is missing"),
    ([{**ATTESTATION, "envelope": {**ATTESTATION["envelope"], "statement": "%%%"}}],
     "envelope.statement is not base64"),
    ([{**ATTESTATION, "envelope": {**ATTESTATION["envelope"], "signature": ""}}],
     "envelope.signature is missing"),
    ([{**ATTESTATION, "verification_material": {
        **ATTESTATION["verification_material"], "transparency_entries": []}}],
     "transparency_entries must be a non-empty list"),
    ([statement_with(_type="https://example.com/other")], "is not an in-toto Statement"),
    ([statement_with(subject=[{"name": "other-1.0.tar.gz",
                               "digest": {"sha256": sha256(DATA)}}])],
     "subject is not this file"),
    ([statement_with(subject=[{"name": SDIST, "digest": {"sha256": "0" * 64}}])],
     "subject is not this file"),
    ([statement_with(subject="everything")], "subject is not this file"),
])
def test_bad_attestations_are_refused_and_nothing_is_stored(env: Env, attestations,
                                                            says) -> None:
    response = upload(env, attestations)
    assert response.status_int == 400
    assert response.json["message"].startswith("400 Bad request - attestations are invalid")
    assert says in response.json["message"]
    env.app.get(PAGE, status=404)


def test_an_attestation_of_another_file_is_refused(env: Env) -> None:
    other = DATA + b"\0"  # not the attested bytes
    response = upload(env, [ATTESTATION], data=other)
    assert response.status_int == 400 and f"with sha256 {sha256(other)}" in response.status


def test_provenance_follows_the_access_rules_and_statuses(env: Env) -> None:
    assert upload(env, [ATTESTATION], project="acme/team/secret").status_int == 201
    page = "/projects/acme%2Fteam%2Fsecret/packages/pypi/simple/gitlab-oidc-project/"
    url = env.app.get(page, headers={"Accept": V1_JSON, **basic(env.reader)}).json[
        "files"][0]["provenance"]
    path = url.removeprefix("http://localhost")
    env.app.get(path, status=401)
    env.app.get(path, headers=basic(env.outsider), status=404)
    assert env.app.get(path, headers=basic(env.reader)).json["version"] == 1
    # The group's pages point at the group's own route.
    group = env.app.get("/groups/acme/-/packages/pypi/simple/gitlab-oidc-project/",
                        headers={"Accept": V1_JSON, **basic(env.reader)}).json
    group_url = group["files"][0]["provenance"]
    assert "/groups/acme/-/packages/pypi/files/" in group_url
    assert env.app.get(group_url.removeprefix("http://localhost"),
                       headers=basic(env.reader)).json["version"] == 1
    env.registry.set_name_status(env.private, "gitlab-oidc-project", "quarantined")
    env.app.get(path, headers=basic(env.reader), status=403)


# -- verified against Sigstore, for configured trusted publishers ---------------------------

SIGNER = {"kind": "GitLab", "repository": "facutuesca/gitlab-oidc-project",
          "workflow_filepath": ".gitlab-ci.yml"}


def verifying(tmp_path, catalog, *publishers: dict) -> Env:
    return Env(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path),
                                  trusted_publishers=list(publishers)))


def test_attestations_verify_as_signed_by_a_trusted_publisher(tmp_path, catalog) -> None:
    other = {"kind": "GitHub", "repository": "acme/tools", "workflow": "release.yml"}
    env = verifying(tmp_path, catalog, other, SIGNER)
    assert upload(env, [ATTESTATION]).status_int == 201
    url = env.app.get(PAGE, headers={"Accept": V1_JSON}).json["files"][0]["provenance"]
    (bundle,) = env.app.get(url.removeprefix("http://localhost")).json["attestation_bundles"]
    assert bundle["publisher"] == {**SIGNER, "environment": None}


def test_attestations_not_signed_by_a_trusted_publisher_are_refused(tmp_path,
                                                                    catalog) -> None:
    env = verifying(tmp_path, catalog, {**SIGNER, "repository": "someone/else"})
    refused = upload(env, [ATTESTATION])
    assert refused.status_int == 400
    assert "not verified as signed by a trusted publisher" in refused.status
    assert "someone/else" in refused.status
    env.app.get(PAGE, status=404)


def test_a_statement_changed_after_signing_is_refused(tmp_path, catalog) -> None:
    env = verifying(tmp_path, catalog, SIGNER)
    tampered = statement_with(predicate={"changed": True})  # subject and shape still fine
    refused = upload(env, [tampered])
    assert refused.status_int == 400 and "not verified" in refused.status
    # Without attestations, an upload is taken as before.
    assert upload(env, None).status_int == 201


@pytest.mark.parametrize(("publishers", "says"), [
    ([{"kind": "Gitea", "repository": "a/b"}], "kind must be one of GitHub, GitLab, Google"),
    ([{"kind": "GitLab", "repository": "a/b"}], "workflow_filepath"),
    ([], "trusted_publishers is empty"),
])
def test_bad_trusted_publishers_are_refused(publishers, says) -> None:
    with pytest.raises(ValueError, match=says):
        pypireg.create_app(trusted_publishers=publishers)


def test_every_simple_page_is_valid_html5(env: Env) -> None:
    """With everything a page can carry: a status and its reason, a yank, provenance."""
    import html5lib

    assert upload(env, [ATTESTATION]).status_int == 201
    env.registry.yank("acme/tools", "gitlab-oidc-project", "0.0.3", reason='a "bad" <build>')
    env.registry.set_name_status(env.public, "gitlab-oidc-project", "deprecated",
                                 reason="use <other> & \"more\"")
    parser = html5lib.HTMLParser(strict=True)
    for path in (PAGE, PAGE.partition("gitlab-oidc-project/")[0],
                 "/groups/acme/-/packages/pypi/simple/gitlab-oidc-project/"):
        page = env.app.get(path).text
        parser.parse(page)  # raises html5lib's ParseError at the first error
        assert "pypi:repository-version" in page
    assert "data-provenance=" in page and "data-yanked=" in page
