"""The token exchange of pypa/gh-action-pypi-publish (its oidc-exchange.py), step for step:
written from the action's source, as the action runs it before ``twine upload``, with the
same libraries (``id`` for the job's identity token, ``requests`` for the index).

Run with the action's inputs in the environment (``INPUT_REPOSITORY_URL``) and GitHub
Actions' (``GITHUB_ACTIONS``, ``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``_TOKEN``); prints the
upload token, or the reasons the index gave and exits 1, as the action does.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

import id as ambient  # the action's own: detect_credential(audience=...)
import requests


def fail(message: str) -> None:
    print(f"::error::trusted publishing exchange failure: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    url = os.environ.get("INPUT_REPOSITORY_URL") or os.environ.get("INPUT_REPOSITORY-URL", "")
    domain = urlparse(url).netloc  # the host and port of the upload URL, never its path
    answer = requests.get(f"https://{domain}/_/oidc/audience", timeout=60)
    if answer.status_code == 403:
        fail(f"audience retrieval failed: repository at {domain} has trusted publishing"
             " disabled")
    if answer.status_code == 404:
        fail(f"audience retrieval failed: repository at {domain} does not indicate trusted"
             " publishing support")
    if not answer.ok:
        fail(f"audience retrieval failed: {domain} responded with {answer.status_code}")
    try:
        identity = ambient.detect_credential(audience=answer.json()["audience"])
    except ambient.IdentityError as exc:
        fail(f"OpenID Connect token retrieval failed: {exc}")
    # The action exchanges at PyPI's first path, which takes every kind of publisher.
    minted = requests.post(f"https://{domain}/_/oidc/github/mint-token",
                           json={"token": identity}, timeout=60)
    try:
        payload = minted.json()
    except requests.JSONDecodeError:
        fail(f"Token request failed: the index produced an unexpected {minted.status_code}"
             " response")
    if not minted.ok:
        reasons = "\n".join(f"* `{error['code']}`: {error['description']}"
                            for error in payload["errors"])
        fail("Token request failed: the server refused the request for the following"
             f" reasons:\n\n{reasons}")
    token = payload.get("token")
    if token is None:
        fail("Token response error: the index gave us an invalid response")
    print(f"::add-mask::{token}", file=sys.stderr)
    print(token)


if __name__ == "__main__":
    main()
