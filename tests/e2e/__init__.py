"""The end-to-end tests: a live registry driven by real clients and real parts (pip, uv,
twine, a browser, gunicorn, nginx, PostgreSQL); live.py and the other helper modules here
hold what they share."""
