"""The defaults the command line needs before it loads the registry: where a registry
lives, how long the server and gc wait, and the spellings of choices. Light on purpose:
``pypireg --help`` and a command's arguments are read from these alone."""

from __future__ import annotations

from datetime import timedelta

DEFAULT_DATA = "./pypireg-data"  # where the command line and pypireg.wsgi look by default
CATALOG = "catalog.db"  # a data directory holds a registry when it holds this file

HEADER_TIMEOUT = 10.0  # seconds for a request's headers (pypireg serve --header-timeout)
BODY_TIMEOUT = 60.0  # seconds a body may send nothing (pypireg serve --body-timeout)
STAGING_MAX_AGE = 24 * 3600  # an upload still staging after a day was abandoned (gc)
MINTED_TOKENS_KEPT = timedelta(days=1)  # gc forgets trusted publishing's tokens past this

UPSTREAM_MODES = ("redirect", "cache")  # docs/proxy.md
UPSTREAM_TTL = timedelta(minutes=10)  # a cached upstream page, before it is revalidated
PAGE_CACHE_SIZE = 64 * 1024 * 1024  # bytes of rendered pages per process
DOWNLOAD_STATS_DAYS = 400  # days of daily download counts kept (gc forgets older ones)
UI_SESSION_LIFETIME = timedelta(hours=12)  # a web page session, from its sign-in
OIDC_AUDIENCE = "pypireg"  # the aud trusted publishing's identity tokens must have
OIDC_TOKEN_LIFETIME = timedelta(minutes=15)  # an upload token minted for a CI job
STAGE_LIFETIME = timedelta(days=7)  # a staged release, from its creation (stages.py)
DELIVERIES_KEPT = timedelta(days=30)  # a webhook delivery that ended, before gc forgets it
METRICS_ALLOW = ("127.0.0.0/8", "::1")  # who may read /-/metrics without its token
EXTERNAL_IMAGES = ("allow", "block")  # README images from other hosts on the web pages
PUSH_LEVELS = ("maintainer", "owner", "admin")  # protection rules' minimum access levels
DELETE_LEVELS = ("owner", "admin")
