"""Trusted publishing's rows in the catalog (pypireg/catalog/publishers.py), on each
engine: the publishers a project trusts, and identity tokens accepted once, whichever
process or host is asked."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pypireg
from pypireg.times import stamp


def _in(minutes: float) -> str:
    return stamp(datetime.now(timezone.utc) + timedelta(minutes=minutes))


def test_publishers_are_kept_per_project_and_found_by_issuer(catalog) -> None:
    registry = pypireg.create_app(catalog=catalog)
    registry.create_group("acme", "public")
    tools = registry.create_project("acme/tools", "public")
    docs = registry.create_project("acme/docs", "public")
    first = catalog.add_trusted_publisher(
        tools.id, "github", "https://token.actions.githubusercontent.com",
        {"repository": "acme/tools", "workflow": "release.yml", "environment": ""}, {})
    second = catalog.add_trusted_publisher(
        tools.id, "oidc", "https://buildkite.com",
        {}, {"organization_slug": "acme", "pipeline_slug": "release"})
    third = catalog.add_trusted_publisher(
        docs.id, "github", "https://token.actions.githubusercontent.com",
        {"repository": "acme/docs", "workflow": "docs.yml"}, {})
    assert [p.id for p in catalog.trusted_publishers(tools.id)] == [first.id, second.id]
    assert first.repository == "acme/tools" and first.environment == ""
    assert first.created_at and first.claims == {}
    assert second.claims == {"organization_slug": "acme", "pipeline_slug": "release"}
    assert catalog.trusted_publisher(docs.id, first.id) is None  # another project's
    github = "https://token.actions.githubusercontent.com"
    assert [p.id for p in catalog.publishers_of_issuer(github)] == [first.id, third.id]
    registry.delete_namespace("acme/docs")
    assert [p.id for p in catalog.publishers_of_issuer(github)] == [first.id]
    catalog.delete_trusted_publisher(second)
    assert catalog.trusted_publishers(tools.id) == [first]
    again = catalog.add_trusted_publisher(tools.id, "oidc", "https://buildkite.com", {},
                                          {"pipeline_slug": "release"})
    assert again.id > third.id  # a deleted publisher's id is never given again


def test_an_identity_token_is_accepted_once_until_it_expires(catalog) -> None:
    assert catalog.spend_identity_token("https://issuer|jti:1", _in(5)) is True
    assert catalog.spend_identity_token("https://issuer|jti:1", _in(5)) is False
    assert catalog.spend_identity_token("https://other|jti:1", _in(5)) is True
    assert catalog.spend_identity_token("https://issuer|jti:2", _in(-1)) is True
    # an expired one is forgotten: its token is refused by its own expiry by then
    assert catalog.spend_identity_token("https://issuer|jti:2", _in(5)) is True


def test_two_catalogs_on_one_file_accept_a_token_once(tmp_path) -> None:
    one = pypireg.Catalog(str(tmp_path / "catalog.db"))
    two = pypireg.Catalog(str(tmp_path / "catalog.db"))
    assert one.spend_identity_token("iss|jti:shared", _in(5)) is True
    assert two.spend_identity_token("iss|jti:shared", _in(5)) is False


def test_two_hosts_on_one_postgresql_accept_a_token_once(postgres_server) -> None:
    from pypireg.catalog.postgres import PostgresEngine

    with postgres_server.database(postgres_server.template) as url:
        engines = [PostgresEngine(url, max_connections=2) for _ in range(2)]
        try:
            one, two = (pypireg.Catalog(engine=engine) for engine in engines)
            assert one.spend_identity_token("iss|jti:shared", _in(5)) is True
            assert two.spend_identity_token("iss|jti:shared", _in(5)) is False
        finally:
            for engine in engines:
                engine.close()
